"""loadTable on a mounted catalog's prefix decides as it does for a local table: a
trusted engine whose access is one row filter and a set of columns gets the producer's
table with the spec's read restrictions (and icehouse's own reader applies them); any
other filtered principal gets 403 pointing to the query API; per-cell access is 403 for
everyone. Through a real server over a lake with a PyIceberg SQL producer mounted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from icehouse.errors import Forbidden
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from icehouse.tables.rest_read import read_table
from tests import fixtures_lake
from tests.fixtures_federation import sql_producer
from tests.fixtures_server import Served, serving

home, lake = fixtures_lake.home, fixtures_lake.lake
TABLE_URL = "/v1/cdn_prod/namespaces/cdn/tables/requests"


@dataclass(frozen=True)
class Central:
    served: Served

    @property
    def lake(self) -> Lake:
        return self.served.lake

    def principal(self, name: str, *, kind: str = "service") -> Credentials:
        return self.lake.principals.create(name, kind=kind)

    def load(self, who: Credentials) -> requests.Response:
        token = self.lake.principals.issue_token(who.client_id, who.client_secret).access_token
        headers = {"Authorization": f"Bearer {token}"}
        return requests.get(self.served.url(TABLE_URL), headers=headers, timeout=30)

    def read(self, who: Credentials) -> list[dict[str, object]]:
        rows = read_table(
            self.served.uri,
            "cdn.requests",
            credential=f"{who.client_id}:{who.client_secret}",
            warehouse="cdn_prod",
        )
        return sorted(rows.to_pylist(), key=lambda row: str(row.get("id")))


@pytest.fixture
def central(lake: Lake, tmp_path: Path) -> Iterator[Central]:
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    with serving(lake, allow_anonymous=False) as served:
        yield Central(served)


def field_id(central: Central, column: str) -> int:
    schema = central.lake.catalogs.load("cdn_prod", ("cdn",), "requests").metadata["schemas"][0]
    return next(int(f["id"]) for f in schema["fields"] if f["name"] == column)


def test_a_trusted_engine_loads_a_mounted_table_with_its_read_restrictions(
    central: Central,
) -> None:
    engine = central.principal("engine", kind="engine")
    central.lake.sql(
        "CREATE DATA FILTER eu ON cdn_prod.cdn.requests WHERE country IN ('fr', 'de') COLUMNS (id)"
    )
    central.lake.sql("GRANT SELECT ON DATA FILTER eu TO PRINCIPAL engine")

    answer = central.load(engine)

    assert answer.status_code == 200, answer.text
    restrictions = answer.json()["read-restrictions"]
    assert restrictions["required-row-filter"] == {
        "type": "in",
        "child": {"type": "reference", "id": field_id(central, "country")},
        "values": ["de", "fr"],
    }
    assert restrictions["required-column-projections"] == [
        {"field-id": field_id(central, "country"), "action": "replace-with-null"}
    ]
    assert central.read(engine) == [{"id": 1}, {"id": 2}]


def test_an_engine_with_unfiltered_select_on_a_mounted_table_gets_no_restrictions(
    central: Central,
) -> None:
    engine = central.principal("engine", kind="engine")
    central.lake.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL engine")

    answer = central.load(engine)

    assert answer.status_code == 200, answer.text
    assert "read-restrictions" not in answer.json()
    assert len(central.read(engine)) == 3


def test_a_filtered_service_that_is_no_trusted_engine_gets_403_on_a_mounted_table(
    central: Central,
) -> None:
    service = central.principal("batch")
    central.lake.sql("CREATE DATA FILTER fr ON cdn_prod.cdn.requests WHERE country = 'fr'")
    central.lake.sql("GRANT SELECT ON DATA FILTER fr TO PRINCIPAL batch")

    answer = central.load(service)

    assert answer.status_code == 403
    assert "through the query API" in answer.json()["error"]["message"]
    assert "metadata" not in answer.json()


def test_per_cell_access_to_a_mounted_table_is_403_even_for_a_trusted_engine(
    central: Central,
) -> None:
    engine = central.principal("engine", kind="engine")
    central.lake.sql("CREATE DATA FILTER fr ON cdn_prod.cdn.requests WHERE country = 'fr'")
    central.lake.sql("CREATE DATA FILTER low ON cdn_prod.cdn.requests WHERE id < 3 COLUMNS (id)")
    central.lake.sql("GRANT SELECT ON DATA FILTER fr TO PRINCIPAL engine")
    central.lake.sql("GRANT SELECT ON DATA FILTER low TO PRINCIPAL engine")

    answer = central.load(engine)

    assert answer.status_code == 403
    assert "per cell" in answer.json()["error"]["message"]
    with pytest.raises(Forbidden, match="per cell"):
        central.read(engine)
