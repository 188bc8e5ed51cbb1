"""PyIceberg's own REST client against a real icehouse server: what one engine writes,
the lake and every other client read."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "country", StringType(), required=False),
)
ROWS = pa.table({"id": [1, 2, 3], "country": ["nl", "fr", "nl"]})


def test_a_table_written_through_the_server_is_read_by_the_client_and_by_the_lake(
    served: Served,
) -> None:
    client = served.client()
    client.create_namespace("web", {"owner": "ana"})
    table = client.create_table("web.hits", SCHEMA)
    table.append(ROWS)

    again = served.client().load_table("web.hits")
    assert sorted(again.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    counted = served.lake.sql("SELECT country, count(*) AS n FROM web.hits GROUP BY 1 ORDER BY 1")
    assert counted.to_pylist() == [{"country": "fr", "n": 1}, {"country": "nl", "n": 2}]
    assert client.load_namespace_properties("web") == {"owner": "ana"}
    assert client.list_tables("web") == [("web", "hits")]
