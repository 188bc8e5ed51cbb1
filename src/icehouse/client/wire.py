"""The query API's wire format, shared by the server that answers and the clients that
ask, so that the two cannot drift apart.

``POST /api/v1/query`` with ``{"sql": ..., "format": "arrow" | "json", "explain": bool}``
answers with an Arrow IPC stream (the default: every Arrow type, time zones and decimal
precision included, arrives as it left) or with JSON, ``{"columns": [{"name", "type"}],
"rows": [[...], ...]}``, whose values are those JSON can hold. Plans asked for with
``explain`` travel in the JSON body's ``"explain"``, or in the Arrow stream's schema
metadata under ``icehouse.explain``: the body carries them, whatever their size, where a
header could be cut off by a proxy's limit.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any

QUERY_PATH = "/api/v1/query"
TOKEN_PATH = "/v1/oauth/tokens"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
JSON = "application/json"
FORMATS = {"arrow": ARROW_STREAM, "json": JSON}
"""The body's ``format`` -> the media type of the answer (and of ``Accept``)."""
EXPLAIN_KEY = b"icehouse.explain"


def arrow_stream(table: Any, explain: dict[str, Any] | None = None) -> bytes:
    """``table`` as Arrow IPC stream bytes, with ``explain`` (JSON) in its schema's
    metadata when given."""
    import pyarrow as pa

    if explain is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[EXPLAIN_KEY] = json.dumps(explain).encode()
        table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_arrow_stream(data: bytes) -> tuple[Any, dict[str, Any] | None]:
    """The table of an Arrow IPC stream, and the plans it carried (None without them).

    The plans are taken out of the table's metadata, so that a table returned to a
    caller is the query's rows and nothing else."""
    import pyarrow as pa

    table = pa.ipc.open_stream(data).read_all()
    metadata = dict(table.schema.metadata or {})
    carried = metadata.pop(EXPLAIN_KEY, None)
    if carried is None:
        return table, None
    explain: dict[str, Any] = json.loads(carried)
    return table.replace_schema_metadata(metadata or None), explain


def json_document(table: Any, explain: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"columns": [{"name", "type"}], "rows": [[...]]}`` (plus ``"explain"``): rows
    as arrays, so that two columns of one name both arrive."""
    document: dict[str, Any] = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "rows": [
            [json_value(value) for value in row]
            for batch in table.to_batches()
            for row in zip(*(column.to_pylist() for column in batch.columns), strict=True)
        ],
    }
    if explain is not None:
        document["explain"] = explain
    return document


def json_value(value: Any) -> Any:
    """A cell as JSON holds it: times and dates in ISO 8601 (an offset only where the
    type has a time zone), decimals as strings (a JSON number would round them),
    binary as base64, NaN and the infinities as strings (JSON has no such numbers),
    nested values element by element; anything else (intervals) as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)
