"""Which versions of listed paths ``ingest_files`` holds, read fresh: by name for a few
paths, by ranges of sorted paths for a listing of many.

A lookup by name costs a query per 500 paths whatever the ledger holds. A listing of a
million paths is checked instead a range at a time: its sorted paths are cut into runs
of a few thousand, and each run is one query for the ledger's rows between its first
and last path, an index range scan on ``(source, path, fingerprint)``, compared in
memory. The rows between two listed paths that were not listed (deleted from the
landing location since) come back too and are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine, and_, null, select
from sqlalchemy.sql import Select

from icehouse.state.models import files

if TYPE_CHECKING:  # landing lists object stores with pyarrow.fs; the ledger needs no pyarrow
    from icehouse.ingest.landing import LandedFile

NAMES_PER_QUERY = 500
"""Paths in one ``IN (...)`` lookup: far below every driver's limit on bound values."""

PATHS_PER_RANGE = 5_000
"""Sorted listed paths one range query covers: a million listed paths are 200 queries,
and one range's rows are a few hundred kilobytes in memory."""

States = dict[str, dict[str, str | None]]
"""{path: {fingerprint: state}} of the versions the ledger holds (the state None unless
asked for)."""

Held = dict[str, str | None]
"""{path: state} of the listed versions the ledger holds; the state is None unless asked
for (reading it costs SQLite a visit to each row besides the index)."""


def by_name(engine: Engine, source: str, paths: Sequence[str], *, states: bool = False) -> States:
    """The ledger's versions of ``paths``, looked up by name, ``NAMES_PER_QUERY`` a query."""
    found: States = {}
    for start in range(0, len(paths), NAMES_PER_QUERY):
        with engine.connect() as conn:
            rows = conn.execute(
                _versions(states).where(
                    and_(
                        files.c.source == source,
                        files.c.path.in_(paths[start : start + NAMES_PER_QUERY]),
                    )
                )
            )
            for path, fingerprint, state in rows:
                found.setdefault(path, {})[fingerprint] = state
    return found


def held_by_name(
    engine: Engine, source: str, listed: Sequence[LandedFile], *, states: bool = False
) -> Held:
    """Which of ``listed`` the ledger holds, in the version listed, looked up by name:
    what a few paths spread over a large ledger cost least."""
    versions = by_name(engine, source, [f.path for f in listed], states=states)
    return {
        f.path: versions[f.path][f.fingerprint]
        for f in listed
        if f.fingerprint in versions.get(f.path, {})
    }


def held(
    engine: Engine,
    source: str,
    listed: Sequence[LandedFile],
    *,
    per_range: int = PATHS_PER_RANGE,
    states: bool = False,
) -> Held:
    """Which of ``listed`` (sorted by path, each path once) the ledger holds, in the
    version listed: by name for up to ``per_range`` files, else ``per_range`` a query.

    A path its range did not return is looked up again by name: it is new (a full
    listing finds a few), or the database orders text unlike Python (a PostgreSQL
    database created with a language's collation, where ``a`` sorts before ``B``), so
    that the path fell outside its run's bounds there. The answer is then exact
    whatever the collation; the ranges cost what they should when the orders agree, as
    SQLite's and a ``C`` collation's do."""
    if len(listed) <= per_range:
        return held_by_name(engine, source, listed, states=states)
    found: Held = {}
    unreturned: list[LandedFile] = []
    for start in range(0, len(listed), per_range):
        run = listed[start : start + per_range]
        with engine.connect() as conn:
            rows = conn.execute(
                _versions(states).where(
                    and_(
                        files.c.source == source,
                        files.c.path >= run[0].path,
                        files.c.path <= run[-1].path,
                    )
                )
            ).all()
        versions = {(path, fingerprint): state for path, fingerprint, state in rows}
        returned = {path for path, _, _ in rows}
        for f in run:
            version = (f.path, f.fingerprint)
            if version in versions:
                found[f.path] = versions[version]
            elif f.path not in returned:
                unreturned.append(f)
    found.update(held_by_name(engine, source, unreturned, states=states))
    return found


def _versions(states: bool) -> Select[str, str, str | None]:
    """(path, fingerprint, state or NULL): the first two are in the index on ``(source,
    path, fingerprint)``, which answers the query alone when the state is not asked."""
    state = files.c.state if states else null()
    return select(files.c.path, files.c.fingerprint, state.label("state"))
