"""One way to print: Rich for people, one JSON document on stdout for machines.

Diagnostics (progress, warnings, errors) go to stderr, so that ``--format json``
output can be piped straight into ``jq``. Times are ISO 8601 with an offset.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console

from icehouse.errors import InvalidInput


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


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


def write_file(table: pa.Table, path: Path, fmt: FileFormat) -> None:
    """Write rows to a file: Parquet keeps the Arrow types (zstd, as the lake's own files);
    JSON and JSON lines write values as ``--format json`` prints them.

    Raises:
        InvalidInput: the file cannot be written (missing folder, no permission ...).
    """
    try:
        if fmt == FileFormat.parquet:
            pq.write_table(table, path, compression="zstd")
        elif fmt == FileFormat.csv:
            pacsv.write_csv(table, path)
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
    def __init__(self, fmt: Format = Format.table) -> None:
        self.format = fmt
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def is_json(self) -> bool:
        return self.format == Format.json

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Print ``data`` as JSON, or let ``render`` draw it for a person."""
        if self.is_json:
            sys.stdout.write(json.dumps(data, default=_default, indent=2) + "\n")
            sys.stdout.flush()
        else:
            render(self.out)

    def note(self, message: str) -> None:
        """A diagnostic: always on stderr, never mixed into data."""
        self.err.print(message)
