"""Where a table or view may live: a URL (``s3://...``, ``file:///...``) or an absolute
path, given when it is created or moved by a ``set-location`` update.

A relative location would be resolved against the working directory of whichever
process writes next (the server, a maintenance worker), wherever it was started: the
files would land somewhere else each time, possibly outside every warehouse.
"""

from __future__ import annotations

from urllib.parse import urlparse

from icehouse.errors import InvalidInput


def checked_location(location: str | None) -> str | None:
    """``location`` unchanged when it is a URL, an absolute path or None (for one under
    the warehouse).

    Raises: InvalidInput (a relative location)."""
    if location and not (urlparse(location).scheme or location.startswith("/")):
        raise InvalidInput(
            f"location {location!r} is relative; give a URL (s3://..., file:///...) or an "
            "absolute path, or leave it out for one under the warehouse"
        )
    return location
