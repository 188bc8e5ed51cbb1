"""Every way in is authorised: each public method of ``Lake`` and of its groups asks
``govern.authz.authorize`` first, and each route of the REST catalog answers 401 without
a token and 403 to a principal who is not an administrator, while an administrator
gets through.

The lists are walked, not written out, so that a new method or route without the check
fails here."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.routing import APIRoute

from icehouse.errors import Forbidden
from icehouse.govern.authz import ANYONE, RULES
from icehouse.lake import GROUPS, Lake
from icehouse.lake.governed import ACTION_ATTRIBUTE
from icehouse.lake.principals import Principal
from icehouse.server import create_app
from tests import fixtures_lake
from tests.fixtures_server import Served, serving

home = fixtures_lake.home
lake = fixtures_lake.lake

MAKERS = {"open", "init", "adopt"}
"""Classmethods that make a lake: whoever opens the home is its owner, so there is no
one to ask yet."""
UNAUTHENTICATED = {("POST", "/v1/oauth/tokens"), ("GET", "/healthz")}
"""How a client gets a token, and whether the server is up: answered to anyone."""
READER = Principal(name="reader", admin=False)
OPEN_TO_ANYONE = {
    ("GET", "/v1/config"),
    ("GET", "/v1/{prefix}/namespaces"),
    ("GET", "/v1/{prefix}/namespaces/{namespace}/tables"),
    ("GET", "/v1/{prefix}/namespaces/{namespace}/views"),
    ("GET", "/v1/mounted/{mount}/namespaces"),
    ("GET", "/v1/mounted/{mount}/namespaces/{namespace}/tables"),
    ("POST", "/api/v1/query"),
}
"""A client's configuration and the lists (a mounted catalog's too), which show each
principal only what it may describe (a reader with no grants: nothing), and the query
API, whose SQL reads only what the principal may read (``SELECT 1`` reads no table)."""
_WEB = {"namespace": ["web"], "name": "x"}
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/query": {"sql": "SELECT 1 AS one"},
    "/v1/{prefix}/namespaces": {"namespace": ["new"]},
    "/v1/{prefix}/namespaces/{namespace}/register": {"name": "x", "metadata-location": "m"},
    "/v1/{prefix}/namespaces/{namespace}/register-view": {
        "name": "x",
        "metadata-location": "m",
    },
    "/v1/{prefix}/namespaces/{namespace}/tables": {"name": "x", "schema": {}},
    "/v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics": {"report-type": "scan-report"},
    "/v1/{prefix}/namespaces/{namespace}/tables/{table}/sign": {
        "region": "us-east-1",
        "uri": "http://127.0.0.1:1/bucket/key",
        "method": "GET",
        "headers": {},
    },
    "/v1/{prefix}/namespaces/{namespace}/views": {
        "name": "x",
        "schema": {},
        "view-version": {},
    },
    "/v1/{prefix}/tables/rename": {"source": _WEB, "destination": _WEB},
    "/v1/{prefix}/transactions/commit": {"table-changes": [{"identifier": _WEB}]},
    "/v1/{prefix}/views/rename": {"source": _WEB, "destination": _WEB},
}
"""A body each route accepts as well-formed (route path → JSON), so that what answers a
principal without grants is the authorisation, not the request's validation."""


def public_methods(owner: object) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, member in inspect.getmembers(type(owner)):
        if name.startswith("_") or isinstance(member, property) or not callable(member):
            continue
        if isinstance(inspect.getattr_static(type(owner), name), classmethod):
            assert name in MAKERS, f"Lake.{name} is a classmethod no one authorises"
            continue
        yield name, getattr(owner, name)


def every_method(lake: Lake) -> list[tuple[str, Callable[..., Any]]]:
    found = [(f"lake.{name}", method) for name, method in public_methods(lake)]
    for group in GROUPS:
        found += [(f"lake.{group}.{n}", m) for n, m in public_methods(getattr(lake, group))]
    return found


