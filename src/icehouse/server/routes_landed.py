"""``POST /api/v1/landed/{source}``: S3 event notifications, so that ingest workers
find new files in the queue without listing the landing location (push discovery).

The body is read as sent, whatever its content type: SNS posts its JSON as
``text/plain``. An SNS subscription confirmation is answered 200 and its
``SubscribeURL`` logged and returned, not fetched: the server makes no requests of its
own; whoever subscribes the endpoint confirms it by opening that URL.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from icehouse.server.deps import as_principal

logger = logging.getLogger("icehouse.server")
router = APIRouter()


@router.post("/api/v1/landed/{source}")
async def landed(source: str, request: Request) -> dict[str, Any]:
    """How many of the notified files were queued, already known, and ignored."""
    body = await request.body()
    notice = await as_principal(request, lambda lake: lake.sources.landed(source, body))
    if notice.subscribe_url is not None:
        logger.warning(
            "source %s: SNS asks to confirm a subscription; open %s to confirm it",
            source,
            notice.subscribe_url,
        )
        return {
            "subscribe-url": notice.subscribe_url,
            "message": "subscription not confirmed by the server: open subscribe-url to confirm",
        }
    return {"queued": notice.queued, "known": notice.known, "ignored": notice.ignored}
