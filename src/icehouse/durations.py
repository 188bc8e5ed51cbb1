"""Durations as people write them: ``30s``, ``10m``, ``12h``, ``7d`` (also ``250ms``)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from icehouse.errors import InvalidDuration

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(text: str | int | float) -> timedelta:
    """Parse a duration; a bare number means seconds (what TOML users type first).

    Raises:
        InvalidDuration: the text is neither a number nor ``<number><unit>``.
    """
    if isinstance(text, int | float):
        return _checked(float(text), text)
    match = _PATTERN.match(text)
    if match is None:
        try:
            seconds = float(text)
        except ValueError:
            raise InvalidDuration(_help(text)) from None
        return _checked(seconds, text)
    value, unit = match.groups()
    return _checked(float(value) * _UNITS[unit], text)


def _help(text: object) -> str:
    return f"cannot read duration {text!r}: write a number and a unit, e.g. 30s, 10m, 12h or 7d"


def _checked(seconds: float, text: object) -> timedelta:
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidDuration(_help(text))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling, so that ``parse_duration(format_duration(x)) == x``."""
    seconds = delta.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"
