"""docs/query-api.md's Python snippet runs as printed against a served lake that
requires tokens, with the credential of a principal created as the docs say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests import fixtures_query_api
from tests.fixtures_query_api import Api, credential

api = fixtures_query_api.api

DOC = Path(__file__).resolve().parents[1] / "docs" / "query-api.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_the_query_api_docs_snippet_prints_what_its_comments_say(api: Api) -> None:
    (snippet,) = PYTHON_BLOCK.findall(DOC.read_text(encoding="utf-8"))
    snippet = snippet.replace("http://127.0.0.1:8181", api.url).replace(
        "CLIENT_ID:CLIENT_SECRET", credential(api.admin)
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet, {})

    expected = re.findall(r"# (.*)$", snippet, re.MULTILINE)
    assert printed.getvalue().splitlines() == expected
