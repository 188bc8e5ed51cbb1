"""Tokens at the REST catalog: PyIceberg with ``credential="id:secret"`` gets a bearer
token and works; no token, a wrong secret, an expired, revoked or rotated-away token and
a deleted principal's token are 401; a principal who is not an administrator gets 403."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
from pyiceberg.exceptions import ForbiddenError, OAuthError

from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from icehouse.state.clock import ShiftedClock
from tests import fixtures_lake
from tests.fixtures_server import Served, serving

home = fixtures_lake.home


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def secured(home: fixtures_lake.Path, clock: ShiftedClock) -> Iterator[Served]:
    """The lake served with tokens required (no anonymous access)."""
    with Lake.open(home, clock=clock) as lake, serving(lake, allow_anonymous=False) as running:
        yield running


def token_of(served: Served, credentials: Credentials) -> str:
    answer = requests.post(
        served.url("/v1/oauth/tokens"),
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    token: str = body["access_token"]
    return token


def namespaces(served: Served, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(served.url("/v1/icehouse/namespaces"), headers=headers, timeout=30)


def test_pyiceberg_with_a_credential_gets_a_token_and_uses_the_catalog(secured: Served) -> None:
    admin = secured.lake.principals.create("etl", admin=True)

    catalog = secured.client(credential=f"{admin.client_id}:{admin.client_secret}")
    catalog.create_namespace("web")

    assert catalog.list_namespaces() == [("web",)]
    assert secured.lake.namespaces.list() == [("web",)]


def test_a_request_without_a_token_is_401_saying_how_to_get_one(secured: Served) -> None:
    answer = namespaces(secured, None)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    error = answer.json()["error"]
    assert error["type"] == "NotAuthorizedException"
    assert "POST /v1/oauth/tokens" in error["message"]
    assert requests.get(secured.url("/v1/config"), timeout=30).status_code == 401
    assert requests.get(secured.url("/healthz"), timeout=30).status_code == 200


def test_a_wrong_secret_gets_no_token(secured: Served) -> None:
    admin = secured.lake.principals.create("etl", admin=True)

    with pytest.raises(OAuthError, match="invalid_client"):
        secured.client(credential=f"{admin.client_id}:not-the-secret")
    answer = requests.post(
        secured.url("/v1/oauth/tokens"),
        data={"grant_type": "password", "username": "x", "password": "y"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


def test_http_basic_client_credentials_get_a_token(secured: Served) -> None:
    admin = secured.lake.principals.create("etl", admin=True)

    answer = requests.post(
        secured.url("/v1/oauth/tokens"),
        data={"grant_type": "client_credentials"},
        auth=(admin.client_id, admin.client_secret),
        timeout=30,
    )

    assert answer.status_code == 200
    assert namespaces(secured, answer.json()["access_token"]).status_code == 200


def test_an_expired_token_is_401(secured: Served, clock: ShiftedClock) -> None:
    token = token_of(secured, secured.lake.principals.create("etl", admin=True))
    assert namespaces(secured, token).status_code == 200

    clock.advance(3601)

    answer = namespaces(secured, token)
    assert answer.status_code == 401
    assert "expired" in answer.json()["error"]["message"]


def test_pyiceberg_fetches_a_new_token_when_its_token_expired(
    secured: Served, clock: ShiftedClock
) -> None:
    admin = secured.lake.principals.create("etl", admin=True)
    catalog = secured.client(credential=f"{admin.client_id}:{admin.client_secret}")
    catalog.create_namespace("web")

    clock.advance(3601)

    assert catalog.list_namespaces() == [("web",)]


def test_a_revoked_token_is_401_and_the_secret_still_gets_a_new_one(secured: Served) -> None:
    admin = secured.lake.principals.create("etl", admin=True)
    token = token_of(secured, admin)

    assert secured.lake.principals.revoke_tokens("etl") == 1

    answer = namespaces(secured, token)
    assert answer.status_code == 401
    assert "revoked" in answer.json()["error"]["message"]
    assert namespaces(secured, token_of(secured, admin)).status_code == 200


def test_rotating_a_secret_revokes_its_tokens_and_refuses_the_old_secret(secured: Served) -> None:
    admin = secured.lake.principals.create("etl", admin=True)
    token = token_of(secured, admin)

    rotated = secured.lake.principals.rotate("etl")

    assert namespaces(secured, token).status_code == 401
    with pytest.raises(OAuthError):
        secured.client(credential=f"{admin.client_id}:{admin.client_secret}")
    assert namespaces(secured, token_of(secured, rotated)).status_code == 200


def test_a_deleted_principals_token_stops_working_at_once(secured: Served) -> None:
    token = token_of(secured, secured.lake.principals.create("etl", admin=True))
    assert namespaces(secured, token).status_code == 200

    secured.lake.principals.delete("etl")

    answer = namespaces(secured, token)
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith("unknown bearer token")


def test_a_principal_with_no_grants_sees_nothing_and_is_forbidden_the_rest(
    secured: Served,
) -> None:
    secured.lake.namespaces.create(("web",))
    secured.lake.tables.create("web.hits", schema={"id": "long"})
    reader = secured.lake.principals.create("reader")
    token = token_of(secured, reader)

    listed = namespaces(secured, token)
    answer = requests.get(
        secured.url("/v1/icehouse/namespaces/web/tables/hits"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert listed.status_code == 200 and listed.json()["namespaces"] == []
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["type"] == "ForbiddenException"
    assert error["message"] == (
        "principal 'reader' may not table.load on table web.hits: "
        "table web.hits is not found or not permitted"
    )
    with pytest.raises(ForbiddenError):
        secured.client(credential=f"{reader.client_id}:{reader.client_secret}").load_table(
            "web.hits"
        )


def test_another_authorization_scheme_is_401(secured: Served) -> None:
    answer = requests.get(
        secured.url("/v1/icehouse/namespaces"), headers={"Authorization": "Basic eDp5"}, timeout=30
    )

    assert answer.status_code == 401
    assert "Bearer <token>" in answer.json()["error"]["message"]


def test_a_revoked_token_stops_the_hot_routes_at_once_even_with_an_etag(secured: Served) -> None:
    """A table's load, its 304 and a listing look the token up in the same worker thread
    as their work: a revoked token gets 401 there too, never a 304 or a listing."""
    secured.lake.tables.create("web.clicks", schema={"id": "long"})
    token = token_of(secured, secured.lake.principals.create("etl", admin=True))
    auth = {"Authorization": f"Bearer {token}"}
    table = secured.url("/v1/icehouse/namespaces/web/tables/clicks")
    listing = secured.url("/v1/icehouse/namespaces/web/tables")
    etag = requests.get(table, headers=auth, timeout=30).headers["ETag"]
    unchanged = {**auth, "If-None-Match": etag}
    assert requests.get(table, headers=unchanged, timeout=30).status_code == 304
    assert requests.get(listing, headers=auth, timeout=30).json()["identifiers"] == [
        {"namespace": ["web"], "name": "clicks"}
    ]

    secured.lake.principals.revoke_tokens("etl")

    for url, headers in [(table, unchanged), (table, auth), (listing, auth)]:
        answer = requests.get(url, headers=headers, timeout=30)
        assert answer.status_code == 401
        assert "revoked" in answer.json()["error"]["message"]


def test_a_tables_load_is_logged_under_the_tokens_principal(
    secured: Served, caplog: pytest.LogCaptureFixture
) -> None:
    secured.lake.tables.create("web.clicks", schema={"id": "long"})
    token = token_of(secured, secured.lake.principals.create("etl", admin=True))
    with caplog.at_level(logging.INFO, logger="icehouse.server"):
        requests.get(
            secured.url("/v1/icehouse/namespaces/web/tables/clicks"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "icehouse.server"]
    assert [line.split()[:4] for line in lines] == [
        ["etl", "GET", "/v1/{prefix}/namespaces/{namespace}/tables/{table}", "200"]
    ]
