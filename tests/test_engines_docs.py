"""docs/engines.md's PyIceberg and DuckDB snippets run as printed against a served lake."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pyarrow as pa

from tests import fixtures_engines, fixtures_lake, fixtures_server
from tests.fixtures_engines import DuckDBEngine
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served
duckdb_engine = fixtures_engines.duckdb_engine

DOC = Path(__file__).resolve().parents[1] / "docs" / "engines.md"
DOCS_URI = "http://127.0.0.1:8181"


def block(language: str) -> str:
    """The doc's first fenced block in ``language``."""
    pattern = re.compile(rf"^```{language}\n(.*?)^```", re.MULTILINE | re.DOTALL)
    found = pattern.search(DOC.read_text(encoding="utf-8"))
    assert found is not None, f"no {language} block in {DOC.name}"
    return found.group(1)


def test_the_pyiceberg_snippet_reads_the_lakes_rows(served: Served) -> None:
    client = served.client()
    client.create_namespace("web")
    hits = client.create_table(
        "web.hits", pa.schema([("id", pa.int64()), ("country", pa.string())])
    )
    hits.append(pa.table({"id": [1, 2, 3], "country": ["nl", "fr", "nl"]}))

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(block("python").replace(DOCS_URI, served.uri), {})

    assert printed.getvalue() == "2\n"


def test_the_duckdb_snippet_runs_as_printed_and_the_lake_reads_its_rows(
    served: Served, duckdb_engine: DuckDBEngine
) -> None:
    statements = [s.strip() for s in block("sql").replace(DOCS_URI, served.uri).split(";")]

    results = duckdb_engine.run(*[s for s in statements if s])

    assert results[-1] == [[1, "nl"], [2, "be"]]
    assert served.lake.sql("SELECT id, country FROM shop.orders ORDER BY id").to_pylist() == [
        {"id": 1, "country": "nl"},
        {"id": 2, "country": "be"},
    ]
