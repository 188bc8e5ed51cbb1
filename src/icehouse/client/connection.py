"""``icehouse.connect(url, credential=...)``: SQL against an ``icehouse serve``, rows back
as pyarrow Tables.

The connection trades its credential for a bearer token at ``/v1/oauth/tokens``, as
PyIceberg does, and gets a new one when the token is about to expire or when the server
refuses it (401) once: a token revoked or expired early (a server whose clock runs
ahead) costs one retry, never a failed query. Errors are icehouse's own exception
classes carrying the server's message, status and type.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from icehouse.client.credentials import Credential, parse_credential
from icehouse.client.wire import ARROW_STREAM, QUERY_PATH, TOKEN_PATH, read_arrow_stream
from icehouse.errors import (
    Conflict,
    Forbidden,
    IcehouseError,
    NotAuthenticated,
    NotFound,
    QueryError,
    ServerUnavailable,
)

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_TIMEOUT = 300.0
"""Seconds to wait for an answer: a long query is slow, not lost."""
EXPIRY_MARGIN = 30.0
"""A token this close to its expiry is replaced before a request rather than after a 401."""
RETRIED_STATUSES = (502, 503, 504)
"""Answers that mean the server (or a proxy before it) cannot answer now."""


@dataclass(frozen=True)
class ExplainedQuery:
    """A query's rows and what each table had to read (``Connection.explain``)."""

    table: pa.Table
    plans: list[dict[str, Any]]
    """Per table: the filter pushed into planning, files and bytes planned and read."""
    execution_seconds: float


class Connection:
    """One server, one principal; use it from one thread at a time (its HTTP session
    keeps the connection to the server open between queries)."""

    def __init__(
        self,
        url: str,
        *,
        credential: Credential | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url.rstrip("/")
        self._credential = credential
        self._token = token
        self._expires_at = float("inf")  # a token given by the caller: used until refused
        self._timeout = timeout
        self._session = requests.Session()
        if credential is not None and token is None:
            self._refresh_token()

    def sql(self, text: str) -> pa.Table:
        """Run one SQL statement as this connection's principal.

        Args: ``text``, the statement (DuckDB's dialect; tables named ``namespace.table``).
        Returns: the rows, with the Arrow types the server's engine gave them.
        Raises: QueryError (400: the statement is wrong), NotAuthenticated (401),
        Forbidden (403), NotFound (404: not found or not permitted), ServerUnavailable."""
        table, _ = read_arrow_stream(self._query({"sql": text}, text))
        return table

    def explain(self, text: str) -> ExplainedQuery:
        """Run a query and say what each table had to read (``icehouse sql --explain``).

        Args: ``text``, the query.
        Returns: the rows, one plan per table read, and the execution time.
        Raises: as ``sql``."""
        table, explain = read_arrow_stream(self._query({"sql": text, "explain": True}, text))
        explain = explain or {}
        return ExplainedQuery(
            table, list(explain.get("plans", [])), float(explain.get("execution_seconds", 0.0))
        )

    def close(self) -> None:
        """Close the connection to the server (the token stays valid until it expires)."""
        self._session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        who = self._credential.client_id if self._credential else "anonymous"
        return f"<icehouse.Connection {self.url} as {who}>"

    def _query(self, body: dict[str, Any], sql: str) -> bytes:
        if self._credential is not None and time.monotonic() >= self._expires_at:
            self._refresh_token()
        response = self._post(body)
        if response.status_code == 401 and self._credential is not None:
            self._refresh_token()
            response = self._post(body)
        if response.status_code != 200:
            raise self._error(response, sql)
        return bytes(response.content)

    def _post(self, body: dict[str, Any]) -> requests.Response:
        headers = {"Accept": ARROW_STREAM}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return self._send("POST", self.url + QUERY_PATH, json=body, headers=headers)

    def _refresh_token(self) -> None:
        """Raises: NotAuthenticated (unknown client id or wrong secret), ServerUnavailable."""
        assert self._credential is not None  # only a connection with a credential refreshes
        response = self._send(
            "POST",
            self.url + TOKEN_PATH,
            data={
                "grant_type": "client_credentials",
                "client_id": self._credential.client_id,
                "client_secret": self._credential.client_secret,
            },
        )
        if response.status_code != 200:
            body = _json(response)
            if response.status_code in RETRIED_STATUSES or "error" not in body:
                raise self._error(response, "")
            raise NotAuthenticated(
                f"{self.url} refused client id {self._credential.client_id!r}: "
                f"{body.get('error_description') or body['error']}"
            )
        answer = response.json()
        self._token = str(answer["access_token"])
        lifetime = float(answer.get("expires_in", 3600))
        self._expires_at = time.monotonic() + lifetime - EXPIRY_MARGIN

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, url, timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServerUnavailable(self.url, detail=str(exc)) from exc

    def _error(self, response: requests.Response, sql: str) -> IcehouseError:
        """The icehouse exception for an error answer, carrying the server's message,
        status and type (the ErrorModel's, or the start of a body that is not one)."""
        status = response.status_code
        error = _json(response).get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            message, error_type = error["message"], str(error.get("type", ""))
        else:
            message, error_type = f"HTTP {status}: {response.text[:200]}", ""
        exc: IcehouseError
        if status in RETRIED_STATUSES:
            exc = ServerUnavailable(self.url, detail=message)
        elif status == 401:
            exc = NotAuthenticated(message)
        elif status == 403:
            who = self._credential.client_id if self._credential else "anonymous"
            exc = Forbidden(message, principal=who, action="query.run", resource="lake")
        elif status == 404:
            exc = NotFound(message)
        elif status == 409:
            exc = Conflict(message)
        elif 400 <= status < 500:
            exc = QueryError(message, sql=sql)
        else:
            exc = IcehouseError(message)
        exc.status = status
        exc.error_type = error_type or exc.error_type
        return exc


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def connect(
    url: str,
    credential: str | None = None,
    *,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Connection:
    """Connect to an ``icehouse serve`` to run SQL as a principal.

    Args: ``url``, the server (``http://127.0.0.1:8181``); ``credential``,
    ``"CLIENT_ID:CLIENT_SECRET"`` from ``icehouse principal create`` (traded for a bearer
    token now, and again whenever the token expires); ``token``, a bearer token to use
    instead (not renewed); neither: anonymous, for a server run with
    ``--allow-anonymous``; ``timeout``, seconds to wait for an answer.
    Returns: an open Connection (close it, or use it in a ``with``).
    Raises: InvalidCredential (not ``CLIENT_ID:CLIENT_SECRET``), NotAuthenticated
    (unknown client id or wrong secret), ServerUnavailable."""
    parsed = parse_credential(credential, where="credential") if credential else None
    return Connection(url, credential=parsed, token=token, timeout=timeout)
