"""Filing an account deletion (Art. 6.2-6.3): restriction of processing at once.

The request and the move to ERASURE_PENDING are one transaction, so from the next request
on the public no longer sees the person's profile or content. Executing the erasure is the
worker's job, within the due date.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.refusals import Code, Refusal, recently_signed_in, subject_of, text_argument
from resolvers.rights.requests import actor_of, file_once, move, new_request, open_key

REASON_LIMIT = 2000


async def request_deletion(ctx: Context, reason: str | None) -> tuple[m.PrivacyRequest, bool]:
    subject_of(ctx)  # who asks first: an anonymous caller is told to sign in, not to re-sign
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


async def cancel_deletion(ctx: Context) -> tuple[m.PrivacyRequest, bool]:
    """Take a deletion back during the grace period: the account is active again."""
    subject_id = subject_of(ctx)
    grace = timedelta(days=ctx.settings.deletion_grace_days)
    async with ctx.sessions() as session, session.begin():
        now = ctx.clock()
        request = await session.scalar(
            select(m.PrivacyRequest)
            .where(m.PrivacyRequest.subject_id == subject_id)
            .where(m.PrivacyRequest.open_key == open_key(RequestKind.DELETION, None))
            .with_for_update()
        )
        if request is None:
            raise Refusal(Code.NOT_FOUND, "there is no open deletion request to cancel")
        if now - _aware(request.received_at) >= grace:
            raise Refusal(
                Code.NOT_ALLOWED,
                f"the {ctx.settings.deletion_grace_days}-day grace period has ended; "
                "the erasure is under way",
            )
        subject = await session.get(m.User, subject_id, with_for_update=True)
        assert subject is not None
        move(session, request, "CANCELLED", actor=actor_of(ctx), now=now, note="cancelled")
        subject.deletion_state = "ACTIVE"
        subject.erasure_requested_at = None
    return request, False


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
