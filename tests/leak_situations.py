"""The leak catalogue's situations, set up with real statements on one real lake.

Each situation has a namespace of its own (``s<k>``) holding ``requests`` (partitioned
by region), a principal of its own, and rows of its own (ids ``100k+1`` to ``100k+12``),
so that all of them live in one lake home behind one server, and a cell value of one
situation (``note-307``) can never pass for an allowed cell of another. Every grant,
filter, tag, role and revocation is an administrator's statement through ``lake.sql``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from icehouse.errors import IcehouseError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake
from tests.governed_fixtures import SCHEMA, markers, region_of, status_of
from tests.test_query_deletes import append_rows

COLUMNS = ("id", "region", "status", "note", "cost")


@dataclass
class Situation:
    """What one principal must and must not see in one situation."""

    principal: str
    credentials: Credentials
    table: str
    """The name the principal queries."""
    allowed: list[dict[str, Any]] | None
    """``allowed_sql``'s rows as the principal must see them; None: the table is not
    found or not permitted."""
    cells: set[str]
    """The cell values (``note-107``) the principal may see anywhere."""
    real: str
    """The table holding the data, as the administrator names it."""
    first: int
    """The table's first snapshot (time travel to before any change)."""
    data_file: str
    """A data file of the table (local path)."""
    hidden_columns: tuple[str, ...] = ()
    """Column names (current) that no result may show."""
    others: tuple[str, ...] = ()
    """Other names of the same data the principal may not read (the table behind a
    view, a table's old name)."""
    listed: dict[str, set[str]] = field(default_factory=dict)
    """What the principal may DESCRIBE: table or view -> the columns it lists."""
    allowed_sql: str = "SELECT * FROM {t} ORDER BY id"
    filters: tuple[str, ...] = ()
    """What the audit trail says a read of ``table`` went through (data filters, column
    grants, tags), sorted; a view's read names none (``view_reads`` has its definer's)."""
    view_reads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """For a view: each table it reads with its definer's rights, and what the audit
    trail says that read went through."""
    link_of: str | None = None
    """For a resource link: the table it stands for, which the audit trail names."""


def batch(ids: Iterable[int]) -> pa.Table:
    ids = list(ids)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "region": [region_of(i) for i in ids],
            "status": pa.array([status_of(i) for i in ids], pa.int64()),
            "note": [f"note-{i}" for i in ids],
            "cost": [f"cost-{i}" for i in ids],
        }
    )


def full_row(i: int, columns: tuple[str, ...] = COLUMNS, **shown: bool) -> dict[str, Any]:
    values = {
        "id": i,
        "region": region_of(i),
        "status": status_of(i),
        "note": f"note-{i}",
        "cost": f"cost-{i}",
    }
    return {c: values[c] if shown.get(c, True) else None for c in columns}


def cells_of(rows: list[dict[str, Any]]) -> set[str]:
    return markers(str(rows))


