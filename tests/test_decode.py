"""Decoders: every input line becomes a row or a bad record with its line number."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import zstandard

from icehouse.errors import InvalidConfig, UnreadableFile
from icehouse.ingest.compression import detect_compression
from icehouse.ingest.decode import BadRecord, DecodedChunk, FormatOptions, decode_file

FS = pafs.LocalFileSystem()


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path.resolve())


def decode(path: str, **options: Any) -> list[DecodedChunk]:
    options.setdefault("format", "jsonl")
    return list(decode_file(FS, path, FormatOptions(**options)))


def rows(chunks: list[DecodedChunk]) -> list[dict[str, Any]]:
    return [r for c in chunks for r in c.table.to_pylist()]


def lines(chunks: list[DecodedChunk]) -> list[int]:
    return [n for c in chunks for n in c.lines.to_pylist()]


def bad(chunks: list[DecodedChunk]) -> list[BadRecord]:
    return [b for c in chunks for b in c.bad]


def jsonl(n: int, start: int = 0) -> bytes:
    return b"".join(b'{"id":%d,"name":"row %d"}\n' % (i, i) for i in range(start, start + n))


# --- compression -----------------------------------------------------------------------


def test_plain_jsonl_decodes_every_line_with_its_line_number(tmp_path: Path) -> None:
    chunks = decode(write(tmp_path / "a.jsonl", jsonl(3)))
    assert rows(chunks) == [{"id": i, "name": f"row {i}"} for i in range(3)]
    assert lines(chunks) == [1, 2, 3]
    assert bad(chunks) == []


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("a.jsonl.gz", gzip.compress),
        ("a.jsonl.gzip", gzip.compress),
        ("a.jsonl.zst", zstandard.ZstdCompressor().compress),
        ("a.jsonl.zstd", zstandard.ZstdCompressor().compress),
    ],
)
def test_compressed_jsonl_is_detected_by_extension(
    tmp_path: Path, name: str, compress: Any
) -> None:
    chunks = decode(write(tmp_path / name, compress(jsonl(5))))
    assert [r["id"] for r in rows(chunks)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("gzip-named.zst", gzip.compress),
        ("gzip-unnamed.jsonl", gzip.compress),
        ("zstd-named.gz", zstandard.ZstdCompressor().compress),
        ("zstd-unnamed.log", zstandard.ZstdCompressor().compress),
    ],
)
def test_magic_bytes_win_over_a_misleading_extension(
    tmp_path: Path, name: str, compress: Any
) -> None:
    chunks = decode(write(tmp_path / name, compress(jsonl(5))))
    assert [r["id"] for r in rows(chunks)] == [0, 1, 2, 3, 4]


def test_plain_text_named_gz_is_read_as_plain_text(tmp_path: Path) -> None:
    assert [r["id"] for r in rows(decode(write(tmp_path / "a.jsonl.gz", jsonl(2))))] == [0, 1]


def test_binary_file_named_gz_without_gzip_magic_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl.gz", b"\x00\x01\x02\x03" + os.urandom(100))
    with pytest.raises(UnreadableFile, match="not a gzip stream"):
        decode(path)


def test_explicit_compression_overrides_detection() -> None:
    assert detect_compression("x.jsonl", b'{"a":1}', "gzip") == "gzip"
    assert detect_compression("x.gz", b"\x1f\x8b\x08", "none") == "none"
    assert detect_compression("x.jsonl", b"\x1f\x8b\x08") == "gzip"


def test_concatenated_gzip_members_are_read_to_the_end(tmp_path: Path) -> None:
    data = gzip.compress(jsonl(3)) + gzip.compress(jsonl(4, start=3))
    chunks = decode(write(tmp_path / "a.jsonl.gz", data))
    assert [r["id"] for r in rows(chunks)] == list(range(7))
    assert lines(chunks) == list(range(1, 8))


def test_concatenated_zstd_frames_are_read_to_the_end(tmp_path: Path) -> None:
    z = zstandard.ZstdCompressor()
    chunks = decode(write(tmp_path / "a.jsonl.zst", z.compress(jsonl(3)) + z.compress(jsonl(2, 3))))
    assert [r["id"] for r in rows(chunks)] == list(range(5))


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_truncated_stream_is_unreadable_even_after_chunks_were_yielded(
    tmp_path: Path, suffix: str
) -> None:
    compress = gzip.compress if suffix == ".gz" else zstandard.ZstdCompressor().compress
    data = compress(jsonl(2000)) + compress(jsonl(2000, start=2000))
    path = write(tmp_path / f"a.jsonl{suffix}", data[: len(data) - 30])
    seen = []
    with pytest.raises(UnreadableFile, match="truncated") as info:
        for chunk in decode_file(FS, path, FormatOptions("jsonl", chunk_bytes=4096)):
            seen.append(chunk)
    assert seen, "chunks before the truncation are yielded first"
    assert info.value.path == path


def test_file_that_vanished_before_reading_is_unreadable(tmp_path: Path) -> None:
    path = str(tmp_path / "gone.jsonl")
    with pytest.raises(UnreadableFile) as info:
        decode(path)
    assert info.value.reason == "vanished"


class _VanishingStream:
    """A raw stream that serves some bytes and then fails as if the object was deleted."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if not self.data:
            raise FileNotFoundError("the object was deleted")
        out, self.data = self.data[:size], self.data[size:]
        return out

    def close(self) -> None:
        self.closed = True


