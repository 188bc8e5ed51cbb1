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

from sqlalchemy import Engine, and_, select

from icehouse.state.models import files

NAMES_PER_QUERY = 500
"""Paths in one ``IN (...)`` lookup: far below every driver's limit on bound values."""

PATHS_PER_RANGE = 5_000
"""Sorted listed paths one range query covers: a million listed paths are 200 queries,
and one range's rows are a few hundred kilobytes in memory."""

States = dict[str, dict[str, str]]
"""{path: {fingerprint: state}} of the versions the ledger holds."""


def by_name(engine: Engine, source: str, paths: Sequence[str]) -> States:
    """The ledger's versions of ``paths``, looked up by name, ``NAMES_PER_QUERY`` a query."""
    states: States = {}
    for start in range(0, len(paths), NAMES_PER_QUERY):
        with engine.connect() as conn:
            rows = conn.execute(
                select(files.c.path, files.c.fingerprint, files.c.state).where(
                    and_(
                        files.c.source == source,
                        files.c.path.in_(paths[start : start + NAMES_PER_QUERY]),
                    )
                )
            )
            for path, fingerprint, state in rows:
                states.setdefault(path, {})[fingerprint] = state
    return states


def by_range(
    engine: Engine, source: str, paths: Sequence[str], *, per_range: int = PATHS_PER_RANGE
) -> States:
    """The ledger's versions of ``paths`` (sorted; a path given twice costs nothing
    more), ``per_range`` paths a query.

    A path its range did not return is looked up again by name: it is new (a full
    listing finds a few), or the database orders text unlike Python (a PostgreSQL
    database created with a language's collation, where ``a`` sorts before ``B``), so
    that the path fell outside its run's bounds there. The ranges' result is then
    exact whatever the collation; they cost only what a listing in the database's own
    order would cost when the orders agree, as SQLite's and a ``C`` collation's do."""
    states: States = {}
    unreturned: list[str] = []
    for start in range(0, len(paths), per_range):
        run = paths[start : start + per_range]
        wanted = set(run)
        with engine.connect() as conn:
            rows = conn.execute(
                select(files.c.path, files.c.fingerprint, files.c.state).where(
                    and_(
                        files.c.source == source,
                        files.c.path >= run[0],
                        files.c.path <= run[-1],
                    )
                )
            )
            for path, fingerprint, state in rows:
                if path in wanted:
                    states.setdefault(path, {})[fingerprint] = state
        unreturned.extend(path for path in run if path not in states)
    states.update(by_name(engine, source, unreturned))
    return states
