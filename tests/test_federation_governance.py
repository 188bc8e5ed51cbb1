"""Grants, tags and data filters on mounted tables: kept in the central state database,
keyed by the mount and the producer table's UUID, and enforced on a governed
principal's SQL exactly as on a local table's (the central server reads the producer's
files; the principal gets only the rows and cells its grants show)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from icehouse.cli.shell import Shell, Statement
from icehouse.errors import Forbidden, QueryError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_federation import sql_producer
from tests.test_audit import pending

home, lake = fixtures_lake.home, fixtures_lake.lake
rows_of = fixtures_lake.rows_of

COUNTRIES = "SELECT id, country FROM cdn_prod.cdn.requests ORDER BY id"


@pytest.fixture
def mounted(lake: Lake, tmp_path: Path) -> Lake:
    """The central lake with a producer mounted as ``cdn_prod`` and a principal ``ana``
    that holds nothing yet."""
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    lake.principals.create("ana")
    return lake


def ana(lake: Lake) -> Lake:
    return lake.as_principal(Principal("ana", admin=False))


def test_a_grant_on_a_mounted_table_lets_a_principal_read_it(mounted: Lake) -> None:
    mounted.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")

    assert rows_of(ana(mounted), COUNTRIES) == [
        {"id": 1, "country": "fr"},
        {"id": 2, "country": "de"},
        {"id": 3, "country": "us"},
    ]
    shown = mounted.governance.show_grants()
    assert [(str(g.grantee), str(g.on)) for g in shown] == [
        ("principal ana", "table cdn_prod.cdn.requests")
    ]


def test_a_data_filter_on_a_mounted_table_keeps_its_rows_and_columns(mounted: Lake) -> None:
    mounted.sql(
        "CREATE DATA FILTER eu ON cdn_prod.cdn.requests WHERE country IN ('fr', 'de') COLUMNS (id)"
    )
    mounted.sql("GRANT SELECT ON DATA FILTER eu TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SELECT * FROM cdn_prod.cdn.requests ORDER BY id") == [
        {"id": 1},
        {"id": 2},
    ]
    assert rows_of(
        ana(mounted), "SELECT count(*) AS n FROM cdn_prod.cdn.requests WHERE id > 1"
    ) == [{"n": 1}]


def test_a_grant_on_the_mount_covers_its_tables_and_nothing_local(mounted: Lake) -> None:
    mounted.tables.create("web.hits", schema={"id": "long"})
    mounted.sql("GRANT SELECT ON CATALOG cdn_prod TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SELECT count(*) AS n FROM cdn_prod.cdn.requests") == [{"n": 3}]
    with pytest.raises(QueryError) as refused:
        ana(mounted).sql("SELECT * FROM web.hits")
    assert "web.hits not found or not permitted" in refused.value.message
    shown = mounted.governance.show_grants()
    assert [str(g.on) for g in shown] == ["catalog cdn_prod"]


def test_a_mounted_table_without_a_grant_is_not_found_or_not_permitted(mounted: Lake) -> None:
    with pytest.raises(QueryError) as refused:
        ana(mounted).sql(COUNTRIES)

    assert refused.value.message == "table cdn_prod.cdn.requests not found or not permitted"


def test_the_same_table_mounted_under_another_name_does_not_inherit_grants(
    mounted: Lake, tmp_path: Path
) -> None:
    mounted.catalogs.mount(
        "cdn_copy", type="sql", uri=f"sqlite:///{tmp_path / 'producer' / 'catalog.db'}"
    )
    mounted.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SELECT count(*) AS n FROM cdn_prod.cdn.requests") == [{"n": 3}]
    with pytest.raises(QueryError) as refused:
        ana(mounted).sql("SELECT count(*) AS n FROM cdn_copy.cdn.requests")
    assert "cdn_copy.cdn.requests not found or not permitted" in refused.value.message


def test_a_principal_lists_the_mounts_and_tables_it_holds_something_in(
    mounted: Lake, tmp_path: Path
) -> None:
    mounted.catalogs.mount(
        "cdn_copy", type="sql", uri=f"sqlite:///{tmp_path / 'producer' / 'catalog.db'}"
    )
    assert ana(mounted).catalogs.list() == []

    mounted.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")

    analyst = ana(mounted)
    assert [m.name for m in analyst.catalogs.list()] == ["cdn_prod"]
    assert analyst.catalogs.namespaces("cdn_prod") == [("cdn",)]
    assert analyst.catalogs.namespace_tables("cdn_prod", ("cdn",)) == ["requests"]
    assert analyst.catalogs.namespaces("cdn_copy") == []


def test_a_tag_grant_covers_a_tagged_mounted_table(mounted: Lake) -> None:
    mounted.sql("CREATE TAG domain VALUES ('cdn', 'billing')")
    mounted.sql("ALTER TABLE cdn_prod.cdn.requests SET TAG domain = 'cdn'")
    mounted.sql("GRANT SELECT ON TAG domain = 'cdn' TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SELECT count(*) AS n FROM cdn_prod.cdn.requests") == [{"n": 3}]


def test_a_grant_a_principal_made_on_a_mounted_table_outlives_a_revoke_elsewhere(
    mounted: Lake,
) -> None:
    """A revoke checks every grant made through a grant option again, locating its
    object: a mounted table is looked for in its producer, never in the local catalog
    (where its UUID is unknown and the grant would look orphaned)."""
    mounted.principals.create("bob")
    mounted.tables.create("web.hits", schema={"id": "long"})
    mounted.sql("GRANT SELECT ON CATALOG cdn_prod TO PRINCIPAL ana WITH GRANT OPTION")
    mounted.sql("GRANT SELECT ON TABLE web.hits TO PRINCIPAL ana")
    ana(mounted).sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL bob")

    mounted.sql("REVOKE SELECT ON TABLE web.hits FROM PRINCIPAL ana")

    bob = mounted.as_principal(Principal("bob", admin=False))
    assert rows_of(bob, "SELECT count(*) AS n FROM cdn_prod.cdn.requests") == [{"n": 3}]


def test_the_same_table_registered_locally_does_not_inherit_grants(mounted: Lake) -> None:
    producer = mounted.catalogs.load("cdn_prod", ("cdn",), "requests")
    mounted.namespaces.create(("copies",))
    mounted.iceberg.register(("copies",), "requests", producer.metadata_location)
    mounted.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SELECT count(*) AS n FROM cdn_prod.cdn.requests") == [{"n": 3}]
    with pytest.raises(QueryError) as refused:
        ana(mounted).sql("SELECT count(*) AS n FROM copies.requests")
    assert "copies.requests not found or not permitted" in refused.value.message


def test_show_tables_lists_the_mounted_tables_a_principal_may_describe(
    mounted: Lake, tmp_path: Path
) -> None:
    mounted.catalogs.mount(
        "cdn_copy", type="sql", uri=f"sqlite:///{tmp_path / 'producer' / 'catalog.db'}"
    )
    mounted.sql("CREATE DATA FILTER ids ON cdn_prod.cdn.requests COLUMNS (id)")
    mounted.sql("GRANT SELECT ON DATA FILTER ids TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SHOW TABLES") == [{"name": "cdn_prod.cdn.requests"}]
    columns = rows_of(
        ana(mounted),
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'cdn_prod'",
    )
    assert columns == [{"column_name": "id"}]


def test_the_audit_trail_names_the_mounted_table_and_the_filter_a_read_went_through(
    mounted: Lake,
) -> None:
    mounted.sql("CREATE DATA FILTER fr ON cdn_prod.cdn.requests WHERE country = 'fr'")
    mounted.sql("GRANT SELECT ON DATA FILTER fr TO PRINCIPAL ana")
    before = len(pending(mounted))

    assert rows_of(ana(mounted), COUNTRIES) == [{"id": 1, "country": "fr"}]

    reads = [
        (r.resource, r.allowed, r.filters)
        for r in pending(mounted)[before:]
        if r.action == "table.select"
    ]
    assert reads == [("table cdn_prod.cdn.requests", True, ("data filter fr",))]


def test_a_principal_describes_a_mounted_table_with_only_the_columns_it_may_see(
    mounted: Lake,
) -> None:
    mounted.sql("CREATE DATA FILTER ids ON cdn_prod.cdn.requests WHERE country = 'fr' COLUMNS (id)")
    mounted.sql("GRANT SELECT ON DATA FILTER ids TO PRINCIPAL ana")

    described = ana(mounted).catalogs.describe("cdn_prod.cdn.requests")

    assert [c["name"] for c in described.schema] == ["id"]
    assert ana(mounted).catalogs.tables("cdn_prod") == ["cdn_prod.cdn.requests"]
    assert [c["name"] for c in mounted.catalogs.describe("cdn_prod.cdn.requests").schema] == [
        "id",
        "country",
    ]


def test_the_shell_describes_a_mounted_table_to_a_principal_as_its_grants_show_it(
    mounted: Lake,
) -> None:
    mounted.sql("CREATE DATA FILTER ids ON cdn_prod.cdn.requests COLUMNS (id)")
    mounted.sql("GRANT SELECT ON DATA FILTER ids TO PRINCIPAL ana")
    out = io.StringIO()
    shell = Shell(ana(mounted), Console(file=out, width=200), Console(file=io.StringIO()))

    shell.execute(Statement("\\d cdn_prod.cdn.requests", 1, True))
    shell.execute(Statement("\\d", 1, True))

    shown = out.getvalue()
    assert shown.startswith("cdn_prod.cdn.requests  file://")
    assert "\n 1  id      long\n" in shown
    assert "country" not in shown
    assert "\ncdn_prod.cdn.requests " in shown


def test_a_mounted_table_a_principal_holds_nothing_on_is_not_described(mounted: Lake) -> None:
    with pytest.raises(Forbidden) as refused:
        ana(mounted).catalogs.describe("cdn_prod.cdn.requests")

    assert refused.value.message.endswith(
        "table cdn_prod.cdn.requests is not found or not permitted"
    )
    assert ana(mounted).catalogs.tables("cdn_prod") == []


def _allowed_files(lake: Lake) -> frozenset[str]:
    """The files the sandbox last used may read (empty: it read only rows it was given)."""
    return next(reversed(lake._queries.local.sandboxes))


def test_a_select_grant_on_a_mounted_table_reads_the_producers_files_natively(
    mounted: Lake, tmp_path: Path
) -> None:
    mounted.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")

    assert rows_of(ana(mounted), COUNTRIES + " LIMIT 2") == [
        {"id": 1, "country": "fr"},
        {"id": 2, "country": "de"},
    ]
    allowed = _allowed_files(mounted)
    assert allowed, "the mounted table was copied into the sandbox"
    assert all(path.startswith(str(tmp_path / "producer")) for path in allowed)


def test_a_data_filter_on_a_mounted_table_is_applied_in_a_native_read(mounted: Lake) -> None:
    mounted.sql("CREATE DATA FILTER low ON cdn_prod.cdn.requests WHERE id < 3 COLUMNS (id)")
    mounted.sql("GRANT SELECT ON DATA FILTER low TO PRINCIPAL ana")

    assert rows_of(ana(mounted), "SELECT * FROM cdn_prod.cdn.requests ORDER BY id") == [
        {"id": 1},
        {"id": 2},
    ]
    assert _allowed_files(mounted), "the mounted table was copied into the sandbox"
    with pytest.raises(QueryError, match="country"):
        ana(mounted).sql("SELECT country FROM cdn_prod.cdn.requests")


@pytest.mark.parametrize("grant", ["TABLE cdn_prod.cdn.requests", "DATA FILTER low"])
def test_a_principal_never_reads_a_mounted_tables_file_by_its_path(
    mounted: Lake, tmp_path: Path, grant: str
) -> None:
    """Not even with the file's path learnt elsewhere, in the statement that reads the
    mounted table natively: the sandbox is then allowed no file at all."""
    mounted.sql("CREATE DATA FILTER low ON cdn_prod.cdn.requests WHERE id < 3 COLUMNS (id)")
    mounted.sql(f"GRANT SELECT ON {grant} TO PRINCIPAL ana")
    rows_of(ana(mounted), "SELECT id FROM cdn_prod.cdn.requests")
    (path,) = _allowed_files(mounted)

    with pytest.raises(QueryError, match="file system operations are disabled"):
        ana(mounted).sql(
            f"SELECT r.id, f.country FROM cdn_prod.cdn.requests AS r, read_parquet('{path}') AS f"
        )
    assert not _allowed_files(mounted)