def placeholders(method: Callable[..., Any]) -> tuple[list[Any], dict[str, Any]]:
    """A value for each required argument: the check runs before the method reads any."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in inspect.signature(method).parameters.values():
        if p.default is not inspect.Parameter.empty:
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append("x")
        elif p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = []
    return args, kwargs


def test_every_public_lake_method_is_governed(lake: Lake) -> None:
    methods = every_method(lake)

    assert len(methods) > 50
    ungoverned = [name for name, method in methods if not hasattr(method, ACTION_ATTRIBUTE)]
    assert ungoverned == []


def test_a_principal_with_no_grants_may_call_only_what_anyone_may(lake: Lake) -> None:
    view = lake.as_principal(READER)
    refused = []
    open_to_anyone = set()

    for name, method in every_method(view):
        action = getattr(method, ACTION_ATTRIBUTE)
        if RULES.get(action) == ANYONE:
            open_to_anyone.add(action)
            continue
        args, kwargs = placeholders(method)
        with pytest.raises(Forbidden) as caught:
            method(*args, **kwargs)
        assert caught.value.principal == "reader"
        refused.append((name, caught.value.action))

    assert ("lake.iceberg.commit", "table.commit") in refused
    assert ("lake.as_principal", "principal.assume") in refused
    assert ("lake.governance.create_role", "governance.create_role") in refused
    assert open_to_anyone == {
        "catalog.idempotency",
        "catalog.list",
        "governance.create_data_filter",  # decides inside: SELECT with grant option on its table
        "governance.grant",
        "governance.revoke",
        "governance.show",
        "lake.connect",
        "link.list",
        "namespace.list",
        "query.run",
        "source.land",  # and INSERT on the source's table, decided inside
        "table.access",
        "table.list",
        "view.list",
    }


def test_an_administrator_passes_every_lake_methods_check(lake: Lake) -> None:
    view = lake.as_principal(Principal(name="ops", admin=True))

    passed = []
    for name, method in every_method(view):
        args, kwargs = placeholders(method)
        try:
            method(*args, **kwargs)
        except Forbidden:
            pytest.fail(f"{name} refused an administrator")
        except Exception:
            pass
        passed.append(name)

    assert len(passed) == len(every_method(view))


# -- routes ------------------------------------------------------------------------------


def every_route(lake: Lake) -> list[tuple[str, str]]:
    """(method, path template) of every route the app answers."""
    found: list[tuple[str, str]] = []
    pending: list[Any] = list(create_app(lake).routes)
    while pending:
        route = pending.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            pending += included.routes
            continue
        assert isinstance(route, APIRoute), f"{route!r} is not an API route"
        found += [(method, route.path) for method in sorted(route.methods or ())]
    return sorted(found)


def url_of(served: Served, path: str) -> str:
    values = {"prefix": "icehouse", "namespace": "web", "table": "hits"}
    return served.url(re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path))


def call(served: Served, method: str, path: str, token: str | None, *, valid: bool = False) -> int:
    """The status of one request; ``valid``: with a body the route accepts, so that a
    refusal is the principal's, not the request's."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = VALID_BODIES.get(path, {}) if valid else {}
    body = body if method in {"POST", "PUT"} else None
    answer = requests.request(method, url_of(served, path), json=body, headers=headers, timeout=30)
    return answer.status_code


def listed(served: Served, path: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.get(url_of(served, path), headers=headers, timeout=30)
    return dict(answer.json())


@pytest.fixture
def secured(home: Path) -> Iterator[Served]:
    with Lake.open(home) as opened, serving(opened, allow_anonymous=False) as running:
        opened.namespaces.create(("web",))
        opened.tables.create("web.hits", schema={"id": "long"})
        yield running


def token_for(served: Served, *, admin: bool, name: str) -> str:
    credentials = served.lake.principals.create(name, admin=admin)
    return served.lake.principals.issue_token(
        credentials.client_id, credentials.client_secret
    ).access_token


def test_every_route_is_401_without_a_token_403_for_others_and_open_to_an_admin(
    secured: Served,
) -> None:
    routes = every_route(secured.lake)
    reader = token_for(secured, admin=False, name="reader")
    admin = token_for(secured, admin=True, name="ops")
    guarded = [r for r in routes if r not in UNAUTHENTICATED]
    assert set(routes) > UNAUTHENTICATED and len(guarded) >= 15

    anonymous = {route: call(secured, *route, None) for route in guarded}
    forbidden = {route: call(secured, *route, reader, valid=True) for route in guarded}
    reads_first = sorted(guarded, key=lambda route: route[0] not in {"GET", "HEAD"})
    allowed = {route: call(secured, *route, admin) for route in reads_first}

    assert {r: s for r, s in anonymous.items() if s != 401} == {}
    assert {r: s for r, s in forbidden.items() if s != 403 and r not in OPEN_TO_ANYONE} == {}
    assert {r: forbidden[r] for r in OPEN_TO_ANYONE} == {r: 200 for r in OPEN_TO_ANYONE}
    assert listed(secured, "/v1/{prefix}/namespaces", reader)["namespaces"] == []
    assert (
        listed(secured, "/v1/{prefix}/namespaces/{namespace}/tables", reader)["identifiers"] == []
    )
    assert {r: s for r, s in allowed.items() if s in {401, 403}} == {}
    assert allowed[("GET", "/v1/config")] == 200
    assert allowed[("GET", "/v1/{prefix}/namespaces/{namespace}/tables/{table}")] == 200
