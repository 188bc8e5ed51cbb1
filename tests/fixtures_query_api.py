"""A real server for the query API's tests: uvicorn on a free port with tokens required,
over a real lake home holding ``logs.events`` (60 rows on three June days), its clock
movable so that tokens can expire, an administrator and a principal with no grants.

Test modules bind what they use as module attributes (``api = fixtures_query_api.api``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from icehouse.state.clock import ShiftedClock
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, NO_READER_GRACE, append_batches
from tests.fixtures_server import Served, serving

QUERY_PATH = "/api/v1/query"
ARROW = "application/vnd.apache.arrow.stream"


def credential(credentials: Credentials) -> str:
    """``CLIENT_ID:CLIENT_SECRET``, as ``icehouse principal create`` prints it."""
    return f"{credentials.client_id}:{credentials.client_secret}"


@dataclass(frozen=True)
class Api:
    served: Served
    clock: ShiftedClock
    admin: Credentials
    reader: Credentials
    """A principal that is not an administrator and holds no grants."""

    @property
    def lake(self) -> Lake:
        return self.served.lake

    @property
    def url(self) -> str:
        return self.served.uri

    def token(self, credentials: Credentials) -> str:
        answer = requests.post(
            self.served.url("/v1/oauth/tokens"),
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def post(
        self,
        body: Any,
        *,
        token: str | None,
        accept: str | None = None,
    ) -> requests.Response:
        """``POST /api/v1/query`` with ``body`` as JSON (bytes are sent as they are)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if accept is not None:
            headers["Accept"] = accept
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            return requests.post(
                self.served.url(QUERY_PATH), data=body, headers=headers, timeout=60
            )
        return requests.post(self.served.url(QUERY_PATH), json=body, headers=headers, timeout=60)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    home = tmp_path / "lake"
    Lake.init(home)
    clock = ShiftedClock()
    with Lake.open(home, clock=clock) as lake:
        lake.tables.create(
            EVENTS,
            schema=EVENTS_SCHEMA,
            partition=["day(ts)"],
            sort="id",
            properties=NO_READER_GRACE,
        )
        append_batches(lake, per_day=1)
        admin = lake.principals.create("analyst-admin", admin=True)
        reader = lake.principals.create("reader")
        with serving(lake, allow_anonymous=False) as served:
            yield Api(served, clock, admin, reader)