class Builder:
    """One situation being set up: its namespace, table, rows and principal."""

    def __init__(self, lake: Lake, k: int, slug: str, *, tenant: str | None = None) -> None:
        """``tenant``: the tenant the principal belongs to (made here; None: the
        server's own principal)."""
        self.lake = lake
        self.namespace = f"s{k}"
        self.table = f"s{k}.requests"
        self.ids = range(100 * k + 1, 100 * k + 13)
        self.principal = slug
        self.tenant = tenant
        self.filtered = False
        """Whether data filter ``<p>_eu`` was made (``share``)."""
        lake.namespaces.create((self.namespace,))
        lake.tables.create(self.table, schema=SCHEMA, partition=["region"])
        append_rows(lake, self.table, batch(self.ids))
        iceberg = fixtures_lake.iceberg_table(lake, self.table)
        self.first = iceberg.metadata.snapshots[0].snapshot_id
        self.data_file = str(fixtures_lake.data_files(iceberg)[0]["file_path"])
        if tenant is None:
            self.credentials = lake.principals.create(slug)
        else:
            lake.sql(f"CREATE TENANT {tenant}")
            self.credentials = lake.tenants.create_principal(tenant, slug, kind="user")

    def run(self, *statements: str) -> None:
        """Run ``statements`` as the administrator (``{t}``: the table, ``{p}``: the
        principal, ``{ns}``: the namespace, ``{r}``: a role of the situation's own)."""
        for statement in statements:
            self.lake.sql(
                statement.format(
                    t=self.table, p=self.principal, ns=self.namespace, r=f"{self.principal}_r"
                )
            )

    def as_principal(self, name: str | None = None, tenant: str | None = None) -> Lake:
        """The lake as the situation's principal, or as principal ``name`` of
        ``tenant`` (None: the situation's own tenant)."""
        if name is None:
            return self.lake.as_principal(
                Principal(self.principal, admin=False, tenant=self.tenant)
            )
        member = Principal(name, admin=False, kind="user", tenant=tenant or self.tenant)
        return self.lake.as_principal(member)

    def tenant_admin(self, tenant: str) -> Lake:
        """A new administrator of ``tenant`` (``<tenant>_admin``), as a lake."""
        name = f"{tenant}_admin"
        self.lake.tenants.create_principal(tenant, name, kind="user")
        self.lake.sql(f"GRANT ADMIN ON TENANT {tenant} TO PRINCIPAL {name}")
        return self.as_principal(name, tenant)

    def share(self, tenant: str, *, option: bool = True) -> None:
        """Share the EU rows without ``cost`` (data filter ``<p>_eu``, made once) with
        ``tenant``, with grant option unless ``option`` is False."""
        if not self.filtered:
            self.run(
                "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu' EXCLUDING COLUMNS (cost)"
            )
            self.filtered = True
        with_option = " WITH GRANT OPTION" if option else ""
        self.run(f"GRANT SELECT ON DATA FILTER {{p}}_eu TO TENANT {tenant}{with_option}")

    def rows(
        self, keep: Callable[[int], bool] = lambda i: True, **shown: bool
    ) -> list[dict[str, Any]]:
        columns = tuple(c for c in COLUMNS if shown.get(c, True))
        return [full_row(i, columns) for i in self.ids if keep(i)]

    def situation(
        self,
        allowed: list[dict[str, Any]] | None,
        *,
        table: str | None = None,
        also: Collection[str] = (),
        **more: Any,
    ) -> Situation:
        """``also``: cells the principal may see besides those of ``allowed``."""
        name = table or self.table
        return Situation(
            principal=self.principal,
            credentials=self.credentials,
            table=name,
            allowed=allowed,
            cells=cells_of(allowed or []) | set(also),
            real=more.pop("real", self.table),
            first=self.first,
            data_file=self.data_file,
            **more,
        )


def eu(i: int) -> bool:
    return region_of(i) == "eu"


SHOWN = ("id", "region", "status", "note")


def no_grant(b: Builder) -> Situation:
    return b.situation(None)


def column_excluded(b: Builder) -> Situation:
    b.run(
        "CREATE ROLE {r}",
        "GRANT ROLE {r} TO PRINCIPAL {p}",
        "GRANT SELECT ON TABLE {t} (id, region, status, note) TO ROLE {r}",
    )
    return b.situation(
        b.rows(cost=False),
        hidden_columns=("cost",),
        listed={b.table: set(SHOWN)},
        filters=(f"columns of {b.table}",),
    )


def row_filter(b: Builder) -> Situation:
    b.run(
        "CREATE ROLE {r}",
        "GRANT ROLE {r} TO PRINCIPAL {p}",
        "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu'",
        "GRANT SELECT ON DATA FILTER {p}_eu TO ROLE {r}",
    )
    return b.situation(
        b.rows(eu), listed={b.table: set(COLUMNS)}, filters=(f"data filter {b.principal}_eu",)
    )


