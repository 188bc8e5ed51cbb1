"""Outages of the state database and the object store: tell them from bugs, ride them out.

A worker (``ingest --follow``, ``maintain run --follow``) must outlive a PostgreSQL
restart or an S3 store that is unreachable for a while: with twenty workers, one blip
would otherwise stop them all. So errors are sorted here, in one place:

- an *outage* is an error that says "the service is not answering now": a connection
  refused, reset or closed by the server, a server shutting down or starting up, too
  many clients, a timeout, an HTTP 5xx or throttling from S3. Retrying later can work.
- everything else (a missing table or file, a failed login, an integrity error, a bug)
  is not: retrying would repeat it, so it ends the command as before.

:func:`keep_running` retries a long-running command across outages with capped
exponential backoff, saying so in one line when the outage starts and one when it
ends; :func:`outages_as_errors` turns an outage met by a one-shot command into
:class:`~icehouse.errors.StateDatabaseUnavailable` or
:class:`~icehouse.errors.StorageUnavailable`, whose one-line message names the
service (never its password).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

from icehouse.errors import StateDatabaseUnavailable, StorageUnavailable

T = TypeVar("T")

logger = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0

# PostgreSQL SQLSTATEs of a server that went away or cannot take us now (class 08 is
# "connection exception" as a whole).
_PG_OUTAGE_STATES = {"57P01", "57P02", "57P03", "53300"}
# A connection attempt fails without a SQLSTATE; a FATAL answer is an outage only when
# the server says it is starting, stopping or full (not: no such database, bad password).
_PG_OUTAGE_FATALS = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "too many clients",
    "terminating connection due to administrator command",
)
# What the AWS SDK under pyarrow's S3 filesystem (and PyIceberg's FileIO on it) says
# when the endpoint does not answer, or answers "later" (5xx, throttling).
_S3_OUTAGE_MARKERS = (
    "NETWORK_CONNECTION",
    "curlCode: 6,",  # could not resolve host
    "curlCode: 7,",  # could not connect
    "curlCode: 28,",  # timeout
    "curlCode: 52,",  # empty reply
    "curlCode: 55,",  # send failure
    "curlCode: 56,",  # receive failure
    "SERVICE_UNAVAILABLE",
    "SLOW_DOWN",
    "THROTTLING",
    "REQUEST_TIMEOUT",
    "INTERNAL_FAILURE",
    "HTTP response code: 500",
    "HTTP response code: 502",
    "HTTP response code: 503",
    "HTTP response code: 504",
    "HTTP status 500",
    "HTTP status 502",
    "HTTP status 503",
    "HTTP status 504",
)

Service = Literal["state database", "storage"]


@dataclass(frozen=True)
class Outage:
    """What is unreachable, and the error's first line (for the log)."""

    service: Service
    detail: str


def classify(exc: BaseException) -> Outage | None:
    """The outage ``exc`` (or an exception it was raised ``from``) reports, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StateDatabaseUnavailable | StorageUnavailable):
            return Outage(current.service, current.detail)
        if _is_database_outage(current):
            return Outage("state database", _first_line(current))
        if _is_storage_outage(current):
            return Outage("storage", _first_line(current))
        current = current.__cause__
    return None


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` reports an outage: code that turns read errors into a verdict
    on the data (a file quarantined as unreadable) lets outages through instead."""
    return classify(exc) is not None


def _is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return exc.orig is not None and _is_driver_outage(exc.orig)
    return _is_driver_outage(exc)


def _is_driver_outage(exc: BaseException) -> bool:
    """psycopg's errors, and SQLite's "database is locked" outlasting the busy timeout."""
    module = type(exc).__module__
    if module.startswith("psycopg"):
        import psycopg  # an optional dependency: only here when the error came from it

        if isinstance(exc, psycopg.InterfaceError):
            return "closed" in str(exc) or "lost" in str(exc)
        if not isinstance(exc, psycopg.OperationalError):
            return False
        state = getattr(exc, "sqlstate", None)
        if state is not None:
            return state.startswith("08") or state in _PG_OUTAGE_STATES
        text = str(exc)
        return "FATAL:" not in text or any(f in text for f in _PG_OUTAGE_FATALS)
    if module == "sqlite3":
        return "database is locked" in str(exc)
    return False


def _is_storage_outage(exc: BaseException) -> bool:
    if not isinstance(exc, OSError):
        return False
    if isinstance(exc, ConnectionError | TimeoutError):
        return True  # refused, reset, aborted, broken pipe, timed out (a socket's own)
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    text = str(exc)
    return any(marker in text for marker in _S3_OUTAGE_MARKERS)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        # SQLAlchemy wraps the driver's message as "(psycopg.OperationalError) connection ..."
        line = line.strip()
        if line:
            return line[:300]
    return type(exc).__name__


def safe_url(url: str) -> str:
    """A database URL fit to print: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: print nothing of it
        return "(the configured state_url)"


@contextmanager
def outages_as_errors(*, state_url: str, storage: str) -> Iterator[None]:
    """Re-raise an outage as StateDatabaseUnavailable or StorageUnavailable (from it).

    ``storage`` names the object store for the message (an endpoint or a location)."""
    try:
        yield
    except (StateDatabaseUnavailable, StorageUnavailable):
        raise
    except Exception as exc:
        outage = classify(exc)
        if outage is None:
            raise
        if outage.service == "state database":
            raise StateDatabaseUnavailable(safe_url(state_url), detail=outage.detail) from exc
        raise StorageUnavailable(storage, detail=outage.detail) from exc


def keep_running(
    attempt: Callable[[Callable[[], None]], T],
    *,
    stop: threading.Event,
    say: Callable[[str], None] = logger.warning,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """Call ``attempt(working)`` until it returns; after an outage, wait and call it again.

    ``attempt`` must be safe to start over (the ingester first recovers the batch it
    abandoned; the autopilot plans from the tables as they are) and calls ``working()``
    whenever it got through a round of work, which is how an outage is known to be over
    when the attempt itself runs on (``ingest --follow`` returns only when stopped).

    Waits grow 1, 2, 4 … up to 30 s and end at once when ``stop`` is set (then None is
    returned). One line is said when an outage begins and one when it is over, however
    many attempts it took; any error that is not an outage ends the loop unchanged.
    """
    wait = BACKOFF_FIRST_S
    began: float | None = None

    def working() -> None:
        nonlocal began, wait
        if began is not None:
            say(f"back after {clock() - began:.0f} s; going on")
            began, wait = None, BACKOFF_FIRST_S

    while True:
        try:
            result = attempt(working)
        except Exception as exc:
            outage = classify(exc)
            if outage is None:
                raise
            if began is None:
                began = clock()
                say(f"{outage.service} unreachable ({outage.detail}); retrying in {wait:g} s")
            if stop.wait(wait):
                return None
            wait = min(wait * 2, BACKOFF_MAX_S)
            continue
        working()
        return result