class _VanishingFileSystem:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def open_input_stream(self, path: str, **kwargs: Any) -> _VanishingStream:
        return _VanishingStream(self.data)


@pytest.mark.parametrize("compress", [bytes, gzip.compress])
def test_file_that_vanishes_while_reading_is_unreadable(compress: Any) -> None:
    fs: Any = _VanishingFileSystem(compress(jsonl(1000)))
    with pytest.raises(UnreadableFile) as info:
        list(decode_file(fs, "/landing/a.jsonl", FormatOptions("jsonl", chunk_bytes=1024)))
    assert info.value.reason == "vanished"


# --- JSON lines ------------------------------------------------------------------------


def test_nested_objects_become_struct_columns(tmp_path: Path) -> None:
    data = b'{"a":1,"http":{"status":200,"host":"x"}}\n{"a":2,"http":{"status":404,"host":"y"}}\n'
    chunks = decode(write(tmp_path / "a.jsonl", data))
    assert pa.types.is_struct(chunks[0].table.schema.field("http").type)
    assert rows(chunks)[1] == {"a": 2, "http": {"status": 404, "host": "y"}}


def test_malformed_line_becomes_bad_record_and_the_others_are_decoded(tmp_path: Path) -> None:
    data = b'{"a":1}\n{"a":2 "b":3}\n{"a":3}\n[1,2]\n{"a":4}\n'
    chunks = decode(write(tmp_path / "a.jsonl", data))
    assert rows(chunks) == [{"a": 1}, {"a": 3}, {"a": 4}]
    assert lines(chunks) == [1, 3, 5]
    malformed, not_object = bad(chunks)
    assert (malformed.line, malformed.raw) == (2, '{"a":2 "b":3}')
    assert malformed.reason == "invalid JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"
    assert (not_object.line, not_object.reason) == (4, "not a JSON object")


def test_field_with_mixed_types_falls_back_to_a_string_column(tmp_path: Path) -> None:
    data = b'{"a":1,"n":{"x":1}}\n{"a":"x","n":{"x":true}}\n{"a":2.5,"n":null}\n{"b":1}\n'
    chunks = decode(write(tmp_path / "a.jsonl", data))
    table = chunks[0].table
    assert table.schema.field("a").type == pa.string()
    assert table.column("a").to_pylist() == ["1", "x", "2.5", None]
    assert table.column("n").to_pylist() == [{"x": "1"}, {"x": "true"}, None, None]
    assert table.column("b").to_pylist() == [None, None, None, 1]
    assert lines(chunks) == [1, 2, 3, 4]


