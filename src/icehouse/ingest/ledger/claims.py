"""Content claims (``ingest_contents``): content is ingested once per table.

A batch that decoded a file claims its content hash, once per scope (the table); the
primary key decides races between processes. Another batch meeting the same content
while the owner's batch is open waits; once the owner committed, the content is a
duplicate; if the owner's batch aborted, the claim is taken over.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, and_, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from icehouse.ingest.ledger.records import COMMITTED, UNSETTLED, ContentClaim
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import batches, contents, files


class ContentClaims:
    """Owns ``ingest_contents``."""

    def __init__(self, engine: Engine, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._engine = engine
        self._clock = clock

    def claim(
        self, scope: str, content_hash: str, *, file_id: int, batch_id: str, sources: Sequence[str]
    ) -> ContentClaim:
        """Claim ``content_hash`` for the batch, once per ``scope`` (the table).

        ``sources`` are the sources feeding the table: a file of theirs committed with
        this content before content claims existed also makes it a duplicate.
        """
        while True:
            with self._engine.begin() as conn:
                if _committed_elsewhere(conn, sources, content_hash):
                    return ContentClaim.DUPLICATE
                holder = conn.execute(
                    select(contents.c.batch_id, contents.c.file_id, batches.c.state)
                    .select_from(contents.outerjoin(batches, batches.c.id == contents.c.batch_id))
                    .where(and_(contents.c.scope == scope, contents.c.content_hash == content_hash))
                ).first()
            if holder is None:
                if self._insert(scope, content_hash, file_id=file_id, batch_id=batch_id):
                    return ContentClaim.OWN
                continue  # another batch claimed it first: look again
            if holder.batch_id == batch_id:
                return ContentClaim.OWN if holder.file_id == file_id else ContentClaim.DUPLICATE
            if holder.state == COMMITTED:
                return ContentClaim.DUPLICATE
            if holder.state in UNSETTLED:
                return ContentClaim.WAIT
            # The holder's batch aborted (or was forgotten): take the claim over.
            if self._take_over(scope, content_hash, holder.batch_id, file_id, batch_id):
                return ContentClaim.OWN

    def _insert(self, scope: str, content_hash: str, *, file_id: int, batch_id: str) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    contents.insert().values(
                        scope=scope,
                        content_hash=content_hash,
                        file_id=file_id,
                        batch_id=batch_id,
                        claimed_at=self._clock(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def _take_over(
        self, scope: str, content_hash: str, holder: str, file_id: int, batch_id: str
    ) -> bool:
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(contents)
                .where(
                    and_(
                        contents.c.scope == scope,
                        contents.c.content_hash == content_hash,
                        contents.c.batch_id == holder,
                    )
                )
                .values(file_id=file_id, batch_id=batch_id, claimed_at=self._clock())
            ).rowcount
        return bool(taken)


def _committed_elsewhere(conn: Connection, sources: Sequence[str], content_hash: str) -> bool:
    """A file of ``sources`` with this content is committed (also one committed before
    content claims existed)."""
    committed = conn.execute(
        select(files.c.id)
        .where(
            and_(
                files.c.source.in_(list(sources)),
                files.c.content_hash == content_hash,
                files.c.state == COMMITTED,
            )
        )
        .limit(1)
    ).first()
    return committed is not None


# -- within another owner's transaction ---------------------------------------------------


def release_file(conn: Connection, *, file_id: int, batch_id: str) -> None:
    """A file whose rows will not go in gives up its content claim."""
    conn.execute(
        delete(contents).where(and_(contents.c.file_id == file_id, contents.c.batch_id == batch_id))
    )


def release_batch(conn: Connection, batch_id: str) -> None:
    """An aborted batch's claims go, so that its contents can be claimed again."""
    conn.execute(delete(contents).where(contents.c.batch_id == batch_id))


def forget(conn: Connection, old_batches: Select[tuple[str]]) -> None:
    """Drop claims of ``old_batches`` whose file the ledger already forgot."""
    conn.execute(
        delete(contents).where(
            and_(
                contents.c.batch_id.in_(old_batches),
                contents.c.file_id.notin_(select(files.c.id)),
            )
        )
    )


def forget_scope(conn: Connection, scope: str) -> int:
    """Drop every claim in ``scope`` (a dropped table): a new table given the same name
    holds none of that content, and must be able to take it."""
    return conn.execute(delete(contents).where(contents.c.scope == scope)).rowcount


def move_scope(conn: Connection, old: str, new: str) -> int:
    """Move the claims of table ``old`` to its new name: content already in the table stays
    a duplicate after the rename."""
    return conn.execute(update(contents).where(contents.c.scope == old).values(scope=new)).rowcount
