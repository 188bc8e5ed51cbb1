"""The leak catalogue's situations behind a real server, for the REST catalog's paths:
the lake, what each situation's principal must never be handed (``Forbidden``), and
the requests it sends (``Rest``).

Besides the situations of ``tests/leak_situations.py`` (one tenant and across tenants),
the lake mounts a producer catalog (a PyIceberg SQL catalog) as ``cdn_prod``, whose
``s.requests`` a principal reads through a row filter ("a mounted table with a row
filter"), and principal ``p0`` holds unfiltered SELECT and INSERT on ``s0.requests``
and SELECT on the mounted table: what the catalog hands out whole, it hands to ``p0``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import region_of
from tests.leak_situations import (
    COLUMNS,
    SITUATIONS,
    TENANT_SITUATIONS,
    Builder,
    Situation,
    batch,
    build,
    cells_of,
    full_row,
)

MOUNT = "cdn_prod"
MOUNTED = f"{MOUNT}.s.requests"
WHOLE = "s0.requests"
"""The table ``p0`` reads whole (and appends to)."""
SCRATCH = "scratch"
"""Where, in the lake whose principals may write, each may create tables of its own."""
MOUNTED_SITUATION = "a mounted table with a row filter"
SEPARATOR = "%1F"
COLUMN_WORDS = re.compile(r"\b(id|region|status|note|cost|area|price)\b")
"""The names every situation's columns have had: a refused answer or a listing names
none of them."""
ERROR_WORDS = {"id"}
"""Column names the words of an answer may hold for another reason."""


@dataclass(frozen=True)
class Rest:
    """The served lake with every situation, the tokens of their principals, and the
    strings that name what a principal must not be handed."""

    served: Served
    situations: dict[str, Situation]
    whole: Credentials
    admin: Credentials
    """An administrator of the server: what the table's owner is answered."""
    producer: SqlCatalog
    forbidden: dict[str, set[str]]
    """By table (dotted, as the administrator names it): its UUID, its location, its
    metadata files' and data files' names: what only whoever is handed the table sees."""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def token(self, who: Credentials) -> str:
        if who.client_id not in self.tokens:
            issued = self.lake.principals.issue_token(who.client_id, who.client_secret)
            self.tokens[who.client_id] = issued.access_token
        return self.tokens[who.client_id]

    def send(
        self,
        who: Credentials,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        **headers: str,
    ) -> requests.Response:
        """``method path`` (below ``/v1``) as ``who``."""
        headers = {"Authorization": f"Bearer {self.token(who)}", **headers}
        return requests.request(
            method, self.served.url(f"/v1{path}"), json=body, headers=headers, timeout=60
        )

    def leaked(self, case: Situation, answer: requests.Response, *, columns: set[str]) -> set[str]:
        """What of the lake's tables ``answer`` (body and headers) shows ``case``'s
        principal that it may not be handed: a cell, a file, a location, a UUID, a
        column name other than ``columns``."""
        shown = answer.text + repr(sorted(answer.headers.items()))
        found = cells_of([shown]) | {
            secret for secrets in self.forbidden.values() for secret in secrets if secret in shown
        }
        words = set(COLUMN_WORDS.findall(answer.text)) - columns - ERROR_WORDS
        return found | {f"column {w}" for w in words}

    def metadata(self, table: str) -> dict[str, Any]:
        """The table's metadata as the REST catalog answers the administrator."""
        answer = self.send(self.admin, "GET", table_path(table))
        assert answer.status_code == 200, answer.text
        metadata: dict[str, Any] = answer.json()["metadata"]
        return metadata

    def metadata_location(self, table: str) -> str:
        """The table's current metadata file, as the administrator sees it."""
        return str(self.iceberg(table).metadata_location)

    def iceberg(self, table: str) -> Table:
        """The table as PyIceberg has it (what a principal once granted it could know)."""
        return iceberg_table(self.lake, self.producer, table)


def iceberg_table(lake: Lake, producer: SqlCatalog, name: str) -> Table:
    """The table as PyIceberg has it: in ``lake``, or in the producer mounted there."""
    if name.startswith(f"{MOUNT}."):
        return producer.load_table(name.removeprefix(f"{MOUNT}."))
    return fixtures_lake.iceberg_table(lake, name)


def table_path(name: str) -> str:
    """A table's path below ``/v1`` (a mounted table's on its mount's prefix)."""
    if name.startswith(f"{MOUNT}."):
        _, namespace, table = name.split(".")
        return f"/{MOUNT}/namespaces/{namespace}/tables/{table}"
    *namespace, table = name.split(".")
    return f"/icehouse/namespaces/{SEPARATOR.join(namespace)}/tables/{table}"


