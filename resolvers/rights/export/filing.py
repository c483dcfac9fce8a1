"""The life of an EXPORT request (Art. 4.1; GDPR Art. 15, 20).

    filed RECEIVED, with its legal due date  ->  COMPLETED at the first complete download

Asking again while a request of that format is open returns it, with a fresh link; the
outcome names only what was sent ("downloaded 48213 bytes (JSON)"), never any of it: the
document is generated at download time and stored nowhere.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.export import links
from resolvers.rights.export.snapshot import Sessions
from resolvers.rights.requests import OPEN, file_once, move, new_request


class ExportFormat(StrEnum):
    JSON = "JSON"
    HTML = "HTML"


async def request_export(
    ctx: Context, fmt: ExportFormat
) -> tuple[m.PrivacyRequest, bool, str, links.Link]:
    """File (or find the open) EXPORT request for `fmt`: (request, created, token, link)."""

    async def work(session: AsyncSession, subject: m.User, now: datetime) -> m.PrivacyRequest:
        return await new_request(
            session, ctx, subject, RequestKind.EXPORT, now=now, target=fmt.value
        )

    request, created = await file_once(ctx, RequestKind.EXPORT, fmt.value, work)
    token, link = links.sign(ctx.settings, request.id, request.subject_id, ctx.clock())
    return request, created, token, link


async def complete(
    sessions: Sessions, request_id: int, subject_id: int, size: int, now: datetime
) -> None:
    """Close the request after its first complete download; later downloads change nothing."""
    async with sessions() as session, session.begin():
        request = await session.get(m.PrivacyRequest, request_id, with_for_update=True)
        if request is None or request.status not in OPEN:
            return
        request.outcome = f"downloaded {size} bytes ({request.target})"
        move(
            session,
            request,
            "COMPLETED",
            actor=f"user:{subject_id}",
            now=now,
            note=request.outcome,
        )
