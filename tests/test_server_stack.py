"""``icehouse serve`` runs uvicorn on its fast stack: HTTP parsed by httptools (C) rather
than h11 (pure Python), on uvloop's event loop. uvicorn picks both itself when they are
installed, and the package depends on both: this fails on an install that lacks them."""

from __future__ import annotations

import asyncio

import uvloop
from uvicorn.loops.auto import auto_loop_factory
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def test_requests_are_parsed_by_httptools() -> None:
    assert AutoHTTPProtocol is HttpToolsProtocol


def test_the_server_runs_on_uvloop() -> None:
    loop: asyncio.AbstractEventLoop = auto_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
