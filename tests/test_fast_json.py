"""The one-call path for small JSON-lines files: exact when it answers, and it refuses
whatever only the line-aware decoder can get right."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from icehouse.ingest.decode import FormatOptions
from icehouse.ingest.fast_json import FastPathRefused, eligible, read_whole
from tests import fixtures_lake
from tests.fixtures_lake import add_source, event, ids, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)
JSONL = FormatOptions(format="jsonl", max_line_bytes=200)


def read(path: Path):  # type: ignore[no-untyped-def]
    return read_whole(path.read_bytes(), str(path), JSONL)


def test_a_clean_gzip_file_is_read_whole_with_nested_fields(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1, "n": {"b": "x"}}\n{"a": 2, "n": {"b": "y"}}\n'))
    chunk = read(path)
    assert chunk.table.to_pylist() == [{"a": 1, "n": {"b": "x"}}, {"a": 2, "n": {"b": "y"}}]
    assert chunk.lines.to_pylist() == [1, 2]


@pytest.mark.parametrize(
    "content",
    [
        b'{"a": 1}\n{"a": \n',  # malformed
        b'{"a": 1}\n{"a": "' + b"x" * 300 + b'"}\n',  # over max_line_bytes
        b'{"a": 1}\n\xff\xfe\n',  # binary junk
        b"[1, 2]\n",  # not an object
    ],
)
def test_anything_pyarrow_refuses_sends_the_file_to_the_exact_path(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(content)
    with pytest.raises(FastPathRefused):
        read(path)


def test_only_small_json_lines_files_are_eligible() -> None:
    assert eligible(JSONL, 1024)
    assert not eligible(JSONL, 64 * 1024 * 1024)  # whole in memory only when small
    assert not eligible(FormatOptions(format="csv"), 1024)


def test_a_bad_row_after_blank_lines_is_quarantined_with_its_true_line_number(
    lake, landing, events
):
    """pyarrow skips blank lines, so the fast path cannot name a bad row's line; the
    file goes through the line-aware decoder and the quarantine names line 5."""
    add_source(lake, "s", landing)
    bad = {"id": "x", "ts": "2024-06-01T00:00:00Z"}
    write_jsonl(landing / "a.jsonl", [event(1), "", "", event(2), bad, *map(event, range(3, 21))])
    report = lake.ingest()
    assert (report.rows, report.bad_rows) == (20, 1)
    assert [r.line for r in lake.quarantine.list(kind="line")] == [5]
    assert ids(lake) == list(range(1, 21))
