"""The schema of a sample file (``icehouse table create --like``).

pyarrow's own inference is a start, not the answer: it reads JSON's
``"2024-06-01T10:00:00Z"`` as a timestamp without a zone (the ``Z`` is lost), a date as a
timestamp, and an offset such as ``+02:00`` or a fraction of a second as a string. So the
sample's text values are read again and each top-level column typed from all of its
non-null sampled values: RFC 3339 / ISO 8601 timestamps (``T`` or a space) with ``Z`` or
an offset become ``timestamptz``, without a zone ``timestamp``; dates ``date``; in CSV and
TSV also integers ``long``, other numbers ``double`` and ``true``/``false`` ``boolean``.
One value that does not parse leaves the column as pyarrow read it (text stays
``string``): a wrong guess would quarantine good rows later.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from icehouse.errors import InvalidInput
from icehouse.ingest.compression import open_decompressed
from icehouse.ingest.decode import Format, FormatOptions, decode_file

SAMPLE_ROWS = 1000
"""Rows of the sample read to type its columns."""

_SAMPLE_BYTES = 8 * 1024 * 1024

_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?P<fraction>\.\d{1,9})?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

TIMESTAMPTZ = pa.timestamp("us", tz="UTC")
TIMESTAMP = pa.timestamp("us")


def format_from_name(path: Path) -> Format:
    """A sample's format by its name (``.parquet``, ``.csv``, ``.tsv``, else JSON lines)."""
    name = path.name.lower()
    markers: tuple[tuple[str, Format], ...] = (
        (".parquet", "parquet"),
        (".csv", "csv"),
        (".tsv", "tsv"),
    )
    for marker, fmt in markers:
        if marker in name:
            return fmt
    return "jsonl"


def infer_schema(sample: Path) -> pa.Schema:
    """The Arrow schema of a sample file's first records, text values typed as the
    module says.

    Raises:
        InvalidInput: the sample holds no readable record.
        UnreadableFile: the sample cannot be decoded at all.
    """
    fmt = format_from_name(sample)
    options = FormatOptions(format=fmt)
    decoded = next(
        (
            c.table
            for c in decode_file(_local(), str(sample.absolute()), options)
            if c.table.num_columns
        ),
        None,
    )
    if decoded is None:
        raise InvalidInput(f"--like {sample}: the sample has no readable records")
    if fmt == "parquet":
        return decoded.schema  # typed by its writer
    values = _text_values(sample, fmt)
    fields = []
    for field in decoded.schema:
        typed = _type_of(values.get(field.name, []), text_only=fmt == "jsonl")
        fields.append(field.with_type(typed) if typed is not None else field)
    return pa.schema(fields)


def _local() -> pafs.FileSystem:
    return pafs.LocalFileSystem()


def _text_values(sample: Path, fmt: str) -> dict[str, list[Any]]:
    """Column → its non-null values in the sample's first rows (JSON values as decoded;
    CSV fields as text, empty ones left out)."""
    with open_decompressed(_local(), str(sample.absolute())) as stream:
        head = stream.read(_SAMPLE_BYTES)
    lines = head.decode("utf-8", errors="replace").splitlines()
    if len(head) == _SAMPLE_BYTES:
        lines = lines[:-1]  # cut mid-line
    rows: Iterable[dict[str, Any]]
    if fmt == "jsonl":
        rows = _json_rows(lines)
    else:
        rows = csv.DictReader(
            io.StringIO("\n".join(lines)), delimiter="\t" if fmt == "tsv" else ","
        )
    columns: dict[str, list[Any]] = {}
    for count, row in enumerate(rows):
        if count == SAMPLE_ROWS:
            break
        for name, value in row.items():
            if value is not None and value != "":
                columns.setdefault(name, []).append(value)
    return columns


def _json_rows(lines: list[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue  # bad lines are ingestion's business, not the schema's
        if isinstance(value, dict):
            yield value


def _type_of(values: list[Any], *, text_only: bool) -> pa.DataType | None:
    """The type every value parses as; None to keep pyarrow's. ``text_only``: only
    strings are looked at (JSON numbers and booleans are typed already)."""
    if not values or not all(isinstance(v, str) for v in values):
        return None
    kinds = {_kind(v, text_only=text_only) for v in values}
    if kinds == {"long", "double"}:
        return pa.float64()
    if len(kinds) != 1:
        return pa.string()
    return _TYPES[kinds.pop()]


_TYPES: dict[str, pa.DataType] = {
    "timestamptz": TIMESTAMPTZ,
    "timestamp": TIMESTAMP,
    "date": pa.date32(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
}


def _kind(text: str, *, text_only: bool) -> str:
    value = text.strip()
    match = _TIMESTAMP.fullmatch(value)
    if match and _parses_as_datetime(value, match):
        return "timestamptz" if match["zone"] else "timestamp"
    if _DATE.fullmatch(value) and _parses_as_date(value):
        return "date"
    if text_only:
        return "string"
    if _INTEGER.fullmatch(value) and -(2**63) <= int(value) < 2**63:
        return "long"
    if _NUMBER.fullmatch(value):
        return "double"
    if value.lower() in ("true", "false"):
        return "boolean"
    return "string"


def _parses_as_datetime(value: str, match: re.Match[str]) -> bool:
    """The calendar and clock are real (no 25:00 nor February 30th); Python reads at most
    microseconds, so a longer fraction is cut for the check only."""
    fraction = match["fraction"]
    if fraction and len(fraction) > 7:
        value = value.replace(fraction, fraction[:7], 1)
    zone = match["zone"]
    if zone and len(zone) == 3:  # +02 → +02:00
        value += ":00"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _parses_as_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
