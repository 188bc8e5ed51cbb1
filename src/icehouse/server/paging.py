"""Pagination of list answers (``pageToken`` / ``pageSize``).

A page token is the last key of the previous page, encoded: the next page starts after
it, so a namespace or table created or dropped between two pages shifts nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from icehouse.errors import InvalidInput

T = TypeVar("T")


def page(
    items: Sequence[T], key: Callable[[T], str], *, token: str | None, size: int | None
) -> tuple[list[T], str | None]:
    """The page after ``token`` of ``items`` (sorted by ``key``) and the next token (None
    on the last page). Raises: InvalidInput (a token this server did not hand out)."""
    after = _decode(token) if token else None
    rest = [item for item in items if after is None or key(item) > after]
    if size is None or len(rest) <= size:
        return rest, None
    chosen = rest[:size]
    return chosen, base64.urlsafe_b64encode(key(chosen[-1]).encode()).decode()


def _decode(token: str) -> str:
    try:
        key = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    if not key:
        raise InvalidInput(f"pageToken {token!r} is not a token this server handed out")
    return key
