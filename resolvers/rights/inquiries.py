"""Inquiries, complaints and objections to the DPO (Art. 4.4): into the queue, with a deadline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.refusals import text_argument
from resolvers.rights.requests import file_once, new_request

MESSAGE_LIMIT = 4000


class InquiryKind(StrEnum):
    QUESTION = "QUESTION"
    COMPLAINT = "COMPLAINT"
    OBJECTION = "OBJECTION"


async def submit(ctx: Context, kind: InquiryKind, message: str) -> tuple[m.PrivacyRequest, bool]:
    text = text_argument(message, "message", limit=MESSAGE_LIMIT)

    async def work(session: AsyncSession, subject: m.User, now: datetime) -> m.PrivacyRequest:
        return await new_request(
            session, ctx, subject, RequestKind.INQUIRY, now=now, target=kind.value, details=text
        )

    result, created = await file_once(ctx, RequestKind.INQUIRY, kind.value, work)
    return result, created
