"""``POST /v1/oauth/tokens``: OAuth2 client credentials, as PyIceberg and DuckDB send
them (form fields ``client_id`` and ``client_secret``, or HTTP Basic), answered with an
expiring bearer token. Errors are OAuth2's own shape (``{"error": "invalid_client",
"error_description": ...}``), which clients parse differently from the catalog's."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from icehouse.errors import NotAuthenticated
from icehouse.lake import Lake

router = APIRouter()
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@router.post("/v1/oauth/tokens")
async def issue_token(request: Request) -> JSONResponse:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is served")
    client_id, secret = _client_credentials(form, request.headers.get("authorization"))
    if not client_id or not secret:
        return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
    lake: Lake = request.app.state.lake
    try:
        with lake.outages_as_errors():
            token = lake.principals.issue_token(client_id, secret)
    except NotAuthenticated as exc:
        return _oauth_error(401, "invalid_client", exc.message)
    return JSONResponse(
        {
            "access_token": token.access_token,
            "token_type": "bearer",
            "expires_in": token.expires_in,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        },
        headers={"Cache-Control": "no-store"},
    )


def _client_credentials(form: dict[str, str], header: str | None) -> tuple[str, str]:
    """From the form, else from ``Authorization: Basic`` (RFC 6749 allows either)."""
    if form.get("client_id") or header is None or not header.lower().startswith("basic "):
        return form.get("client_id", ""), form.get("client_secret", "")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
