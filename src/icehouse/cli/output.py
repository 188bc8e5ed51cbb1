"""One way to print: Rich for people, one JSON document on stdout for machines.

Diagnostics (progress, warnings, errors) go to stderr, so that ``--format json``
output can be piped straight into ``jq``. Times are ISO 8601 with an offset.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from rich.console import Console


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
