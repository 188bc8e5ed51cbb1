"""Push discovery against a real server and a real S3 store (SeaweedFS): S3 event
notifications posted to ``/api/v1/landed/{source}`` (raw, through SNS, from MinIO's
webhook) queue the new objects of the source once, however often they are notified or
listed; other events and other names are ignored; bad bodies, unknown sources and
objects outside the source are refused with a 4xx saying why; only a principal with
INSERT on the source's table may notify."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import pyarrow.fs as pafs
import pytest
import requests
from sqlalchemy import select

from icehouse.config import SourceConfig
from icehouse.lake import Lake
from icehouse.state.models import files
from tests import fixtures_lake
from tests.fixtures_server import Served, serving
from tests.test_s3_landing import configure, jsonl_gz, put, rows
from tests.test_server_auth import token_of

if TYPE_CHECKING:
    from tests.conftest import S3Server

pytestmark = pytest.mark.s3

TABLE = "landing.events"
SOURCE = "events"


@dataclass(frozen=True)
class Pushing:
    served: Served
    token: str
    bucket: str
    base: str
    fs: pafs.S3FileSystem

    def post(self, body: Any, *, source: str = SOURCE, token: str | None = None) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(
            self.served.url(f"/api/v1/landed/{source}"),
            data=data,
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": "text/plain; charset=UTF-8",  # as SNS sends it
            },
            timeout=30,
        )

    def queued(self) -> list[tuple[str, str]]:
        """(path relative to the source, state) of every ledger row of the source."""
        with fixtures_lake.engine_of(self.served.lake).connect() as conn:
            found = conn.execute(
                select(files.c.path, files.c.state).where(files.c.source == SOURCE)
            ).all()
        return sorted((path.removeprefix(self.base + "/"), state) for path, state in found)


@pytest.fixture
def pushing(
    tmp_path: Path, s3_server: S3Server, s3_filesystem: pafs.S3FileSystem, s3_bucket: str
) -> Iterator[Pushing]:
    home = tmp_path / "lake"
    Lake.init(home)
    configure(home, s3_server)
    base = f"{s3_bucket}/landing"
    with Lake.open(home) as lake:
        lake.tables.create(TABLE, schema={"id": "long!", "name": "string", "amount": "double"})
        lake.sources.add(
            SourceConfig(
                name=SOURCE,
                location=f"s3://{base}",
                table=TABLE,
                format="jsonl",
                glob="*.jsonl.gz",
                compression="auto",
            )
        )
        with serving(lake, allow_anonymous=False) as served:
            token = token_of(served, lake.principals.create("etl", admin=True))
            yield Pushing(served, token, s3_bucket, base, s3_filesystem)


def s3_event(bucket: str, *keys: str, name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """S3's event JSON, keys URL-encoded as S3 encodes them."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": name,
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key), "size": 1, "eTag": "0123"},
                },
            }
            for key in keys
        ]
    }


def sns(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:landed",
        "Subject": "Amazon S3 Notification",
        "Message": json.dumps(message),
    }


