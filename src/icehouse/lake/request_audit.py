"""The audit trail of a server's requests: each request's records gathered while it
runs and written before its answer is sent.

The writes of requests that finish at the same moment share one transaction (group
commit): a request hands its trail to the server's writer thread and waits; the thread
takes every trail waiting and writes them together. Under concurrent load that is far
fewer transactions than requests, and never more than one per request; a request's
answer still leaves only once its records are in the database.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from icehouse.govern.audit import AuditTrail, trail_scope
from icehouse.state.audit import AuditRow, write_rows

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from icehouse.lake import Lake

IDLE_SECONDS = 5.0
"""The writer thread ends after this long without work (and starts again on demand)."""

Waiting = tuple[AuditTrail, asyncio.AbstractEventLoop, asyncio.Future[None]]
"""A request's trail, and the loop and future its request awaits the write on."""


class AuditWriter:
    """A server's writer of request trails (one per app, over the app's lake)."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._waiting: queue.SimpleQueue[Waiting] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def write(self, trail: AuditTrail) -> None:
        """Write ``trail``'s records, with those of the requests waiting beside it.

        Raises: StateDatabaseUnavailable (the write failed: the records are not kept)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.put((trail, loop, done))
        self._ensure_thread()  # after the put: a thread about to end sees the trail
        await done

    def _ensure_thread(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                batch = [self._waiting.get(timeout=IDLE_SECONDS)]
            except queue.Empty:
                with self._starting:
                    if self._waiting.empty():
                        self._thread = None
                        return
                continue
            while not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            error = self._write([row for trail, _, _ in batch for row in trail.take()])
            waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _, loop, done in batch:
                waiting.setdefault(loop, []).append(done)
            for loop, futures in waiting.items():  # one wake-up of each loop per batch
                loop.call_soon_threadsafe(_settle, futures, error)

    def _write(self, rows: list[AuditRow]) -> BaseException | None:
        lake = self._lake
        try:
            with lake.outages_as_errors(), lake._audit_writes:
                write_rows(lake._engine, rows)
        except Exception as exc:  # handed to every waiting request, which raises it
            return exc
        return None


def _settle(waiting: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in waiting:
        if done.cancelled():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


class RequestAudit:
    """The audit trail of one server request: current while the request runs (in every
    thread serving it), written by ``write`` before the answer is sent."""

    def __init__(self, writer: AuditWriter) -> None:
        self._writer = writer
        self._trail = AuditTrail()
        self._scope: AbstractContextManager[AuditTrail] = trail_scope(self._trail)

    def __enter__(self) -> RequestAudit:
        self._scope.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._scope.__exit__(kind, exc, traceback)

    @property
    def pending(self) -> bool:
        """Whether records wait to be written."""
        return self._trail.pending

    async def write(self) -> None:
        """Write the request's records (in one transaction, maybe with other requests').

        Raises: StateDatabaseUnavailable."""
        await self._writer.write(self._trail)
