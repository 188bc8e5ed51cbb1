"""A view reads its tables with its definer's rights, limited to what the definer could
grant: whoever is granted the view sees no more than that, and loses it when the
definer does. Set up with real statements on real grants."""

from __future__ import annotations

from pathlib import Path

import pytest

from icehouse.errors import QueryError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.governed_fixtures import IDS, TABLE, make_table, markers, region_of

home = fixtures_lake.home
lake = fixtures_lake.lake

EU = [i for i in IDS if region_of(i) == "eu"]
VIEW_SQL = f"SELECT id, note FROM {TABLE}"


def _setup(lake: Lake) -> tuple[Lake, Lake]:
    """dana reads the eu rows through a data filter she may pass on, and may create
    views in ``web``; eve holds nothing yet. Returns dana's and eve's lakes."""
    make_table(lake)
    lake.principals.create("dana")
    lake.principals.create("eve")
    for statement in (
        "CREATE DATA FILTER eu ON web.requests WHERE region = 'eu'",
        "GRANT SELECT ON DATA FILTER eu TO PRINCIPAL dana WITH GRANT OPTION",
        "GRANT CREATE_VIEW, DESCRIBE ON NAMESPACE web TO PRINCIPAL dana",
    ):
        lake.sql(statement)
    return lake.as_principal(Principal("dana", admin=False)), lake.as_principal(
        Principal("eve", admin=False)
    )


def _ids(lake: Lake, sql: str) -> list[int]:
    return sorted(lake.sql(sql).column("id").to_pylist())


def test_a_view_shows_its_grantee_only_what_its_definer_could_grant(lake: Lake) -> None:
    dana, eve = _setup(lake)
    dana.views.create_from_sql(("web",), "dana_view", VIEW_SQL)
    dana.sql("GRANT SELECT ON VIEW web.dana_view TO PRINCIPAL eve")

    seen = eve.sql("SELECT * FROM web.dana_view ORDER BY id").to_pylist()

    assert seen == [{"id": i, "note": f"note-{i}"} for i in EU]


def test_a_view_shows_nothing_once_its_definer_loses_the_grant(lake: Lake) -> None:
    dana, eve = _setup(lake)
    dana.views.create_from_sql(("web",), "dana_view", VIEW_SQL)
    dana.sql("GRANT SELECT ON VIEW web.dana_view TO PRINCIPAL eve")

    lake.sql("REVOKE SELECT ON DATA FILTER eu FROM PRINCIPAL dana")

    try:
        shown = str(eve.sql("SELECT * FROM web.dana_view").to_pylist())
    except QueryError as exc:
        shown = str(exc)
        assert "not found or not permitted" in shown
    assert markers(shown) == set()


def test_a_definer_without_grant_option_passes_nothing_on(lake: Lake) -> None:
    dana, eve = _setup(lake)
    lake.sql("REVOKE SELECT ON DATA FILTER eu FROM PRINCIPAL dana")
    lake.sql("GRANT SELECT ON DATA FILTER eu TO PRINCIPAL dana")
    dana.views.create_from_sql(("web",), "dana_view", VIEW_SQL)
    lake.sql("GRANT SELECT ON VIEW web.dana_view TO PRINCIPAL eve")

    assert _ids(dana, "SELECT id FROM web.requests") == EU
    try:
        shown = str(eve.sql("SELECT * FROM web.dana_view").to_pylist())
    except QueryError as exc:
        shown = str(exc)
    assert markers(shown) == set()


def test_an_administrators_view_shows_what_the_administrator_could_grant(lake: Lake) -> None:
    _, eve = _setup(lake)
    lake.views.create_from_sql(("web",), "all_view", VIEW_SQL)
    lake.sql("GRANT SELECT ON VIEW web.all_view TO PRINCIPAL eve")

    assert _ids(eve, "SELECT id FROM web.all_view") == list(IDS)
    with pytest.raises(QueryError, match=r"web\.requests not found or not permitted"):
        eve.sql(f"SELECT * FROM {TABLE}")


@pytest.mark.postgres
def test_on_a_postgresql_state_database_a_view_runs_with_its_definers_rights(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as on_postgres:
        assert on_postgres.config.state_url == postgres_url
        dana, eve = _setup(on_postgres)
        dana.views.create_from_sql(("web",), "dana_view", VIEW_SQL)
        dana.sql("GRANT SELECT ON VIEW web.dana_view TO PRINCIPAL eve")
        assert _ids(eve, "SELECT id FROM web.dana_view") == EU

        on_postgres.sql("REVOKE SELECT ON DATA FILTER eu FROM PRINCIPAL dana")

        with pytest.raises(QueryError, match=r"web\.dana_view not found or not permitted"):
            eve.sql("SELECT * FROM web.dana_view")
