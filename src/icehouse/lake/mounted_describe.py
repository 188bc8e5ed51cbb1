"""A mounted table's description as a principal that reads it through grants sees it:
the columns its access shows, and the layout (partition fields, sort order) of those
columns only, so that no name of a hidden column reaches it.

A principal that may describe the table but read none of it sees every column, as a
listing of the tables it may describe shows them (``query/listing.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.schema import Schema

    from icehouse.govern.access import TableAccess
    from icehouse.tables.manage import TableInfo


def shown_to(info: TableInfo, access: TableAccess, schema: Schema) -> TableInfo:
    """``info`` (of a table whose current schema is ``schema``) without what ``access``
    hides."""
    from icehouse.query.masking import visible_columns

    if access.denied or access.unrestricted:
        return info
    shown = set(visible_columns(access, schema))
    hidden = {f.name for f in schema.fields} - shown
    return replace(
        info,
        schema=[c for c in info.schema if c["name"] in shown],
        partition_specs=[
            {**spec, "fields": [f for f in spec["fields"] if _source(f) not in hidden]}
            for spec in info.partition_specs
        ],
        sort_order=[f for f in info.sort_order if f.split(" ", 1)[0] not in hidden],
    )


def _source(partition_field: str) -> str:
    """The column a described partition field reads: ``day(ts)`` → ``ts``, ``country`` →
    ``country``."""
    opened = partition_field.find("(")
    return partition_field if opened < 0 else partition_field[opened + 1 : -1]
