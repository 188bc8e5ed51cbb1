"""Namespaces in URLs: levels joined by the unit separator (``%1F``), as the REST spec
and PyIceberg write them."""

from __future__ import annotations

from icehouse.errors import InvalidInput

SEPARATOR = "\x1f"


def namespace_from_path(text: str) -> tuple[str, ...]:
    """Raises: InvalidInput (an empty level)."""
    levels = tuple(text.split(SEPARATOR))
    if not all(levels):
        raise InvalidInput(f"namespace {text!r} has an empty level")
    return levels
