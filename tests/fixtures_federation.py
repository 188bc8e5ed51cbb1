"""Producers for federation tests: a PyIceberg SqlCatalog on SQLite, and a real
``icehouse serve`` process over a home of its own, each holding ``cdn.requests``."""

from __future__ import annotations

import json
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog

from tests.test_audit_kill import serve
from tests.test_cli import ok

REQUESTS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "country": pa.array(["fr", "de", "us"], pa.string()),
    }
)
"""The rows every producer's ``cdn.requests`` holds."""


def sql_producer(folder: Path, *, catalog: str = "prod", url: str | None = None) -> str:
    """A PyIceberg SQL catalog with ``cdn.requests``, its files in ``folder``, its
    tables in ``url`` (default: SQLite in ``folder``); its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    url = url or f"sqlite:///{folder / 'catalog.db'}"
    producer = SqlCatalog(catalog, uri=url, warehouse=(folder / "warehouse").as_uri())
    producer.create_namespace("cdn")
    producer.create_table("cdn.requests", schema=REQUESTS.schema).append(REQUESTS)
    return url


@dataclass
class ServedProducer:
    """An ``icehouse serve`` process (tokens required) and a principal it knows."""

    process: subprocess.Popen[str]
    url: str
    home: Path
    credential: str
    """``CLIENT_ID:SECRET`` of an administrator of the producer (the central server)."""

    def credential_file(self, folder: Path) -> Path:
        """The credential in a file only its owner may read."""
        path = folder / "producer.credential"
        path.write_text(self.credential)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        return path


def served_producer(folder: Path) -> ServedProducer:
    """A home with ``cdn.requests`` (``REQUESTS``) served by a real ``icehouse serve``; stop
    it with ``tests.test_audit_kill.kill``."""
    home = folder / "producer"
    ok("init", "--home", str(home))
    ok("table", "create", "cdn.requests", "--schema", '{"id": "long", "country": "string"}',
       "--home", str(home))  # fmt: skip
    made = ok("principal", "create", "central", "--admin", "--format", "json",
              "--home", str(home))  # fmt: skip
    given = json.loads(made.stdout)
    process, url = serve(home, folder / "producer.log")
    credential = f"{given['client_id']}:{given['client_secret']}"
    client = RestCatalog(
        "producer",
        uri=url,
        credential=credential,
        **{"oauth2-server-uri": f"{url}/v1/oauth/tokens"},
    )
    client.load_table("cdn.requests").append(REQUESTS)
    return ServedProducer(process, url, home, credential)


__all__ = ["REQUESTS", "ServedProducer", "served_producer", "sql_producer"]
