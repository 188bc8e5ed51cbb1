"""What the files of one batch share, handed to each file's ingest as one value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.table import Table

from icehouse.config import SourceConfig
from icehouse.ingest.late_rows import LateRows
from icehouse.ingest.ledger import Batch, Ledger
from icehouse.ingest.mapping import RowMapper
from icehouse.ingest.report import IngestReport
from icehouse.tables.writer import TableWriter


@dataclass(frozen=True)
class BatchContext:
    """One open batch: its ledger entry, the table and writer its rows go to, and how
    each of its sources' records become rows."""

    ledger: Ledger
    batch: Batch
    table: Table
    writer: TableWriter
    sources: dict[str, SourceConfig]
    """The batch's sources by name (those of ``table`` being ingested)."""
    mappers: dict[str, RowMapper]
    """One per source in ``sources``, built against ``table``'s schema."""
    table_sources: list[str]
    """Every configured source feeding ``table``: a content committed through any of
    them is a duplicate."""
    storage: dict[str, str]
    late: LateRows
    heartbeat: Callable[[], None]
    """Keeps the batch's and its writer slot's leases; cheap, call it often."""
    report: IngestReport
    stage_limit_bytes: int
    """Rows of one file held before they go to the writer (see ``batch.py``)."""
    wait_seconds: float
    """How long a file whose content another open batch holds waits in this process."""
