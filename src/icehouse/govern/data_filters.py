"""Named data filters on one table: the rows (a stored predicate) and the columns (by
field id) a grant on the filter shows."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from icehouse.errors import DataFilterAlreadyExists, InvalidInput, NoSuchDataFilter
from icehouse.govern import store
from icehouse.govern.objects import SecurableKind
from icehouse.govern.records import Target
from icehouse.state import models


def create_data_filter(
    engine: Engine,
    name: str,
    table_uuid: str,
    *,
    row_filter: dict[str, Any] | None,
    column_mode: str,
    field_ids: Sequence[int],
    created_by: str,
) -> None:
    """Raises: DataFilterAlreadyExists, InvalidInput (an empty name)."""
    if not name.strip():
        raise InvalidInput("a data filter needs a name")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(models.data_filters).values(
                    name=name,
                    table_uuid=table_uuid,
                    row_filter=None if row_filter is None else json.dumps(row_filter),
                    column_mode=column_mode,
                    field_ids=json.dumps(sorted(field_ids)),
                    created_by=created_by,
                    created_at=time.time(),
                )
            )
            store.bump(conn)
    except IntegrityError:
        raise DataFilterAlreadyExists(
            f"data filter {name!r} already exists", data_filter=name
        ) from None


def drop_data_filter(engine: Engine, name: str, locate: store.Locate) -> None:
    """Drop a data filter and the grants on it. Raises: NoSuchDataFilter."""
    f, g = models.data_filters, models.grants
    with engine.begin() as conn:
        found = conn.execute(select(f.c.id).where(f.c.name == name)).scalar()
        if found is None:
            raise NoSuchDataFilter(f"no data filter {name!r}", data_filter=name)
        conn.execute(delete(f).where(f.c.id == found))
        conn.execute(
            delete(g).where(*store.on_target(Target(SecurableKind.DATA_FILTER, str(found))))
        )
        store.cascade(conn, locate)
        store.bump(conn)


def data_filter_id(engine: Engine, name: str) -> int:
    """Raises: NoSuchDataFilter."""
    f = models.data_filters
    with engine.connect() as conn:
        found = conn.execute(select(f.c.id).where(f.c.name == name)).scalar()
    if found is None:
        raise NoSuchDataFilter(f"no data filter {name!r}", data_filter=name)
    return int(found)
