"""Governed access benchmark, one section per concern, all in one run.

    python benchmarks/governed.py                      # every section
    python benchmarks/governed.py --sections authz     # the decision only
    ICEHOUSE_STATE_URL=postgresql+psycopg://... python benchmarks/governed.py --sections authz

``authz``: what one authorisation decision costs with a large policy: 10,000 grants
(to 200 principals and 100 nested roles, on namespaces, tables, columns and tag
expressions) and 1,000 tables tagged across 50 namespaces. Timed: the decision from
the in-memory policy (a principal's first, which works out what it holds, and the
next ones), its per-cell table access, reading and indexing the whole policy (what a
change of the policy version costs once), the version check every decision makes,
and a governed ``Lake`` call end to end, beside the same call as the administrator.
The goal: a decision under 1 ms.

A section is a function of the parsed arguments that prints its own table; add one to
``SECTIONS``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402
from icehouse.govern import principals, store  # noqa: E402
from icehouse.govern.authz import Principal  # noqa: E402
from icehouse.govern.objects import (  # noqa: E402
    Grantee,
    GranteeKind,
    Privilege,
    Securable,
    SecurableKind,
)
from icehouse.govern.policy import Policy  # noqa: E402
from icehouse.govern.records import ObjectPath, tag_expression_key  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.state import models  # noqa: E402

GOAL_MS = 1.0
NAMESPACES = 50
TABLES = 1_000
GRANTS = 10_000
PRINCIPALS = 200
ROLES = 100
DEPTS = ("cdn", "billing", "ads", "search", "mail")


def per_call_us(work: Callable[[], object], rounds: int) -> float:
    """Microseconds per call of ``work``, the best of three runs of ``rounds`` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def once_us(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1e6


def best_of(work: Callable[[], object], runs: int = 5) -> float:
    """Microseconds of the fastest of ``runs`` single calls (for the slow, rare steps)."""
    return min(once_us(work) for _ in range(runs))


def table_uuid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


def table_path(i: int) -> ObjectPath:
    namespace = f"ns{i % NAMESPACES}"
    return ObjectPath((namespace,), table_uuid(i), f"{namespace}.t{i}", SecurableKind.TABLE)


def fill_policy(lake: Lake, seed: int) -> None:
    """The large policy, written straight into the state database (as many statements
    would leave it); the lake's real table ``ns0.t0`` stands for table 0."""
    rng = random.Random(seed)
    engine = lake._engine
    for p in range(PRINCIPALS):
        principals.create(engine, f"p{p}", admin=False, kind="user")
    now = time.time()
    tags = [
        {"object_kind": "table", "object_key": table_uuid(t), "field_id": 0, "key": k, "value": v}
        for t in range(TABLES)
        for k, v in (("dept", DEPTS[t % len(DEPTS)]), ("pii", rng.choice(("yes", "no"))))
    ]
    tags += [
        {
            "object_kind": "table",
            "object_key": table_uuid(t),
            "field_id": 3,
            "key": "pii",
            "value": "yes",
        }
        for t in range(0, TABLES, 10)
    ]
    members = [
        {
            "role": f"r{r}",
            "member_kind": "principal",
            "member_name": f"p{(r * 7 + m) % PRINCIPALS}",
            "created_at": now,
        }
        for r in range(ROLES)
        for m in range(5)
    ] + [
        {"role": f"r{r}", "member_kind": "role", "member_name": f"r{r + 1}", "created_at": now}
        for r in range(0, ROLES - 1, 2)
    ]
    grants: dict[tuple[object, ...], dict[str, object]] = {}
    while len(grants) < GRANTS:  # distinct, as the unique constraint wants them
        row = grant_row(len(grants), rng, now)
        grants.setdefault(tuple(v for k, v in row.items() if k != "created_at"), row)
    with engine.begin() as conn:
        conn.execute(
            models.roles.insert(), [{"name": f"r{r}", "created_at": now} for r in range(ROLES)]
        )
        conn.execute(models.role_members.insert(), members)
        conn.execute(
            models.tag_keys.insert(),
            [
                {
                    "key": "dept",
                    "allowed_values": str(list(DEPTS)).replace("'", '"'),
                    "created_at": now,
                },
                {"key": "pii", "allowed_values": '["yes", "no"]', "created_at": now},
            ],
        )
        conn.execute(models.tag_assignments.insert(), tags)
        conn.execute(models.grants.insert(), list(grants.values()))
        conn.execute(
            models.policy_version.update().values(version=models.policy_version.c.version + 1)
        )


def grant_row(i: int, rng: random.Random, now: float) -> dict[str, object]:
    """One of the 10,000 grants: a table, a column, a namespace or a tag expression,
    to a principal or a role."""
    kind = (
        ("principal", f"p{rng.randrange(PRINCIPALS)}")
        if i % 2
        else ("role", f"r{rng.randrange(ROLES)}")
    )
    choice = i % 10
    if choice < 5:
        securable = ("table", table_uuid(rng.randrange(TABLES)), 0)
    elif choice < 8:
        securable = ("column", table_uuid(rng.randrange(TABLES)), rng.randrange(1, 6))
    elif choice < 9:
        securable = ("namespace", f"ns{rng.randrange(NAMESPACES)}", 0)
    else:
        expression = (("dept", (rng.choice(DEPTS),)), ("pii", ("no",)))
        securable = ("tag", tag_expression_key(expression), 0)
    return {
        "grantee_kind": kind[0],
        "grantee_name": kind[1],
        "privilege": Privilege.SELECT.value if i % 3 else Privilege.DESCRIBE.value,
        "securable_kind": securable[0],
        "securable_key": securable[1],
        "field_id": securable[2],
        "with_grant_option": 0,
        "granted_by": "owner",
        "via": None,
        "created_at": now,
    }


def authz(args: argparse.Namespace) -> None:
    """The decision with 10,000 grants and 1,000 tagged tables (see the docstring)."""
    with tempfile.TemporaryDirectory(prefix="icehouse-governed-") as work:
        home = Path(work) / "lake"
        Lake.init(home)
        with Lake.open(home) as lake:
            lake.namespaces.create(("ns0",))
            lake.tables.create(
                "ns0.t0", schema={"id": "long", "region": "string", "secret": "string"}
            )
            fill_policy(lake, args.seed)
            rows = measure(lake, args.rounds)
    table_print(["step", "µs per call"], [[name, f"{us:,.1f}"] for name, us in rows])
    timings = dict(rows)
    decision = timings["decision, warm (Policy.holds, tag grant)"]
    verdict = "under" if decision / 1000 < GOAL_MS else "OVER"
    print(
        f"\n{GRANTS:,} grants, {TABLES:,} tagged tables: a decision costs {decision:,.1f} µs "
        f"({verdict} the {GOAL_MS:g} ms goal); a governed call adds the version check "
        f"({timings['policy version check (one SELECT)']:,.0f} µs) and the table's lookup"
    )


def measure(lake: Lake, rounds: int) -> list[tuple[str, float]]:
    engine = lake._engine
    policy = store.read_policy(engine)
    member = most_connected(policy)
    paths = [table_path(i) for i in range(TABLES)]
    cursor = iter(range(10**9))

    def decide() -> bool:
        path = paths[next(cursor) % TABLES]
        return policy.holds(member, Privilege.SELECT, path) or policy.may_describe(member, path)

    read = store.read_rows(engine)
    cold = Policy(read)
    rows = [
        ("read every governance row", best_of(lambda: store.read_rows(engine))),
        ("index them into a Policy", best_of(lambda: Policy(read))),
        (
            "decision, a principal's first (works out its holdings)",
            once_us(lambda: cold.holds(member, Privilege.SELECT, paths[1])),
        ),
        ("decision, warm (Policy.holds, tag grant)", per_call_us(decide, rounds)),
        (
            "table access, warm (Policy.table_access)",
            per_call_us(
                lambda: policy.table_access(member, paths[next(cursor) % TABLES], range(1, 6)),
                rounds,
            ),
        ),
        (
            "policy version check (one SELECT)",
            per_call_us(lambda: store.read_version(engine), rounds),
        ),
    ]
    governed = lake.as_principal(Principal(member, admin=False))
    admin = lake.as_principal(Principal("ops", admin=True))
    lake.governance.grant(
        [Privilege.SELECT],
        Securable(SecurableKind.TABLE, "ns0.t0"),
        Grantee(GranteeKind.PRINCIPAL, member),
    )
    governed.table_access("ns0.t0")  # the policy read at its new version, once
    rows += [
        (
            "lake.table_access, administrator",
            per_call_us(lambda: admin.table_access("ns0.t0"), rounds // 10),
        ),
        (
            "lake.table_access, governed principal",
            per_call_us(lambda: governed.table_access("ns0.t0"), rounds // 10),
        ),
    ]
    return rows


def most_connected(policy: Policy) -> str:
    """The principal in the most roles: the slowest to decide for."""
    counts = {
        f"p{p}": len(policy.roles_of(Grantee(GranteeKind.PRINCIPAL, f"p{p}")))
        for p in range(PRINCIPALS)
    }
    return max(counts, key=lambda name: counts[name])


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"authz": authz}
"""Section name → the function that runs and prints it, in the order they run."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, of: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    if os.environ.get("ICEHOUSE_STATE_URL"):
        print(f"state database: {os.environ['ICEHOUSE_STATE_URL'].split('@')[-1]}")
    for name in wanted:
        print(f"\n== {name} ==\n")
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