def two_filters(b: Builder) -> Situation:
    """Filter A shows the EU rows' notes, filter B the 500s' costs: an EU row that is
    not a 500 shows no cost, and a 500 outside the EU no note (nor region)."""
    b.run(
        "CREATE ROLE {r}",
        "GRANT ROLE {r} TO PRINCIPAL {p}",
        "CREATE DATA FILTER {p}_a ON {t} WHERE region = 'eu' COLUMNS (id, region, note)",
        "CREATE DATA FILTER {p}_b ON {t} WHERE status = 500 COLUMNS (id, cost)",
        "GRANT SELECT ON DATA FILTER {p}_a TO ROLE {r}",
        "GRANT SELECT ON DATA FILTER {p}_b TO ROLE {r}",
    )
    columns = ("id", "region", "note", "cost")
    allowed = [
        full_row(i, columns, region=eu(i), note=eu(i), cost=status_of(i) == 500)
        for i in b.ids
        if eu(i) or status_of(i) == 500
    ]
    assert any(row["note"] and row["cost"] is None for row in allowed)
    assert any(row["cost"] and row["note"] is None for row in allowed)
    return b.situation(
        allowed,
        hidden_columns=("status",),
        listed={b.table: set(columns)},
        filters=(f"data filter {b.principal}_a", f"data filter {b.principal}_b"),
    )


def grant_revoked(b: Builder) -> Situation:
    b.run("GRANT SELECT ON TABLE {t} TO PRINCIPAL {p}")
    assert b.as_principal().sql(f"SELECT count(*) AS n FROM {b.table}").to_pylist() == [{"n": 12}]
    b.run("REVOKE SELECT ON TABLE {t} FROM PRINCIPAL {p}")
    return b.situation(None)


def tag_changed(b: Builder) -> Situation:
    """Granted on the tag the table and its columns carry; then the cost column is
    tagged otherwise: it is gone at once."""
    b.run(
        "CREATE TAG {p}_level VALUES ('public', 'secret')",
        "ALTER TABLE {t} SET TAG {p}_level = 'public'",
        "GRANT SELECT ON TAG {p}_level = 'public' TO PRINCIPAL {p}",
    )
    before = b.as_principal().sql(f"SELECT cost FROM {b.table}").column("cost").to_pylist()
    assert len(before) == 12
    b.run("ALTER TABLE {t} ALTER COLUMN cost SET TAG {p}_level = 'secret'")
    return b.situation(
        b.rows(cost=False),
        hidden_columns=("cost",),
        listed={b.table: set(SHOWN)},
        filters=(f"tag {b.principal}_level IN ('public')",),
    )


def membership_removed(b: Builder) -> Situation:
    b.run(
        "CREATE ROLE {r}",
        "GRANT ROLE {r} TO PRINCIPAL {p}",
        "GRANT SELECT ON TABLE {t} TO ROLE {r}",
    )
    assert b.as_principal().sql(f"SELECT count(*) AS n FROM {b.table}").to_pylist() == [{"n": 12}]
    b.run("REVOKE ROLE {r} FROM PRINCIPAL {p}")
    return b.situation(None)


def table_renamed(b: Builder) -> Situation:
    b.run(
        "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu'",
        "GRANT SELECT ON DATA FILTER {p}_eu TO PRINCIPAL {p}",
    )
    renamed = f"{b.namespace}.renamed"
    b.lake.tables.rename(b.table, renamed)
    return b.situation(
        b.rows(eu),
        table=renamed,
        real=renamed,
        others=(b.table,),
        listed={renamed: set(COLUMNS)},
        filters=(f"data filter {b.principal}_eu",),
    )


def column_renamed(b: Builder) -> Situation:
    """The filter and its column list were made before another client renamed region
    to area and cost to price: they follow the field ids."""
    b.run(
        "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu' EXCLUDING COLUMNS (cost)",
        "GRANT SELECT ON DATA FILTER {p}_eu TO PRINCIPAL {p}",
    )
    with fixtures_lake.iceberg_table(b.lake, b.table).update_schema() as update:
        update.rename_column("region", "area")
        update.rename_column("cost", "price")
    allowed = [
        {"id": i, "area": "eu", "status": status_of(i), "note": f"note-{i}"} for i in b.ids if eu(i)
    ]
    return b.situation(
        allowed,
        hidden_columns=("price",),
        listed={b.table: {"id", "area", "status", "note"}},
        filters=(f"data filter {b.principal}_eu",),
    )


