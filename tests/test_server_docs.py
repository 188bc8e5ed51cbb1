"""docs/serve.md's Python snippet runs as printed against a served lake."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

DOC = Path(__file__).resolve().parents[1] / "docs" / "serve.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_serve_docs_snippet_writes_rows_the_lake_reads(served: Served) -> None:
    (snippet,) = PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet.replace("http://127.0.0.1:8181", served.uri), {})
    assert printed.getvalue() == "2\n"
    assert served.lake.sql("SELECT count(*) AS n FROM web.hits").to_pylist() == [{"n": 2}]
