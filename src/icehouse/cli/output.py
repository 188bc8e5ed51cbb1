"""One way to print: Rich for people; one JSON document, JSON lines or CSV rows on stdout
for machines.

Diagnostics (progress, warnings, errors) go to stderr, so that ``--format json``
output can be piped straight into ``jq``, ``--format jsonl`` read a line at a time and
``--format csv`` read by a spreadsheet or ``csv.reader``. Times are ISO 8601 with an
offset.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

from rich.console import Console

from icehouse.errors import InvalidInput

if TYPE_CHECKING:  # pyarrow is imported where rows are written, not to parse options
    import pyarrow as pa


class Format(StrEnum):
    """``--format`` of a command whose output is rows (or one record): every choice."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class DocumentFormat(StrEnum):
    """``--format`` of a command whose output is one nested document (``demo``) or a
    stream of them (``maintain run --follow``): rows would flatten it out of shape, so
    CSV is not offered and click's error for ``--format csv`` lists these choices."""

    table = "table"
    json = "json"
    jsonl = "jsonl"


Records: TypeAlias = "pa.Table | Mapping[str, Any] | Sequence[Mapping[str, Any]]"
"""What ``--format csv`` prints: Arrow rows, one record, or a list of records."""


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 with offset (UTC)."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class FileFormat(StrEnum):
    """What ``--out FILE`` can write; each is also the file extension that selects it."""

    parquet = "parquet"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


def file_format_of(path: Path) -> FileFormat | None:
    """The format a file's extension names, or None for an extension we do not write."""
    try:
        return FileFormat(path.suffix.lower().removeprefix("."))
    except ValueError:
        return None


def _cell(value: Any) -> str:
    """One CSV cell: empty for null, ``true``/``false`` as Arrow writes booleans, nested
    values (lists, objects) as compact JSON, everything else as ``--format json`` prints it.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=_default, ensure_ascii=False)
    return str(_default(value))


def _is_arrow(records: Records) -> TypeGuard[pa.Table]:
    """Arrow rows exist only once pyarrow is imported, so asking needs no import of it."""
    pyarrow = sys.modules.get("pyarrow")
    return pyarrow is not None and isinstance(records, pyarrow.Table)


def _flatten_nested(table: pa.Table) -> pa.Table:
    """Arrow's CSV writer refuses list, struct and map columns: those become JSON text."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            cells = [
                None if v is None else json.dumps(v, default=_default, ensure_ascii=False)
                for v in table.column(index).to_pylist()
            ]
            table = table.set_column(index, field.name, pa.array(cells, type=pa.string()))
    return table


def csv_text(records: Records, columns: Sequence[str] = ()) -> str:
    """``records`` as CSV: a header line, then one line per row.

    Arrow rows keep Arrow's CSV formatting (as ``--out FILE.csv`` writes them). A list of
    records gets the header ``columns`` followed by every other key in order of first
    appearance, so an empty list still prints its header when ``columns`` is given; one
    record is a one-row CSV. Nested values are JSON text in their cell."""
    if _is_arrow(records):
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(_flatten_nested(records), buffer)
        return buffer.getvalue().decode()
    rows = [records] if isinstance(records, Mapping) else list(records)
    header = list(dict.fromkeys([*columns, *(key for row in rows for key in row)]))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(row.get(key)) for key in header] for row in rows)
    return text.getvalue()


def write_file(table: pa.Table, path: Path, fmt: FileFormat) -> None:
    """Write rows to a file: Parquet keeps the Arrow types (zstd, as the lake's own files);
    JSON and JSON lines write values as ``--format json`` prints them.

    Raises:
        InvalidInput: the file cannot be written (missing folder, no permission ...).
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if fmt == FileFormat.parquet:
            pq.write_table(table, path, compression="zstd")
        elif fmt == FileFormat.csv:
            pacsv.write_csv(_flatten_nested(table), path)
        else:
            rows = (
                json.dumps(r, default=_default) for b in table.to_batches() for r in b.to_pylist()
            )
            with path.open("w", encoding="utf-8") as out:
                if fmt == FileFormat.jsonl:
                    out.writelines(row + "\n" for row in rows)
                else:
                    out.write("[" + ",".join(f"\n{row}" for row in rows) + "\n]\n")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise InvalidInput(f"cannot write {path}: {reason}") from exc


class Output:
    """Where a command prints: ``out`` (stdout) for data, ``err`` (stderr) for diagnostics."""

    def __init__(self, fmt: Format | DocumentFormat = Format.table) -> None:
        self.format = Format(fmt.value)
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def is_json(self) -> bool:
        """JSON of either shape: one document (json) or one object per line (jsonl)."""
        return self.format in (Format.json, Format.jsonl)

    @property
    def is_csv(self) -> bool:
        return self.format == Format.csv

    def emit(
        self,
        data: Any,
        render: Callable[[Console], None],
        *,
        rows: Records | None = None,
        columns: Sequence[str] = (),
    ) -> None:
        """Print ``data`` as JSON, or as CSV, or let ``render`` draw it for a person.

        JSON lines print each item of a list on its own line, anything else on one line.
        CSV prints ``rows`` when given (the rows of the table ``render`` draws, when
        ``data`` holds more than those), else ``data``; ``columns`` is the header of an
        empty list. See ``csv_text``."""
        if self.format == Format.jsonl:
            items = data if isinstance(data, list) else [data]
            sys.stdout.writelines(
                json.dumps(item, default=_default, ensure_ascii=False) + "\n" for item in items
            )
            sys.stdout.flush()
        elif self.is_json:
            sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")
            sys.stdout.flush()
        elif self.is_csv:
            sys.stdout.write(csv_text(data if rows is None else rows, columns))
            sys.stdout.flush()
        else:
            render(self.out)

    def note(self, message: str) -> None:
        """A diagnostic: always on stderr, never mixed into data."""
        self.err.print(message)


def size_text(n: float) -> str:
    """Bytes for people, in decimal units as everywhere in icehouse's output
    (1 MB = 1,000,000 bytes), so that two commands never disagree on one file."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with its noun in the right number ("1 file", "2 files", "1,204 rows")."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