def test_notified_objects_are_queued_once_and_ingested(pushing: Pushing) -> None:
    p = pushing
    put(p.fs, f"{p.base}/2026/12/06/a b.jsonl.gz", jsonl_gz(rows(0, 10)))
    put(p.fs, f"{p.base}/2026/12/06/b.jsonl.gz", jsonl_gz(rows(10, 5)))
    put(p.fs, f"{p.base}/2026/12/06/notes.txt", b"not data")

    raw = p.post(s3_event(p.bucket, "landing/2026/12/06/a b.jsonl.gz"))
    assert raw.status_code == 200, raw.text
    assert raw.json() == {"queued": 1, "known": 0, "ignored": 0}

    # SNS's wrapping; a name outside the glob, a deletion and a deleted object are ignored.
    keys = ("landing/2026/12/06/b.jsonl.gz", "landing/2026/12/06/notes.txt")
    body = s3_event(p.bucket, *keys)
    body["Records"] += s3_event(p.bucket, "landing/x.jsonl.gz", name="ObjectRemoved:Delete")[
        "Records"
    ]
    body["Records"] += s3_event(p.bucket, "landing/gone.jsonl.gz")["Records"]
    through_sns = p.post(sns(body))
    assert through_sns.status_code == 200, through_sns.text
    assert through_sns.json() == {"queued": 1, "known": 0, "ignored": 3}

    # MinIO's webhook body, naming a file already queued: one file, not two.
    minio = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{p.bucket}/landing/2026/12/06/b.jsonl.gz",
        "Records": [
            {**r, "eventName": "s3:ObjectCreated:Put"}
            for r in s3_event(p.bucket, "landing/2026/12/06/b.jsonl.gz")["Records"]
        ],
    }
    again = p.post(minio)
    assert again.status_code == 200, again.text
    assert again.json() == {"queued": 0, "known": 1, "ignored": 0}
    assert p.queued() == [
        ("2026/12/06/a b.jsonl.gz", "pending"),
        ("2026/12/06/b.jsonl.gz", "pending"),
    ]

    # The listing of the next run finds the same files, not new ones: 15 rows, once.
    report = p.served.lake.ingest()
    assert (report.files, report.rows) == (2, 15)
    assert fixtures_lake.ids(p.served.lake, TABLE) == list(range(15))
    assert p.queued() == [
        ("2026/12/06/a b.jsonl.gz", "committed"),
        ("2026/12/06/b.jsonl.gz", "committed"),
    ]
    late = p.post(s3_event(p.bucket, "landing/2026/12/06/a b.jsonl.gz"))
    assert late.json() == {"queued": 0, "known": 1, "ignored": 0}
    assert p.served.lake.ingest().files == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "the body is not JSON"),
        ({"hello": 1}, "not an S3 event notification"),
        ({"Records": [{"eventName": "ObjectCreated:Put"}]}, "needs eventName, s3.bucket.name"),
        ({"Type": "Notification", "Message": "[]"}, "the SNS Message is not a JSON object"),
    ],
)
def test_a_bad_body_is_400_saying_why(pushing: Pushing, body: Any, words: str) -> None:
    answer = pushing.post(body)
    assert answer.status_code == 400
    assert words in answer.json()["error"]["message"]
    assert pushing.queued() == []


def test_an_object_outside_the_source_refuses_the_whole_body(pushing: Pushing) -> None:
    p = pushing
    put(p.fs, f"{p.base}/a.jsonl.gz", jsonl_gz(rows(0, 1)))
    body = s3_event(p.bucket, "landing/a.jsonl.gz", "elsewhere/b.jsonl.gz")
    answer = p.post(body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        f"object s3://{p.bucket}/elsewhere/b.jsonl.gz is outside source 'events''s location "
        f"s3://{p.base}: is the notification sent to the right source?"
    )
    other_bucket = p.post(s3_event("another-bucket", "landing/a.jsonl.gz"))
    assert other_bucket.status_code == 400
    assert "outside source 'events'" in other_bucket.json()["error"]["message"]
    assert p.queued() == []


def test_an_unknown_source_is_404(pushing: Pushing) -> None:
    answer = pushing.post(s3_event(pushing.bucket, "landing/a.jsonl.gz"), source="nope")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "no source 'nope'"


def test_sns_subscription_confirmation_is_logged_not_fetched(
    pushing: Pushing, caplog: pytest.LogCaptureFixture
) -> None:
    url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
    with caplog.at_level(logging.WARNING, logger="icehouse.server"):
        answer = pushing.post({"Type": "SubscriptionConfirmation", "SubscribeURL": url})
    assert answer.status_code == 200
    assert answer.json()["subscribe-url"] == url
    assert f"source events: SNS asks to confirm a subscription; open {url}" in caplog.text


def test_only_insert_on_the_table_may_notify(pushing: Pushing) -> None:
    p = pushing
    put(p.fs, f"{p.base}/a.jsonl.gz", jsonl_gz(rows(0, 1)))
    body = s3_event(p.bucket, "landing/a.jsonl.gz")
    lake = p.served.lake
    notifier = lake.principals.create("notifier")
    token = token_of(p.served, notifier)

    refused = p.post(body, token=token)
    assert refused.status_code == 403
    assert "may not source.land" in refused.json()["error"]["message"]
    assert p.queued() == []

    no_token = requests.post(p.served.url(f"/api/v1/landed/{SOURCE}"), json=body, timeout=30)
    assert no_token.status_code == 401

    lake.sql(f"GRANT INSERT ON TABLE {TABLE} TO PRINCIPAL notifier")
    allowed = p.post(body, token=token)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"queued": 1, "known": 0, "ignored": 0}
