"""Tag keys with their allowed values, and tags on namespaces, tables and columns (one
value per key and object): what grants on tag expressions match."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.errors import InvalidInput, InvalidTagValue, NoSuchTag, TagAlreadyExists
from icehouse.govern import store
from icehouse.govern.objects import SecurableKind
from icehouse.govern.records import Target, tag_expression
from icehouse.state import models


def create_tag(engine: Engine, key: str, values: Sequence[str]) -> None:
    """Raises: TagAlreadyExists, InvalidInput (no key or no values)."""
    if not key.strip() or not values:
        raise InvalidInput(f"a tag needs a key and at least one value (got {key!r}: {values!r})")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(models.tag_keys).values(
                    key=key,
                    allowed_values=json.dumps(list(dict.fromkeys(values))),
                    created_at=time.time(),
                )
            )
            store.bump(conn)
    except IntegrityError:
        raise TagAlreadyExists(f"tag {key!r} already exists", key=key) from None


def drop_tag(engine: Engine, key: str, locate: store.Locate) -> None:
    """Drop a tag key, its assignments and the grants on expressions naming it (they
    could match nothing any more). Raises: NoSuchTag."""
    t, a, g = models.tag_keys, models.tag_assignments, models.grants
    with engine.begin() as conn:
        _allowed_values(conn, key)
        conn.execute(delete(t).where(t.c.key == key))
        conn.execute(delete(a).where(a.c.key == key))
        tag_grants = conn.execute(
            select(g.c.id, g.c.securable_key).where(g.c.securable_kind == SecurableKind.TAG.value)
        ).all()
        naming = [i for i, k in tag_grants if key in dict(tag_expression(k))]
        if naming:
            conn.execute(delete(g).where(g.c.id.in_(naming)))
        store.cascade(conn, locate)
        store.bump(conn)


def set_tag(engine: Engine, on: Target, key: str, value: str) -> None:
    """Tag a namespace, table or column (``on``), replacing its value of ``key``.

    Raises: NoSuchTag, InvalidTagValue."""
    a = models.tag_assignments
    with engine.begin() as conn:
        allowed = _allowed_values(conn, key)
        if value not in allowed:
            raise InvalidTagValue(
                f"tag {key!r} allows {', '.join(repr(v) for v in allowed)}, not {value!r}",
                key=key,
                value=value,
            )
        where = _tag_row(on, key)
        if conn.execute(update(a).where(*where).values(value=value)).rowcount == 0:
            conn.execute(
                insert(a).values(
                    object_kind=_tag_kind(on).value,
                    object_key=on.key,
                    field_id=on.field_id,
                    key=key,
                    value=value,
                )
            )
        store.bump(conn)


def unset_tag(engine: Engine, on: Target, key: str, locate: store.Locate) -> None:
    """Raises: NoSuchTag (the key does not exist)."""
    with engine.begin() as conn:
        _allowed_values(conn, key)
        conn.execute(delete(models.tag_assignments).where(*_tag_row(on, key)))
        store.cascade(conn, locate)
        store.bump(conn)


def list_tags(engine: Engine) -> list[tuple[str, list[str]]]:
    t = models.tag_keys
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.key, t.c.allowed_values).order_by(t.c.key)).all()
    return [(key, json.loads(values)) for key, values in rows]


def _allowed_values(conn: Connection, key: str) -> list[str]:
    t = models.tag_keys
    found = conn.execute(select(t.c.allowed_values).where(t.c.key == key)).scalar()
    if found is None:
        raise NoSuchTag(f"no tag {key!r}; create it with CREATE TAG {key} VALUES (...)", key=key)
    return list(json.loads(found))


def _tag_kind(on: Target) -> SecurableKind:
    return SecurableKind.NAMESPACE if on.kind is SecurableKind.NAMESPACE else SecurableKind.TABLE


def _tag_row(on: Target, key: str) -> list[Any]:
    a = models.tag_assignments
    return [
        a.c.object_kind == _tag_kind(on).value,
        a.c.object_key == on.key,
        a.c.field_id == on.field_id,
        a.c.key == key,
    ]
