"""The app as uvicorn's worker processes build it: ``icehouse serve --workers N`` runs
``uvicorn.run("icehouse.server.factory:app", factory=True, workers=N)``, and each worker
calls ``app()`` in its own process.

A worker cannot be handed an open ``Lake`` (its connections belong to the parent), so
each opens the home itself, from what ``serve`` put in the environment. Nothing a
request relies on lives in one process: tokens, idempotency keys, metrics reports and
every commit's compare-and-swap are in the state database, and an ETag is derived from
the metadata file's location, so any worker answers any request alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import FastAPI

from icehouse.lake import Lake, faults_from_env
from icehouse.server.app import PREFIX, create_app

HOME_VARIABLE = "ICEHOUSE_HOME"
"""The lake home to serve (the variable every command reads its default home from)."""
PREFIX_VARIABLE = "ICEHOUSE_SERVE_PREFIX"
"""The catalog prefix ``/v1/config`` hands out (default ``icehouse``)."""
ANONYMOUS_VARIABLE = "ICEHOUSE_SERVE_ANONYMOUS"
"""``1`` lets a request without a token act as the lake's owner (``--allow-anonymous``)."""
AUDIT_EXPORT_VARIABLE = "ICEHOUSE_SERVE_AUDIT_EXPORT_EVERY"
"""Seconds between exports of the audit trail (``--audit-export-every``); unset: never.
Every worker exports; the export's lease lets one at a time work."""


def serve_environment(
    home: str, *, prefix: str, allow_anonymous: bool, audit_export_every: float
) -> dict[str, str]:
    """What ``app()`` reads, for ``serve`` to set before it starts uvicorn."""
    return {
        HOME_VARIABLE: home,
        PREFIX_VARIABLE: prefix,
        ANONYMOUS_VARIABLE: "1" if allow_anonymous else "0",
        AUDIT_EXPORT_VARIABLE: repr(audit_export_every),
    }


def app(environ: Mapping[str, str] = os.environ) -> FastAPI:
    """The catalog over the home ``environ`` names, on a ``Lake`` this process opens and
    the app closes when the worker stops.

    Raises: HomeNotFound, InvalidConfig, StateError, StateDatabaseUnavailable (as
    ``Lake.open``; ``serve`` opened the same home first, so these mean it changed since)."""
    lake = Lake.open(environ.get(HOME_VARIABLE), faults=faults_from_env(environ))
    return create_app(
        lake,
        prefix=environ.get(PREFIX_VARIABLE, PREFIX),
        allow_anonymous=environ.get(ANONYMOUS_VARIABLE) == "1",
        audit_export_every=float(every) if (every := environ.get(AUDIT_EXPORT_VARIABLE)) else None,
        close_lake=True,
    )
