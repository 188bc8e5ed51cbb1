"""Namespaces in URLs and bodies: levels joined by the unit separator (``%1F``) in a
URL, as the REST spec and PyIceberg write them, or a JSON list in a body."""

from __future__ import annotations

from collections.abc import Sequence

from icehouse.errors import InvalidInput

SEPARATOR = "\x1f"


def namespace_from_path(text: str) -> tuple[str, ...]:
    """Raises: InvalidInput (an empty or blank level)."""
    return checked_levels(text.split(SEPARATOR))


def checked_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """``levels`` as a namespace, refused here rather than by the catalog below, which
    cannot store an empty or blank level and fails on one with a bare ``ValueError``.

    Raises: InvalidInput (an empty or blank level)."""
    if not all(level.strip() for level in levels):
        raise InvalidInput(f"namespace {'.'.join(levels)!r} has an empty or blank level")
    return tuple(levels)