def time_travel(b: Builder) -> Situation:
    """The filter is granted after the first snapshot, rows are added after it: the
    first snapshot reads through it too."""
    b.run(
        "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu'",
        "GRANT SELECT ON DATA FILTER {p}_eu TO PRINCIPAL {p}",
    )
    later = range(b.ids[-1] + 1, b.ids[-1] + 13)
    append_rows(b.lake, b.table, batch(later))
    return b.situation(
        b.rows(eu),
        also=cells_of([full_row(i) for i in later if eu(i)]),
        listed={b.table: set(COLUMNS)},
        allowed_sql=f"SELECT * FROM {{t}} FOR VERSION AS OF {b.first} ORDER BY id",
        filters=(f"data filter {b.principal}_eu",),
    )


def view_over_filter(b: Builder) -> Situation:
    """``eu_view`` is defined by a principal who reads the EU rows with grant option;
    the situation's principal may read the view, not the table."""
    definer = f"{b.principal}_definer"
    b.lake.principals.create(definer)
    b.run(
        "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu'",
        f"GRANT SELECT ON DATA FILTER {{p}}_eu TO PRINCIPAL {definer} WITH GRANT OPTION",
        f"GRANT CREATE_VIEW ON NAMESPACE {{ns}} TO PRINCIPAL {definer}",
    )
    lake = b.lake.as_principal(Principal(definer, admin=False))
    lake.views.create_from_sql((b.namespace,), "eu_view", f"SELECT * FROM {b.table}")
    view = f"{b.namespace}.eu_view"
    lake.sql(f"GRANT SELECT ON VIEW {view} TO PRINCIPAL {b.principal}")
    return b.situation(
        b.rows(eu),
        table=view,
        others=(b.table,),
        listed={view: set(COLUMNS)},
        view_reads={b.table: (f"data filter {b.principal}_eu",)},
    )


def link_not_granted(b: Builder) -> Situation:
    """A link to a table the principal holds no grant on: the link grants nothing."""
    link = f"{b.namespace}.linked"
    b.run(f"CREATE LINK {link} FOR {{t}}")
    return b.situation(None, table=link, others=(b.table,), link_of=b.table)


def link_to_filtered(b: Builder) -> Situation:
    """A link to a table the principal reads through a row filter: the link shows
    what the filter shows, and no more."""
    link = f"{b.namespace}.linked"
    b.run(
        "CREATE DATA FILTER {p}_eu ON {t} WHERE region = 'eu'",
        "GRANT SELECT ON DATA FILTER {p}_eu TO PRINCIPAL {p}",
        f"CREATE LINK {link} FOR {{t}}",
    )
    return b.situation(
        b.rows(eu),
        table=link,
        listed={b.table: set(COLUMNS), link: set(COLUMNS)},
        filters=(f"data filter {b.principal}_eu",),
        link_of=b.table,
    )


SITUATIONS: dict[str, Callable[[Builder], Situation]] = {
    "no grant": no_grant,
    "column excluded": column_excluded,
    "row filter": row_filter,
    "two filters on one table": two_filters,
    "grant revoked": grant_revoked,
    "tag changed after grant": tag_changed,
    "role membership removed": membership_removed,
    "table renamed": table_renamed,
    "column renamed": column_renamed,
    "time travel": time_travel,
    "view over a filtered table": view_over_filter,
    "link to a table not granted": link_not_granted,
    "link to a filtered table": link_to_filtered,
}


def refused(lake: Lake, statement: str) -> str:
    """What ``statement``, which ``lake``'s principal may not run, was refused with."""
    with pytest.raises(IcehouseError) as raised:
        lake.sql(statement)
    return raised.value.message


def share_before_re_grant(b: Builder) -> Situation:
    """The principal's tenant holds the share, and another tenant holds it re-granted to
    its analyst; the principal's own administrator has not re-granted it yet."""
    other = f"{b.tenant}_other"
    b.lake.sql(f"CREATE TENANT {other}")
    b.share(b.tenant or "")
    b.share(other)
    admin = b.tenant_admin(other)
    admin.tenants.create_principal(other, f"{other}_analyst", kind="user")
    admin.sql(f"GRANT SELECT ON DATA FILTER {b.principal}_eu TO PRINCIPAL {other}_analyst")
    return b.situation(None)