def test_binary_junk_lines_become_bad_records(tmp_path: Path) -> None:
    data = b'{"a":"x"}\n\xff\xfe\x00junk\n{"a":"y"}\nnul\x00here\n{"a":"\xc3\xa9"}\n'
    chunks = decode(write(tmp_path / "a.jsonl", data))
    assert rows(chunks) == [{"a": "x"}, {"a": "y"}, {"a": "é"}]
    assert lines(chunks) == [1, 3, 5]
    records = bad(chunks)
    assert [b.line for b in records] == [2, 4]
    assert records[0].reason.startswith("invalid UTF-8:")
    assert records[0].raw.startswith("\\xff\\xfe\x00junk")  # the bytes, not U+FFFD
    assert records[1].reason.startswith("invalid JSON:")


def test_over_long_line_is_a_bad_record_with_its_length(tmp_path: Path) -> None:
    long_line = b'{"a":"' + b"x" * 200 + b'"}'
    path = write(tmp_path / "a.jsonl", b'{"a":"1"}\n' + long_line + b'\n{"a":"2"}\n')
    for chunk_bytes in (1 << 20, 16):  # within one block, and streamed across many
        chunks = decode(path, max_line_bytes=100, chunk_bytes=chunk_bytes)
        assert rows(chunks) == [{"a": "1"}, {"a": "2"}]
        assert lines(chunks) == [1, 3]
        [record] = bad(chunks)
        assert record.line == 2
        assert record.reason == "line is 208 bytes, over the 100-byte limit"
        assert record.raw.startswith('{"a":"xxx')


