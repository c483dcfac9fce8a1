"""Filing an account deletion (Art. 6.2-6.3): restriction of processing at once.

The request and the move to ERASURE_PENDING are one transaction, so from the next request
on the public no longer sees the person's profile or content. Executing the erasure is the
worker's job, within the due date.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.refusals import recently_signed_in, text_argument
from resolvers.rights.requests import file_once, new_request

REASON_LIMIT = 2000


async def request_deletion(ctx: Context, reason: str | None) -> tuple[m.PrivacyRequest, bool]:
    text = text_argument(reason or "", "reason", limit=REASON_LIMIT, required=False) or None
    recently_signed_in(ctx, ctx.clock().timestamp(), "deleting the account")

    async def work(session: AsyncSession, subject: m.User, now: datetime) -> m.PrivacyRequest:
        request = await new_request(
            session, ctx, subject, RequestKind.DELETION, now=now, details=text
        )
        subject.deletion_state = "ERASURE_PENDING"
        subject.erasure_requested_at = now
        return request

    return await file_once(ctx, RequestKind.DELETION, None, work)
