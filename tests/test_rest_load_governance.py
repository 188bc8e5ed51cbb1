"""loadTable hands a table (its files) only to a principal that may read all of it; a
principal whose SELECT is filtered gets 403 pointing to the query API, unless it is a
trusted engine, which gets the table with the spec's read restrictions; per-cell access
goes to no one. HEAD stays DESCRIBE; loadView needs SELECT on the view.

Through a real server: PyIceberg's RestCatalog (never a trusted engine: it ignores read
restrictions) and icehouse's own reader (``tables/rest_read.py``), which applies them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pyiceberg.exceptions import ForbiddenError
from pyiceberg.expressions import AlwaysTrue, GreaterThanOrEqual

from icehouse.errors import Forbidden
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from icehouse.state.audit import rows_after
from icehouse.tables.rest_read import read_table
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.governed_fixtures import IDS, TABLE, ids_of, make_table, region_of, status_of

EU = sorted(i for i in IDS if region_of(i) == "eu")
ALL_COLUMNS = ["id", "region", "status", "note", "cost"]
TABLE_URL = "/v1/icehouse/namespaces/web/tables/requests"


@dataclass(frozen=True)
class Catalog:
    served: Served

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def principal(self, name: str, *, kind: str = "service") -> Credentials:
        return self.lake.principals.create(name, kind=kind)

    def grant(self, who: str, privileges: list[Privilege], on: Securable) -> None:
        self.lake.governance.grant(privileges, on, Grantee(GranteeKind.PRINCIPAL, who))

    def grant_filter(self, who: str, name: str, where: str, **columns: list[str]) -> None:
        self.lake.governance.create_data_filter(name, TABLE, where=where, **columns)
        self.grant(who, [Privilege.SELECT], Securable(SecurableKind.DATA_FILTER, name))

    def get(self, who: Credentials, path: str, method: str = "GET") -> requests.Response:
        token = self.lake.principals.issue_token(who.client_id, who.client_secret).access_token
        headers = {"Authorization": f"Bearer {token}"}
        return requests.request(method, self.served.url(path), headers=headers, timeout=30)


TABLE_SECURABLE = Securable(SecurableKind.TABLE, TABLE)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    home = tmp_path / "lake"
    Lake.init(home)
    with Lake.open(home) as lake:
        make_table(lake)
        with serving(lake, allow_anonymous=False) as served:
            yield Catalog(served)


def credential(who: Credentials) -> str:
    return f"{who.client_id}:{who.client_secret}"


def pyiceberg_load_error(catalog: Catalog, who: Credentials) -> str:
    client = catalog.served.client(credential=credential(who))
    with pytest.raises(ForbiddenError) as refused:
        client.load_table(TABLE)
    return str(refused.value)


def test_a_principal_with_unfiltered_select_loads_and_reads_every_row(catalog: Catalog) -> None:
    reader = catalog.principal("reader")
    catalog.grant("reader", [Privilege.SELECT], TABLE_SECURABLE)

    client = catalog.served.client(credential=credential(reader))
    rows = client.load_table(TABLE).scan().to_arrow()

    assert sorted(rows.column("id").to_pylist()) == list(IDS)
    assert "read-restrictions" not in catalog.get(reader, TABLE_URL).json()


def test_a_filtered_principal_gets_403_pointing_to_the_query_api(catalog: Catalog) -> None:
    analyst = catalog.principal("analyst")
    catalog.grant_filter("analyst", "eu_only", "region = 'eu'", excluding=["cost"])

    message = pyiceberg_load_error(catalog, analyst)

    assert "may not table.load on table web.requests" in message
    assert "filtered" in message
    assert "POST /api/v1/query" in message
    assert "icehouse sql --server" in message and "icehouse.connect" in message
    answer = catalog.get(analyst, TABLE_URL)
    assert answer.status_code == 403 and "metadata" not in answer.json()


def test_a_column_grant_alone_is_filtered_access_too(catalog: Catalog) -> None:
    analyst = catalog.principal("analyst")
    catalog.grant(
        "analyst", [Privilege.SELECT], Securable(SecurableKind.COLUMN, TABLE, column="id")
    )

    assert "POST /api/v1/query" in pyiceberg_load_error(catalog, analyst)


def test_describe_alone_gets_403_naming_select_and_head_still_answers(catalog: Catalog) -> None:
    browser = catalog.principal("browser")
    catalog.grant("browser", [Privilege.DESCRIBE], TABLE_SECURABLE)

    message = pyiceberg_load_error(catalog, browser)

    assert "it needs SELECT on table web.requests" in message
    assert catalog.get(browser, TABLE_URL, method="HEAD").status_code == 204


def test_a_principal_that_may_not_describe_is_told_not_found_or_not_permitted(
    catalog: Catalog,
) -> None:
    nobody = catalog.principal("nobody")

    message = pyiceberg_load_error(catalog, nobody)

    assert "not found or not permitted" in message
    assert catalog.get(nobody, TABLE_URL, method="HEAD").status_code == 403


def test_a_trusted_engine_gets_the_table_with_the_specs_read_restrictions(
    catalog: Catalog,
) -> None:
    engine = catalog.principal("engine", kind="engine")
    catalog.grant_filter("engine", "eu_only", "region = 'eu'", excluding=["cost"])
    (region,) = ids_of(catalog.lake, "region")
    (cost,) = ids_of(catalog.lake, "cost")

    answer = catalog.get(engine, TABLE_URL)

    assert answer.status_code == 200, answer.text
    assert answer.json()["read-restrictions"] == {
        "required-row-filter": {
            "type": "eq",
            "left": {"type": "reference", "id": region},
            "right": {"type": "literal", "value": "eu"},
        },
        "required-column-projections": [{"field-id": cost, "action": "replace-with-null"}],
    }


@pytest.mark.parametrize(
    ("where", "columns", "ids", "names"),
    [
        ("region = 'eu'", {"excluding": ["cost"]}, EU, ["id", "region", "status", "note"]),
        ("status >= 500", {"columns": ["id", "status"]}, [4, 8, 12], ["id", "status"]),
        (None, {"columns": ["id", "note"]}, list(IDS), ["id", "note"]),
    ],
    ids=["row-filter-and-excluded-column", "row-filter-and-columns", "columns-only"],
)
def test_icehouses_reader_shows_a_trusted_engine_exactly_the_filters_cells(
    catalog: Catalog,
    where: str | None,
    columns: dict[str, list[str]],
    ids: list[int],
    names: list[str],
) -> None:
    engine = catalog.principal("engine", kind="engine")
    catalog.grant_filter("engine", "granted", where, **columns)  # type: ignore[arg-type]

    rows = read_table(catalog.served.uri, TABLE, credential=credential(engine))

    assert rows.column_names == names
    assert sorted(rows.column("id").to_pylist()) == ids
    by_id = {r["id"]: r for r in rows.to_pylist()}
    for i in ids:
        expected = {"id": i, "region": region_of(i), "status": status_of(i)}
        expected |= {"note": f"note-{i}", "cost": f"cost-{i}"}
        assert by_id[i] == {c: expected[c] for c in names}


def test_the_reader_reads_a_whole_table_without_restrictions(catalog: Catalog) -> None:
    reader = catalog.principal("reader")
    catalog.grant("reader", [Privilege.SELECT], TABLE_SECURABLE)

    rows = read_table(catalog.served.uri, TABLE, credential=credential(reader))

    assert rows.column_names == ALL_COLUMNS
    assert sorted(rows.column("id").to_pylist()) == list(IDS)


def test_per_cell_access_is_403_even_for_a_trusted_engine(catalog: Catalog) -> None:
    engine = catalog.principal("engine", kind="engine")
    catalog.grant_filter("engine", "eu_notes", "region = 'eu'", columns=["id", "note"])
    catalog.grant_filter("engine", "errors_costs", "status >= 500", columns=["id", "cost"])

    answer = catalog.get(engine, TABLE_URL)
    with pytest.raises(Forbidden) as refused:
        read_table(catalog.served.uri, TABLE, credential=credential(engine))

    assert answer.status_code == 403
    assert "per cell" in answer.json()["error"]["message"]
    assert "POST /api/v1/query" in refused.value.message


def test_a_revoked_filter_stops_the_trusted_engines_next_load(catalog: Catalog) -> None:
    engine = catalog.principal("engine", kind="engine")
    catalog.grant_filter("engine", "eu_only", "region = 'eu'")
    assert catalog.get(engine, TABLE_URL).status_code == 200

    catalog.lake.governance.revoke(
        [Privilege.SELECT],
        Securable(SecurableKind.DATA_FILTER, "eu_only"),
        Grantee(GranteeKind.PRINCIPAL, "engine"),
    )

    assert catalog.get(engine, TABLE_URL).status_code == 403


def test_load_view_needs_select_on_the_view(catalog: Catalog) -> None:
    catalog.lake.views.create_from_sql(("web",), "errors", f"SELECT id FROM {TABLE}")
    browser = catalog.principal("browser")
    reader = catalog.principal("reader")
    view = Securable(SecurableKind.VIEW, "web.errors")
    catalog.grant("browser", [Privilege.DESCRIBE], view)
    catalog.grant("reader", [Privilege.SELECT], view)
    path = "/v1/icehouse/namespaces/web/views/errors"

    refused = catalog.get(browser, path)
    loaded = catalog.get(reader, path)

    assert refused.status_code == 403
    assert "it needs SELECT on view web.errors" in refused.json()["error"]["message"]
    assert catalog.get(browser, path, method="HEAD").status_code == 204
    assert loaded.status_code == 200
    assert loaded.json()["metadata"]["view-uuid"]


def test_pyiceberg_lists_what_it_may_describe_but_loads_only_what_it_may_read(
    catalog: Catalog,
) -> None:
    analyst = catalog.principal("analyst")
    catalog.grant_filter("analyst", "eu_only", "region = 'eu'")
    client = catalog.served.client(credential=credential(analyst))

    assert client.list_tables("web") == [("web", "requests")]
    assert client.table_exists(TABLE)
    with pytest.raises(ForbiddenError):
        client.load_table(TABLE)
    assert fixtures_lake.ids(catalog.lake, TABLE) == list(IDS)


def test_a_hidden_required_column_is_masked_to_a_fixed_value_as_it_cannot_be_null(
    catalog: Catalog,
) -> None:
    engine = catalog.principal("engine", kind="engine")
    catalog.grant_filter("engine", "no_ids", "region = 'eu'", excluding=["id"])
    (required_id,) = ids_of(catalog.lake, "id")

    restrictions = catalog.get(engine, TABLE_URL).json()["read-restrictions"]
    rows = read_table(catalog.served.uri, TABLE, credential=credential(engine))

    assert restrictions["required-column-projections"] == [
        {"field-id": required_id, "action": "mask-to-fixed-value"}
    ]
    assert rows.column_names == ["region", "status", "note", "cost"]
    assert sorted(rows.column("note").to_pylist()) == sorted(f"note-{i}" for i in EU)


def test_a_refused_load_is_in_the_audit_trail_with_its_reason(catalog: Catalog) -> None:
    analyst = catalog.principal("analyst")
    catalog.grant_filter("analyst", "eu_only", "region = 'eu'")

    assert catalog.get(analyst, TABLE_URL).status_code == 403

    denied = [
        (r.principal, r.action, r.resource)
        for r in rows_after(catalog.lake._engine, 0, limit=10_000)
        if r.kind == "decision" and not r.allowed and "POST /api/v1/query" in (r.reason or "")
    ]
    assert denied == [("analyst", "table.load", f"table {TABLE}")]


def test_the_readers_own_filter_narrows_the_required_one_and_never_widens_it(
    catalog: Catalog,
) -> None:
    engine = catalog.principal("engine", kind="engine")
    catalog.grant_filter("engine", "eu_only", "region = 'eu'")

    errors = read_table(
        catalog.served.uri,
        TABLE,
        credential=credential(engine),
        row_filter=GreaterThanOrEqual("status", 500),
    )
    everything = read_table(
        catalog.served.uri, TABLE, credential=credential(engine), row_filter=AlwaysTrue()
    )

    assert errors.column("id").to_pylist() == [i for i in EU if status_of(i) >= 500]
    assert sorted(everything.column("id").to_pylist()) == EU