def re_grant_beyond_option(b: Builder) -> Situation:
    """Its administrator holds the EU rows with grant option and ``<p>_us`` without:
    re-granting the whole table, a privilege it was not shared, or the filter it holds
    without grant option is refused; the EU rows reach the principal through its role."""
    tenant = b.tenant or ""
    b.share(tenant)
    b.run("CREATE DATA FILTER {p}_us ON {t} WHERE region = 'us'")
    b.run(f"GRANT SELECT ON DATA FILTER {{p}}_us TO TENANT {tenant}")
    admin = b.tenant_admin(tenant)
    admin.sql(f"CREATE ROLE {b.principal}_r")
    admin.sql(f"GRANT ROLE {b.principal}_r TO PRINCIPAL {b.principal}")
    for beyond in (
        "GRANT SELECT ON TABLE {t} TO ROLE {r}",
        "GRANT INSERT ON TABLE {t} TO ROLE {r}",
        "GRANT SELECT ON DATA FILTER {p}_us TO ROLE {r}",
    ):
        statement = beyond.format(t=b.table, p=b.principal, r=f"{b.principal}_r")
        assert "may not grant" in refused(admin, statement), statement
    admin.sql(f"GRANT SELECT ON DATA FILTER {b.principal}_eu TO ROLE {b.principal}_r")
    return b.situation(
        b.rows(eu, cost=False),
        hidden_columns=("cost",),
        listed={b.table: set(SHOWN)},
        filters=(f"data filter {b.principal}_eu",),
    )


def re_grant_after_revoke(b: Builder) -> Situation:
    """Re-granted to the principal, read, then the share is revoked: the re-grant went
    with it, and the tenant's administrator cannot make it again."""
    tenant = b.tenant or ""
    b.share(tenant)
    admin = b.tenant_admin(tenant)
    re_grant = f"GRANT SELECT ON DATA FILTER {b.principal}_eu TO PRINCIPAL {b.principal}"
    admin.sql(re_grant)
    assert b.as_principal().sql(f"SELECT count(*) AS n FROM {b.table}").to_pylist() == [{"n": 4}]
    b.run(f"REVOKE SELECT ON DATA FILTER {{p}}_eu FROM TENANT {tenant}")
    assert "not found or not permitted" in refused(admin, re_grant)
    return b.situation(None)


def other_tenants_objects(b: Builder) -> Situation:
    """Another tenant holds the whole table, re-granted to its role, and links it into
    its namespace: the principal (of a tenant holding nothing) sees none of it."""
    other = f"{b.tenant}_other"
    b.lake.sql(f"CREATE TENANT {other}")
    b.run(f"GRANT SELECT ON TABLE {{t}} TO TENANT {other} WITH GRANT OPTION")
    admin = b.tenant_admin(other)
    admin.tenants.create_principal(other, f"{other}_analyst", kind="user")
    admin.sql(f"CREATE ROLE {other}_r")
    admin.sql(f"GRANT ROLE {other}_r TO PRINCIPAL {other}_analyst")
    admin.sql(f"GRANT SELECT ON TABLE {b.table} TO ROLE {other}_r")
    link = f"{b.namespace}.theirs"
    b.run(f"GRANT CREATE TABLE ON NAMESPACE {{ns}} TO PRINCIPAL {other}_admin")
    admin.sql(f"CREATE LINK {link} FOR {b.table}")
    return b.situation(None, others=(link,))


TENANT_SITUATIONS: dict[str, Callable[[Builder], Situation]] = {
    "another tenant's share before the re-grant": share_before_re_grant,
    "a re-grant beyond the grant option": re_grant_beyond_option,
    "a re-grant after the share was revoked": re_grant_after_revoke,
    "another tenant's objects": other_tenants_objects,
}
"""Situations across tenants: the principal belongs to a tenant of its own
(``t<k>``)."""


def build(
    lake: Lake, situations: dict[str, Callable[[Builder], Situation]] = SITUATIONS
) -> dict[str, Situation]:
    """Each of ``situations`` (default: those of one tenant), set up in ``lake`` (an
    administrator's); those of ``TENANT_SITUATIONS`` with their principal in a tenant."""
    return {
        name: make(Builder(lake, k, f"p{k}", tenant=f"t{k}" if make in _ACROSS else None))
        for k, (name, make) in enumerate(situations.items(), start=1)
    }


