"""``icehouse source test``: a sample file through a source's decoder and mapping,
showing mapped rows and every error, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
from pyiceberg.schema import Schema

from icehouse.config import SourceConfig
from icehouse.errors import UnreadableFile
from icehouse.ingest.batch import format_options, whole_file_problem
from icehouse.ingest.decode import BadRecord, decode_file
from icehouse.ingest.mapping import RowMapper


@dataclass
class SampleResult:
    rows: pa.Table
    total_rows: int
    bad: list[BadRecord] = field(default_factory=list)
    unreadable: str | None = None
    quarantined_whole: str | None = None
    """Why ``ingest`` would quarantine this file whole, if it would."""

    @property
    def verdict(self) -> str:
        """What ``ingest`` would do with this file, in a sentence."""
        if self.unreadable:
            return f"ingest would quarantine the whole file: {self.unreadable}"
        if self.quarantined_whole:
            return f"ingest would quarantine the whole file: {self.quarantined_whole}"
        lines = f"; {len(self.bad):,} bad lines quarantined" if self.bad else ""
        return f"ingest would take {self.total_rows:,} rows{lines}"


def try_sample(
    source: SourceConfig, schema: Schema, path: Path, *, limit: int = 20
) -> SampleResult:
    """Raises: InvalidMapping when the mapping itself is wrong."""
    mapper = RowMapper(source, schema)
    kept: list[pa.Table] = []
    kept_rows = total = 0
    bad: list[BadRecord] = []
    try:
        for chunk in decode_file(
            pafs.LocalFileSystem(), str(path.absolute()), format_options(source)
        ):
            mapped = mapper.map(chunk, file=path.name)
            bad.extend(mapped.bad)
            total += mapped.rows.num_rows
            if kept_rows < limit:
                kept.append(mapped.rows.slice(0, limit - kept_rows))
                kept_rows += kept[-1].num_rows
    except UnreadableFile as exc:
        return SampleResult(_concat(kept, schema), total, bad, unreadable=exc.reason)
    whole = whole_file_problem(total, bad, source.bad_line_threshold)
    return SampleResult(_concat(kept, schema), total, bad, quarantined_whole=whole)


def _concat(tables: list[pa.Table], schema: Schema) -> pa.Table:
    return pa.concat_tables(tables) if tables else schema.as_arrow().empty_table()