def test_over_long_last_line_without_newline_is_a_bad_record(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", b'{"a":1}\n' + b"y" * 500)
    chunks = decode(path, max_line_bytes=100, chunk_bytes=64)
    assert rows(chunks) == [{"a": 1}]
    assert [(b.line, b.reason) for b in bad(chunks)] == [
        (2, "line is 500 bytes, over the 100-byte limit")
    ]


def test_blank_lines_and_crlf_are_skipped_but_counted(tmp_path: Path) -> None:
    data = b'\r\n{"a":1}\r\n\r\n   \n\t\r\n{"a":2}\r\n{"a":3}'
    chunks = decode(write(tmp_path / "a.jsonl", data))
    assert rows(chunks) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert lines(chunks) == [2, 6, 7]
    assert chunks[0].raw_text(0) == '{"a":1}'


def test_line_numbers_stay_right_across_many_small_blocks(tmp_path: Path) -> None:
    body = b"".join(
        b"\n" if i % 7 == 0 else b"not json\n" if i % 11 == 0 else b'{"i":%d}\n' % i
        for i in range(1, 500)
    )
    chunks = decode(write(tmp_path / "a.jsonl.gz", gzip.compress(body)), chunk_bytes=64)
    assert len(chunks) > 10
    assert [r["i"] for r in rows(chunks)] == lines(chunks)
    assert [b.line for b in bad(chunks)] == [i for i in range(1, 500) if i % 11 == 0 and i % 7]
    assert all(b.raw == "not json" for b in bad(chunks))


def test_empty_and_blank_only_files_yield_nothing(tmp_path: Path) -> None:
    assert decode(write(tmp_path / "empty.jsonl", b"")) == []
    assert decode(write(tmp_path / "empty.jsonl.gz", gzip.compress(b""))) == []
    assert decode(write(tmp_path / "blank.jsonl", b"\n  \r\n\n")) == []
    assert decode(write(tmp_path / "blank.csv", b"\n\n"), format="csv") == []


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    assert rows(decode(write(tmp_path / "a.jsonl", b'\xef\xbb\xbf{"a":1}\n'))) == [{"a": 1}]


def test_bytes_read_grows_to_the_compressed_size(tmp_path: Path) -> None:
    body = b"".join(b'{"r":"%s"}\n' % os.urandom(32).hex().encode() for _ in range(40_000))
    data = gzip.compress(body)
    chunks = decode(write(tmp_path / "a.jsonl.gz", data), chunk_bytes=256 << 10)
    progress = [c.bytes_read for c in chunks]
    assert progress == sorted(progress)
    assert 0 < progress[0] < progress[-1] == len(data)


# --- CSV and TSV -----------------------------------------------------------------------


def test_csv_with_header_comments_and_wrong_field_counts(tmp_path: Path) -> None:
    data = (
        b"# exported 2024-05-01\n"
        b"host,status,path\n"
        b"a.com,200,/x\n"
        b"# a comment in the middle\n"
        b"b.com,404\n"
        b'c.com,,"/y,z"\r\n'
        b"\n"
        b"d.com,500,/w,extra\n"
        b'"e ""q""",301,/v\n'
    )
    chunks = decode(write(tmp_path / "a.csv", data), format="csv", comment="#")
    assert rows(chunks) == [
        {"host": "a.com", "status": "200", "path": "/x"},
        {"host": "c.com", "status": None, "path": "/y,z"},
        {"host": 'e "q"', "status": "301", "path": "/v"},
    ]
    assert lines(chunks) == [3, 6, 9]
    assert all(f.type == pa.string() for f in chunks[0].table.schema)
    assert [(b.line, b.raw, b.reason) for b in bad(chunks)] == [
        (5, "b.com,404", "expected 3 fields, found 2"),
        (8, "d.com,500,/w,extra", "expected 3 fields, found 4"),
    ]


def test_csv_line_with_an_unbalanced_quote_is_a_bad_record(tmp_path: Path) -> None:
    data = b'a,b\n1,2\n3,"oops\n5,6\n7,8\n'
    chunks = decode(write(tmp_path / "a.csv", data), format="csv")
    assert rows(chunks) == [{"a": "1", "b": "2"}, {"a": "5", "b": "6"}, {"a": "7", "b": "8"}]
    assert lines(chunks) == [2, 4, 5]
    [record] = bad(chunks)
    assert (record.line, record.raw) == (3, '3,"oops')
    assert record.reason.startswith("invalid CSV:")


def test_tsv_splits_on_tabs_and_does_not_treat_quotes_specially(tmp_path: Path) -> None:
    data = b'name\tnote\nann\tsays "hi"\nbob\t\n'
    chunks = decode(write(tmp_path / "a.tsv", data), format="tsv")
    assert rows(chunks) == [{"name": "ann", "note": 'says "hi"'}, {"name": "bob", "note": None}]


def test_csv_without_header_uses_the_given_columns(tmp_path: Path) -> None:
    data = b"1;x\n2;y\n"
    chunks = decode(
        write(tmp_path / "a.csv", data),
        format="csv",
        header=False,
        columns=("n", "s"),
        delimiter=";",
    )
    assert rows(chunks) == [{"n": "1", "s": "x"}, {"n": "2", "s": "y"}]
    assert lines(chunks) == [1, 2]


def test_csv_header_is_found_after_many_blocks_of_comments(tmp_path: Path) -> None:
    data = b"#\n" * 100 + b"a,b\n1,2\n"
    chunks = decode(write(tmp_path / "a.csv.zst", data), format="csv", comment="#", chunk_bytes=8)
    assert rows(chunks) == [{"a": "1", "b": "2"}]
    assert lines(chunks) == [102]


def test_csv_without_a_header_line_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"# only a comment\n")
    with pytest.raises(UnreadableFile, match="no header line"):
        decode(path, format="csv", comment="#")


def test_csv_with_duplicate_header_names_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", b"a,b,a\n1,2,3\n")
    with pytest.raises(UnreadableFile, match="unique column names"):
        decode(path, format="csv")


