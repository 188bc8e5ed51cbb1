"""Listing marks (``ingest_listing_marks``): where an ordered listing of a source goes on.

A mark is written only after the files a poll listed up to it are registered in the
queue, so that a process that dies in between leaves the old mark and the next poll,
by any worker on any host, lists those files again instead of skipping them. Workers
polling one source at once may write their marks in either order; each mark is safe
on its own (its writer registered everything up to it), and one that goes back only
costs a poll some keys listed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.state.models import listing_marks


@dataclass(frozen=True)
class ListingMark:
    """The location listed, the greatest path registered there (None: a listing found
    nothing yet) and when the source was last listed whole, on the ingester's clock."""

    location: str
    high_water: str | None
    full_listed_at: float


class ListingMarks:
    """Owns ``ingest_listing_marks``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, source: str) -> ListingMark | None:
        """The source's mark; None before its first listing was registered."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(
                    listing_marks.c.location,
                    listing_marks.c.high_water,
                    listing_marks.c.full_listed_at,
                ).where(listing_marks.c.source == source)
            ).first()
        if row is None:
            return None
        return ListingMark(row.location, row.high_water, float(row.full_listed_at))

    def put(self, source: str, mark: ListingMark) -> None:
        """Store ``mark`` as the source's, in place of whatever mark it had."""
        values = {
            "location": mark.location,
            "high_water": mark.high_water,
            "full_listed_at": mark.full_listed_at,
        }
        for _ in range(2):  # a peer may insert the first mark between our two statements
            with self._engine.begin() as conn:
                changed = conn.execute(
                    update(listing_marks).where(listing_marks.c.source == source).values(values)
                ).rowcount
                if changed:
                    return
            try:
                with self._engine.begin() as conn:
                    conn.execute(listing_marks.insert().values(source=source, **values))
                return
            except IntegrityError:
                continue