def is_view(case: Situation) -> bool:
    return bool(case.view_reads)


def rest_tables(case: Situation) -> set[str]:
    """The tables (not views, not links: the REST catalog lists neither as tables) the
    principal may describe."""
    kept = {case.table} if is_view(case) or case.link_of else set()
    return set(case.listed) - kept


def rest_views(case: Situation) -> set[str]:
    return {case.table} if is_view(case) else set()


@contextmanager
def served_catalogue(root: Path, *, writes: bool = False) -> Iterator[Rest]:
    """Every situation in a new lake home in ``root``, served; with ``writes``, each
    situation's principal also holds INSERT, DELETE and ALTER on its table, and
    CREATE_TABLE and CREATE_VIEW on namespace ``SCRATCH``."""
    Lake.init(root / "lake")
    with Lake.open(root / "lake") as lake:
        situations = build(lake, SITUATIONS | TENANT_SITUATIONS)
        situations[MOUNTED_SITUATION], producer = _mounted(lake, root / "producer")
        whole = Builder(lake, 0, "p0")
        whole.run("GRANT SELECT, INSERT ON TABLE {t} TO PRINCIPAL {p}")
        lake.sql(f"GRANT SELECT ON TABLE {MOUNTED} TO PRINCIPAL p0")
        if writes:
            lake.namespaces.create((SCRATCH,))
            for case in situations.values():
                _grant_writes(lake, case)
        tables = [*lake.tables.list(), MOUNTED]
        forbidden = {name: _secrets(iceberg_table(lake, producer, name)) for name in tables}
        admin = lake.principals.create("root", admin=True)
        with serving(lake, allow_anonymous=False) as served:
            yield Rest(served, situations, whole.credentials, admin, producer, forbidden)


def _mounted(lake: Lake, folder: Path) -> tuple[Situation, SqlCatalog]:
    """``cdn_prod.s.requests`` (a producer's), read by ``pm`` through its EU rows."""
    folder.mkdir()
    url = f"sqlite:///{folder / 'catalog.db'}"
    producer = SqlCatalog("prod", uri=url, warehouse=(folder / "warehouse").as_uri())
    producer.create_namespace("s")
    ids = range(9001, 9013)
    table = producer.create_table("s.requests", schema=batch(ids).schema)
    table.append(batch(ids))
    lake.catalogs.mount(MOUNT, type="sql", uri=url)
    credentials = lake.principals.create("pm")
    lake.sql(f"CREATE DATA FILTER pm_eu ON {MOUNTED} WHERE region = 'eu'")
    lake.sql("GRANT SELECT ON DATA FILTER pm_eu TO PRINCIPAL pm")
    allowed = [full_row(i) for i in ids if region_of(i) == "eu"]
    situation = Situation(
        principal="pm",
        credentials=credentials,
        table=MOUNTED,
        allowed=allowed,
        cells=cells_of(allowed),
        real=MOUNTED,
        first=table.metadata.snapshots[0].snapshot_id,
        data_file=next(iter(table.inspect.files().to_pylist()))["file_path"],
        listed={MOUNTED: set(COLUMNS)},
        filters=("data filter pm_eu",),
    )
    return situation, producer


def _grant_writes(lake: Lake, case: Situation) -> None:
    """INSERT, DELETE and ALTER on the situation's table, and tables and views of its
    own in ``SCRATCH``."""
    me = Grantee(GranteeKind.PRINCIPAL, case.principal)
    scratch = Securable(SecurableKind.NAMESPACE, SCRATCH)
    lake.governance.grant([Privilege.CREATE_TABLE, Privilege.CREATE_VIEW], scratch, me)
    if case.real.startswith(f"{MOUNT}."):
        return  # a mount is read-only: its commits are refused to anyone
    lake.governance.grant(
        [Privilege.INSERT, Privilege.DELETE, Privilege.ALTER],
        Securable(SecurableKind.TABLE, case.real),
        me,
    )


def _secrets(table: Table) -> set[str]:
    """What names ``table``'s contents: its UUID, location, metadata and data files (by
    their file names, which no answer could show without handing them out)."""
    found = {str(table.metadata.table_uuid), table.metadata.location.removeprefix("file://")}
    found |= {Path(str(table.metadata_location)).name}
    found |= {Path(m.metadata_file).name for m in table.metadata.metadata_log}
    found |= {Path(f["file_path"]).name for f in fixtures_lake.data_files(table)}
    for snapshot in table.metadata.snapshots:
        found.add(Path(snapshot.manifest_list).name)
    return found


def quoted(name: str) -> str:
    return quote(name, safe="")