def test_csv_needs_columns_when_it_has_no_header() -> None:
    with pytest.raises(InvalidConfig, match="columns"):
        FormatOptions("csv", header=False)


# --- Parquet ---------------------------------------------------------------------------


def test_parquet_rows_are_numbered_and_keep_their_stored_types(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array(range(300_000), pa.int32()), "s": ["x"] * 300_000})
    path = str(tmp_path / "a.parquet")
    pq.write_table(table, path)
    chunks = decode(path, format="parquet")
    assert [c.table.num_rows for c in chunks] == [131072, 131072, 37856]
    assert chunks[0].table.schema == table.schema
    assert lines(chunks) == list(range(1, 300_001))
    assert json.loads(chunks[2].raw_text(0)) == {"id": 262144, "s": "x"}
    assert chunks[-1].bytes_read == Path(path).stat().st_size


def test_junk_read_as_parquet_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", b"this is not parquet at all\n" * 10)
    with pytest.raises(UnreadableFile) as info:
        decode(path, format="parquet")
    assert info.value.reason == "not parquet"


def test_raw_text_is_the_input_line_truncated_to_1000_characters(tmp_path: Path) -> None:
    data = b'{"a":"' + b"z" * 2000 + b'"}\n{"a":"b"}\n'
    chunks = decode(write(tmp_path / "a.jsonl", data))
    assert chunks[0].raw_text(1) == '{"a":"b"}'
    assert chunks[0].raw_text(0) == '{"a":"' + "z" * 994
    csv_chunks = decode(write(tmp_path / "a.csv", b"a,b\n1,2\n"), format="csv")
    assert csv_chunks[0].raw_text(0) == "1,2"


def reference_decode(data: bytes, limit: int) -> tuple[list[tuple[int, Any]], list[int]]:
    """The obvious per-line decoder the fast one must agree with: (line, row) and bad lines."""
    good, bad_lines = [], []
    for number, line in enumerate(data.split(b"\n")[: data.count(b"\n") + 1], start=1):
        if not line.strip():
            continue
        try:
            value = None if len(line) > limit else json.loads(line.decode())
        except ValueError:
            value = None
        if isinstance(value, dict):
            good.append((number, {"i": value["i"], "s": value.get("s")}))
        else:
            bad_lines.append(number)
    return good, bad_lines


@pytest.mark.parametrize("seed", range(6))
def test_decoder_agrees_with_a_line_by_line_reference_for_any_chunk_size(
    tmp_path: Path, seed: int
) -> None:
    import random

    rnd = random.Random(seed)
    pieces = [
        lambda i: b'{"i":%d,"s":"%s"}' % (i, b"x" * rnd.randint(0, 40)),
        lambda i: b"",
        lambda i: b"  \r",
        lambda i: b"oops %d" % i,
        lambda i: b"\xff\xfe" * rnd.randint(1, 5),
        lambda i: b'{"i":%d,"s":"%s"}' % (i, b"y" * rnd.randint(60, 300)),
        lambda i: b'{"i":%d}\r' % i,
    ]
    weights = [30, 3, 2, 2, 1, 2, 3]
    body = b"\n".join(rnd.choices(pieces, weights)[0](i) for i in range(400))
    if seed % 2:
        body += b"\n"
    path = write(tmp_path / "a.jsonl.zst", zstandard.ZstdCompressor().compress(body))
    good, bad_lines = reference_decode(body, 100)
    for chunk_bytes in (3, 64, 1000, 1 << 20):
        chunks = decode(path, max_line_bytes=100, chunk_bytes=chunk_bytes)
        decoded = [{"i": r["i"], "s": r.get("s")} for r in rows(chunks)]
        assert list(zip(lines(chunks), decoded, strict=True)) == good
        assert [b.line for b in bad(chunks)] == bad_lines
