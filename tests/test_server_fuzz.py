"""Fuzzing the REST catalog with the Iceberg spec's own OpenAPI document: for every
operation the server serves, schemathesis generates valid and invalid requests (bodies,
path segments, query strings, headers) and every answer must be a success or a 4xx in
the spec's ErrorModel, never a 5xx.

The spec (``tests/data/rest-catalog-open-api.yaml``, vendored so that the test runs
offline) lists operations the server does not serve; they are excluded by name below.
Examples are capped and derandomized so that the module runs in well under a minute and
fails the same way every time; schemathesis's coverage phase is off, as it sends every
boundary case of every schema (thousands for a commit), whatever the cap. Path
parameters are biased towards a namespace, a table and a view that exist, so that
examples reach the code behind the existence checks. The server requires tokens, and
every request carries an administrator's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, HookContext

from icehouse.lake import Lake
from tests.fixtures_server import Served, serving

SPEC = Path(__file__).parent / "data" / "rest-catalog-open-api.yaml"
NOT_SERVED = [
    "listFunctions",
    "loadFunction",
    "planTableScan",
    "fetchPlanningResult",
    "cancelPlanning",
    "fetchScanTasks",
    "unregisterTable",
    "loadCredentials",
    "signRequest",
]
"""Operations of the spec that icehouse does not serve (server-side scan planning,
vended credentials, request signing, functions, unregistering)."""
OAUTH = "getToken"
"""Its errors are OAuth2's own shape (``{"error": "invalid_client", ...}``), as the spec
says for this operation, not the ErrorModel."""
EXISTING = {"prefix": "icehouse", "namespace": "fuzz", "table": "t", "view": "v"}
"""What the server holds before each operation's examples."""
MAX_EXAMPLES = 50
MAX_METRICS_EXAMPLES = 10
"""A metrics report's schema is the spec's largest: generating one example costs more
than a second, against milliseconds for the server to answer it."""

schema = schemathesis.openapi.from_path(
    SPEC,
    config=schemathesis.Config.from_dict(
        {
            "parameters": {"prefix": "icehouse"},
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "with-security-parameters": False,
            },
            "phases": {"coverage": {"enabled": False}},
            "operations": [
                {
                    "include-operation-id": "reportMetrics",
                    "generation": {"max-examples": MAX_METRICS_EXAMPLES},
                }
            ],
        }
    ),
).exclude(operation_id=NOT_SERVED)


@schema.hook
def flatmap_path_parameters(
    _context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Half the examples name what exists (a drop or a commit then reaches the table),
    half keep what was generated (a missing or malformed name)."""
    if not path_parameters:
        return st.just(path_parameters)
    existing = {name: EXISTING[name] for name in path_parameters if name in EXISTING}
    return st.sampled_from([path_parameters, {**path_parameters, **existing}])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server runs in a folder of its own, so that nothing a generated request
    writes lands in the checkout, should a relative path ever get through."""
    home = tmp_path_factory.mktemp("fuzz") / "lake"
    Lake.init(home)
    with (
        pytest.MonkeyPatch.context() as patch,
        Lake.open(home) as lake,
        serving(lake, allow_anonymous=False) as running,
    ):
        patch.chdir(home.parent)
        yield running


@pytest.fixture(scope="module")
def admin_headers(secured: Served) -> dict[str, str]:
    admin = secured.lake.principals.create("fuzzer", admin=True)
    answer = requests.post(
        secured.url("/v1/oauth/tokens"),
        data={
            "grant_type": "client_credentials",
            "client_id": admin.client_id,
            "client_secret": admin.client_secret,
        },
        timeout=30,
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def fuzz_objects(secured: Served, admin_headers: dict[str, str]) -> Served:
    """``fuzz``, ``fuzz.t`` and ``fuzz.v`` exist again (an earlier operation's examples may
    have dropped or renamed them)."""
    api = secured.url("/v1/icehouse/namespaces")
    requests.post(api, json={"namespace": ["fuzz"]}, headers=admin_headers, timeout=30)
    table = {
        "name": "t",
        "schema": {
            "type": "struct",
            "schema-id": 0,
            "fields": [{"id": 1, "name": "id", "type": "long", "required": False}],
        },
    }
    requests.post(f"{api}/fuzz/tables", json=table, headers=admin_headers, timeout=30)
    view = {
        "name": "v",
        "schema": table["schema"],
        "view-version": {
            "version-id": 1,
            "timestamp-ms": 1,
            "schema-id": 0,
            "summary": {},
            "representations": [
                {"type": "sql", "sql": "select id from fuzz.t", "dialect": "spark"}
            ],
            "default-namespace": ["fuzz"],
        },
    }
    requests.post(f"{api}/fuzz/views", json=view, headers=admin_headers, timeout=30)
    return secured


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_is_answered_with_a_5xx_and_every_4xx_is_an_error_model(
    case: Case, fuzz_objects: Served, admin_headers: dict[str, str]
) -> None:
    response = case.call(base_url=fuzz_objects.uri, headers=admin_headers, timeout=30)
    assert response.status_code < 500, f"{case.as_curl_command()}\n{response.text}"
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return
    if case.operation.definition.raw.get("operationId") == OAUTH:
        assert set(response.json()) >= {"error"}
        return
    body = response.json()
    assert set(body) == {"error"}, response.text
    error = body["error"]
    assert isinstance(error["message"], str) and isinstance(error["type"], str), response.text
    assert error["code"] == response.status_code, response.text


def test_the_operations_fuzzed_are_every_catalog_endpoint_the_server_serves(
    secured: Served, admin_headers: dict[str, str]
) -> None:
    """An endpoint added to the server without its place in the spec, or an operation
    of the spec left out by a misspelt name, fails here rather than going unfuzzed."""
    config = requests.get(secured.url("/v1/config"), headers=admin_headers, timeout=30).json()
    fuzzed = {
        f"{operation.method.upper()} {operation.path}"
        for result in schema.get_all_operations()
        if (operation := result.ok()).path.startswith("/v1/{prefix}/")
    }
    assert fuzzed == set(config["endpoints"])
    spec_ids = {
        result.ok().definition.raw["operationId"]
        for result in schemathesis.openapi.from_path(SPEC).get_all_operations()
    }
    assert set(NOT_SERVED) <= spec_ids
