"""Every error answer as the Iceberg REST spec's ErrorModel.

``{"error": {"message": ..., "type": ..., "code": ...}}``, with the status and type each
icehouse error carries (404 NoSuchTableException, 409 CommitFailedException ...), so
that clients map answers to their own exceptions. A request that does not parse or
validate is a 400 naming the field, never a 500.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from icehouse.errors import IcehouseError, NotAuthenticated

_TYPES_BY_STATUS = {
    400: "BadRequestException",
    404: "NotFoundException",
    405: "MethodNotAllowedException",
    406: "NotAcceptableException",
}


def error_response(status: int, error_type: str, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type, "code": status}}
    return JSONResponse(body, status_code=status)


def _icehouse_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IcehouseError)  # registered for IcehouseError only
    return icehouse_error_response(exc)


def icehouse_error_response(exc: IcehouseError) -> JSONResponse:
    """The answer for ``exc``: its status, Iceberg error type and message."""
    response = error_response(exc.status, exc.error_type, exc.message)
    if isinstance(exc, NotAuthenticated):  # RFC 6750: say which scheme to use
        response.headers["WWW-Authenticate"] = 'Bearer realm="icehouse"'
    return response


def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return error_response(400, "BadRequestException", "invalid request: " + "; ".join(problems))


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error_type = _TYPES_BY_STATUS.get(exc.status_code, "RESTException")
    return error_response(exc.status_code, error_type, str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IcehouseError, _icehouse_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