_ACROSS = set(TENANT_SITUATIONS.values())


REFUSED = True
ESCAPES: dict[str, tuple[str, bool]] = {
    "the table": ("SELECT * FROM {t}", False),
    "a hidden column by name": ("SELECT cost, price, status FROM {t}", False),
    "rows outside the filter": ("SELECT * FROM {t} WHERE id > 0 OR region <> 'eu'", False),
    "a WHERE on a hidden cell": ("SELECT id FROM {t} WHERE cost LIKE 'cost-%'", False),
    "a self-join": ("SELECT a.*, b.* FROM {t} a JOIN {t} b ON a.id = b.id", False),
    "the registered object": ("SELECT * FROM {t}, {registered}", False),
    "query_table": ("SELECT * FROM query_table('{t}')", False),
    "the other name": ("SELECT * FROM {other}", False),
    "read_parquet of a data file": ("SELECT * FROM read_parquet('{file}')", REFUSED),
    "a data file as a table": ("SELECT * FROM '{file}'", REFUSED),
    "read_text of a data file": ("SELECT * FROM read_text('{file}')", REFUSED),
    "glob": ("SELECT * FROM glob('{warehouse}/**')", REFUSED),
    "read_csv of /etc/passwd": ("SELECT * FROM read_csv('/etc/passwd')", REFUSED),
    "ATTACH the state database": ("ATTACH '{state}' AS state", REFUSED),
    "COPY TO": ("COPY (SELECT * FROM {t}) TO '{out}'", REFUSED),
    "INSTALL": ("INSTALL httpfs", REFUSED),
    "LOAD": ("LOAD parquet", REFUSED),
    "SET": ("SET enable_external_access = true", REFUSED),
    "RESET": ("RESET lock_configuration", REFUSED),
    "PRAGMA": ("PRAGMA threads = 1", REFUSED),
    "two statements": ("SELECT 1; SELECT * FROM read_parquet('{file}')", REFUSED),
    "a Python variable": ("SELECT * FROM secret_rows", REFUSED),
    "information_schema.columns": ("SELECT * FROM information_schema.columns", False),
    "information_schema.tables": ("SELECT * FROM information_schema.tables", False),
    "SHOW TABLES": ("SHOW TABLES", False),
    "SHOW ALL TABLES": ("SHOW ALL TABLES", False),
    "duckdb_tables()": ("SELECT * FROM duckdb_tables()", False),
    "duckdb_views()": ("SELECT * FROM duckdb_views()", False),
    "duckdb_columns()": ("SELECT * FROM duckdb_columns()", False),
    "DESCRIBE": ("DESCRIBE {t}", False),
    "time travel to the first snapshot": ("SELECT * FROM {t} FOR VERSION AS OF {first}", False),
    "DELETE": ("DELETE FROM {t} WHERE id > 0", REFUSED),
}


"""Each escape's SQL (``fill`` completes it) and whether it must be refused outright;
the others may run, showing only what the situation allows."""

TRANSPORT_ESCAPES = {
    "the table",
    "a hidden column by name",
    "the other name",
    "read_parquet of a data file",
    "COPY TO",
    "two statements",
    "information_schema.columns",
    "time travel to the first snapshot",
    "DELETE",
}
"""One escape of each kind of answer: rows, a refusal before reading, DuckDB's refusal,
a listing, time travel, a DELETE."""


def fill(template: str, case: Situation, lake: Lake, scratch: Path) -> str:
    """An escape's SQL for ``case``, in ``lake`` (its files, its state database);
    ``scratch``: a directory where COPY ... TO would write."""
    namespace, name = case.table.split(".")
    return template.format(
        t=case.table,
        registered=f"__icehouse_{namespace}_{name}",
        other=case.others[0] if case.others else f"{namespace}.nothing",
        file=case.data_file.removeprefix("file://"),
        warehouse=lake.warehouse.removeprefix("file://"),
        state=lake.home / "state.db",
        out=scratch / "out.csv",
        first=case.first,
    )
