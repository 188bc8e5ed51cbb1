"""``icehouse sql --server URL``: the same statements run by an ``icehouse serve`` as
the principal of a credential, printed exactly as a local query's rows and plans."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer

from icehouse.cli.common import fail
from icehouse.cli.output import Output
from icehouse.errors import IcehouseError

if TYPE_CHECKING:
    import pyarrow as pa

    from icehouse.client import Connection
    from icehouse.query.sql import QueryResult

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Run the SQL on this `icehouse serve` (http://HOST:PORT) as the principal of "
        "the credential, instead of on a local home.",
        show_default=False,
    ),
]
CredentialOption = Annotated[
    str | None,
    typer.Option(
        "--credential",
        help="CLIENT_ID:CLIENT_SECRET for --server. Other users see it in `ps`: prefer "
        "$ICEHOUSE_CREDENTIAL or --credential-file.",
        show_default=False,
    ),
]
CredentialFileOption = Annotated[
    Path | None,
    typer.Option(
        "--credential-file",
        help="A file holding CLIENT_ID:CLIENT_SECRET for --server, readable by you only "
        "(chmod 600); used when neither --credential nor $ICEHOUSE_CREDENTIAL is given.",
        show_default=False,
    ),
]


class Queries(Protocol):
    """What running a statement needs: a local ``Lake``, or a server (``ServerQueries``)."""

    def sql(self, text: str) -> pa.Table: ...

    def explain(self, text: str) -> QueryResult: ...


class ServerQueries:
    """``Lake.sql`` and ``Lake.explain`` as a server runs them, so that the command
    renders a server's answer with the very code that renders a local one."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def sql(self, text: str) -> pa.Table:
        """Raises: as ``Connection.sql``."""
        return self.connection.sql(text)

    def explain(self, text: str) -> QueryResult:
        """Raises: as ``Connection.explain``."""
        from icehouse.query.sql import QueryResult, TablePlan

        answer = self.connection.explain(text)
        plans = [TablePlan(**plan) for plan in answer.plans]
        return QueryResult(answer.table, plans, answer.execution_seconds)


@contextmanager
def open_server(
    server: str, credential: str | None, credential_file: Path | None, output: Output
) -> Iterator[ServerQueries]:
    """A connection to ``server`` with the credential found (``find_credential``), its
    errors reported as ``Error: ...`` with exit code 1, as ``open_lake`` reports a lake's."""
    from icehouse.client import Connection
    from icehouse.client.credentials import find_credential

    try:
        found = find_credential(credential, file=credential_file)
        connection = Connection(server, credential=found)
    except IcehouseError as exc:
        raise fail(output, exc) from None
    try:
        yield ServerQueries(connection)
    except IcehouseError as exc:
        raise fail(output, exc) from None
    finally:
        connection.close()
