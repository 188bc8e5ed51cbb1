"""The audit trail of one request or command: its decisions and queries, gathered as
they happen and written to the state database together, in one transaction.

Writing each record as it happens would cost a transaction per decision (a catalog
request makes several); gathering them costs one per request. A trail is the current
one of a context (``ContextVar``), so every thread and task that serves a request adds
to that request's trail: the server opens one per request and writes it before the
answer is sent; elsewhere, the outermost ``Lake`` method opens one and writes it when it
returns (or raises).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine

from icehouse.govern.authz import Principal, Resource
from icehouse.state.audit import AuditRow, write_rows

QUIET_ACTIONS = frozenset(
    {"lake.connect", "lake.close", "principal.authenticate", "principal.assume", "audit.export"}
)
"""Actions whose *allowed* decisions are not recorded: opening and closing connections,
the server checking a token and taking on its principal, and the export of the trail
itself. They reveal and change nothing of the lake's data, every request would record
them again, and an export that recorded itself would always leave one more record to
export. A denial of one of them is recorded like any other."""

_CURRENT: ContextVar[AuditTrail | None] = ContextVar("icehouse_audit_trail", default=None)


class AuditTrail:
    """The records of one request or command, written by ``write``."""

    def __init__(self) -> None:
        self.request_id = uuid.uuid4().hex
        self._rows: list[AuditRow] = []

    @property
    def pending(self) -> bool:
        return bool(self._rows)

    def decision(
        self,
        principal: Principal,
        action: str,
        resource: Resource,
        *,
        denied: str | None,
        filters: Sequence[str] = (),
        because: str | None = None,
    ) -> None:
        """Record that ``principal`` was allowed ``action`` on ``resource`` (``denied``
        None) or refused it, ``denied`` saying why; ``filters``: what an allowed read
        went through (data filters, column grants); ``because``: why it was allowed,
        when not by the principal's own rights (a view's definer's)."""
        if denied is None and action in QUIET_ACTIONS:
            return
        self._rows.append(
            AuditRow(
                at=time.time(),
                request_id=self.request_id,
                kind="decision",
                principal=principal.name,
                action=action,
                resource=str(resource),
                allowed=denied is None,
                reason=denied if denied is not None else because or _allowed_because(principal),
                filters=tuple(filters),
                tenant=principal.tenant,
            )
        )

    def query(
        self,
        principal: Principal,
        statement: str,
        *,
        tables: Sequence[str],
        rows: int | None,
        seconds: float,
        filters: Sequence[str] = (),
        error: str | None = None,
    ) -> None:
        """Record a query ``principal`` ran: the tables it read, the rows it returned
        (None when it failed, ``error`` saying why) and how long it took."""
        self._rows.append(
            AuditRow(
                at=time.time(),
                request_id=self.request_id,
                kind="query",
                principal=principal.name,
                action="query.run",
                resource=", ".join(tables),
                allowed=True,
                reason=error,
                filters=tuple(filters),
                statement=statement,
                tables=tuple(tables),
                rows=rows,
                seconds=seconds,
                tenant=principal.tenant,
            )
        )

    def take(self) -> list[AuditRow]:
        """What was recorded since the last ``take`` or ``write``, leaving the trail:
        should writing them fail, the request fails with it rather than write them
        twice."""
        rows, self._rows = self._rows, []
        return rows

    def write(self, engine: Engine) -> None:
        """Write what was recorded since the last write, in one transaction."""
        rows = self.take()
        if rows:
            write_rows(engine, rows)


def current_trail() -> AuditTrail | None:
    """The trail of the request or command running in this context, if one is open."""
    return _CURRENT.get()


@contextmanager
def trail_scope(trail: AuditTrail) -> Iterator[AuditTrail]:
    """Make ``trail`` the current one within the block (and in the threads and tasks
    started from it, which copy the context)."""
    token = _CURRENT.set(trail)
    try:
        yield trail
    finally:
        _CURRENT.reset(token)


def _allowed_because(principal: Principal) -> str:
    return "administrator" if principal.admin else "granted"
