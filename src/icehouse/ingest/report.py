"""What an ingestion run did, for people (Rich) and machines (JSON)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass
class IngestReport:
    batches: int = 0
    files: int = 0
    rows: int = 0
    bad_rows: int = 0
    late_rows: int = 0
    quarantined_files: int = 0
    duplicate_files: int = 0
    recopied_files: int = 0
    """Same path, same content as its committed version: nothing to take."""
    changed_files: int = 0
    """Same path, other content (neither a re-copy nor an append): per ``on_change``."""
    appended_files: int = 0
    """Plain line-oriented files that grew: their new lines were taken."""
    bytes_read: int = 0
    data_files: int = 0
    bytes_written: int = 0
    recovered_committed: int = 0
    recovered_aborted: int = 0
    seconds: float = 0.0
    commit_seconds: float = 0.0
    snapshots: list[int] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def measure(self, step: str) -> Iterator[None]:
        """Adds the time spent in ``step`` to ``timings`` (where the seconds went)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - started

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}


class IngestProgress(Protocol):
    """Told about every file and batch; the CLI draws Rich progress from it."""

    def file_started(self, source: str, path: str, size: int) -> None: ...

    def file_finished(
        self, source: str, path: str, rows: int, bad_rows: int, outcome: str
    ) -> None: ...

    def batch_committed(
        self, table: str, rows: int, files: int, seconds: float, lag: float | None
    ) -> None:
        """A batch committed ``rows`` in ``files`` data files, its commit taking
        ``seconds``; ``lag`` is how long its oldest source file had landed before (None
        for a batch of no file)."""


class NoProgress:
    def file_started(self, source: str, path: str, size: int) -> None:
        pass

    def file_finished(self, source: str, path: str, rows: int, bad_rows: int, outcome: str) -> None:
        pass

    def batch_committed(
        self, table: str, rows: int, files: int, seconds: float, lag: float | None
    ) -> None:
        pass
