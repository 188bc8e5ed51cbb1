"""docs/serve.md's Python snippet runs as printed against a served lake that requires
tokens, with the credential of a principal created as the docs say."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_server import Served, serving

home = fixtures_lake.home
lake = fixtures_lake.lake

DOC = Path(__file__).resolve().parents[1] / "docs" / "serve.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.fixture
def secured(lake: Lake) -> Iterator[Served]:
    with serving(lake, allow_anonymous=False) as running:
        yield running


def test_the_serve_docs_snippet_writes_rows_the_lake_reads(secured: Served) -> None:
    served = secured
    admin = served.lake.principals.create("etl", admin=True)
    (snippet,) = PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    snippet = snippet.replace("http://127.0.0.1:8181", served.uri).replace(
        "CLIENT_ID:CLIENT_SECRET", f"{admin.client_id}:{admin.client_secret}"
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet, {})
    assert printed.getvalue() == "2\n"
    assert served.lake.sql("SELECT count(*) AS n FROM web.hits").to_pylist() == [{"n": 2}]
