"""Which bucket and key an S3 request touches, as the signer decides it before signing
with the lake's keys: path-style and virtual-hosted URLs of the lake's endpoint (or
AWS's), listings of a prefix; anything else is refused, so that no signature is made
for another host or for a key that climbs out of a table's location."""

from __future__ import annotations

import pytest

from icehouse.errors import InvalidInput
from icehouse.tables.s3_signing import S3Target, check_headers, target_of

ENDPOINT = "http://127.0.0.1:8333"


@pytest.mark.parametrize(
    ("uri", "endpoint", "target"),
    [
        (
            f"{ENDPOINT}/lake/web/t/data/a.parquet",
            ENDPOINT,
            S3Target("lake", "web/t/data/a.parquet"),
        ),
        ("http://lake.127.0.0.1:8333/web/t/x", ENDPOINT, S3Target("lake", "web/t/x")),
        (f"{ENDPOINT}/lake/web/t/region%3Deu/a", ENDPOINT, S3Target("lake", "web/t/region=eu/a")),
        (
            f"{ENDPOINT}/lake?list-type=2&prefix=web/t/metadata/",
            ENDPOINT,
            S3Target("lake", "web/t/metadata/", listing=True),
        ),
        ("https://b.s3.eu-west-1.amazonaws.com/web/t/x", None, S3Target("b", "web/t/x")),
        ("https://my.b.s3.amazonaws.com/web/t/x", None, S3Target("my.b", "web/t/x")),
        ("https://s3.eu-west-1.amazonaws.com/b/web/t/x", None, S3Target("b", "web/t/x")),
        (f"{ENDPOINT}/lake/web/t/x?uploadId=u&partNumber=2", ENDPOINT, S3Target("lake", "web/t/x")),
    ],
)
def test_the_bucket_and_key_of_a_request(uri: str, endpoint: str | None, target: S3Target) -> None:
    assert target_of(uri, endpoint=endpoint) == target


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("http://127.0.0.1:9999/lake/web/t/x", "not a request to the lake's S3 endpoint"),
        ("http://evil.example:8333/lake/web/t/x", "not a request to the lake's S3 endpoint"),
        (f"{ENDPOINT}/lake", "neither an object nor a listing"),
        (f"{ENDPOINT}/", "names no bucket"),
        (f"{ENDPOINT}/lake/web/t/../u/x", "'..' segment"),
        (f"{ENDPOINT}/lake/web/t/%2E%2E/u/x", "'..' segment"),
        (f"{ENDPOINT}/lake/web/t/x?acl", "asks for acl, which is not signed"),
        (f"{ENDPOINT}/lake/web/t/x?tagging", "asks for tagging"),
        (f"{ENDPOINT}/lake?policy&prefix=web/t/", "asks for policy"),
    ],
)
def test_requests_elsewhere_are_refused(uri: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        target_of(uri, endpoint=ENDPOINT)


def test_a_location_contains_only_what_lies_below_it() -> None:
    assert S3Target("lake", "web/t/data/a").lies_under("s3://lake/web/t")
    assert not S3Target("lake", "web/t2/data/a").lies_under("s3://lake/web/t")
    assert not S3Target("other", "web/t/data/a").lies_under("s3://lake/web/t")
    assert not S3Target("lake", "web/t").lies_under("s3://lake/web/t/")


def test_headers_that_carry_the_bytes_are_signed() -> None:
    check_headers(
        {
            "User-Agent": ["botocore"],
            "x-amz-checksum-crc32": ["rj35HA=="],
            "x-amz-sdk-checksum-algorithm": ["CRC32"],
            "X-Amz-Date": ["20261206T085715Z"],
            "x-amz-meta-origin": ["icehouse"],
        }
    )


@pytest.mark.parametrize(
    "header", ["x-amz-copy-source", "x-amz-acl", "x-amz-grant-read", "x-amz-object-lock-mode"]
)
def test_headers_that_do_more_are_refused(header: str) -> None:
    with pytest.raises(InvalidInput, match=f"the header {header} is not signed"):
        check_headers({header: ["web/other/data/a.parquet"]})
