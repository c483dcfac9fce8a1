"""What the DPO (and support, for inquiries) does with a request: start it, extend its due
date as the law allows, resolve it with an answer. Every action lands in its history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from directives.taxonomy import Role
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights import correction
from resolvers.rights.queue import QUEUE_ROLES
from resolvers.rights.refusals import Code, Refusal, staff, subject_of, text_argument
from resolvers.rights.requests import actor_of, lengthen, move

ANSWER_LIMIT = 8000
REASON_LIMIT = 2000
_HANDLERS = {role: purposes for role, (purposes, _) in QUEUE_ROLES.items()}
_EXTENDERS = {Role.DPO: QUEUE_ROLES[Role.DPO][0]}


async def start(ctx: Context, request_id: int | None) -> tuple[m.PrivacyRequest, bool]:
    staff(ctx, _HANDLERS, "start a privacy request")
    async with ctx.sessions() as session, session.begin():
        request = await _handled(ctx, session, request_id)
        move(session, request, "IN_PROGRESS", actor=actor_of(ctx), now=ctx.clock())
    return request, False


async def extend(
    ctx: Context, request_id: int | None, reason: str
) -> tuple[m.PrivacyRequest, bool]:
    staff(ctx, _EXTENDERS, "extend a privacy request")
    text = text_argument(reason, "reason", limit=REASON_LIMIT)
    async with ctx.sessions() as session, session.begin():
        request = await _handled(ctx, session, request_id)
        lengthen(session, ctx, request, text, ctx.clock())
    return request, False


async def resolve(
    ctx: Context, request_id: int | None, status: str, answer: str
) -> tuple[m.PrivacyRequest, bool]:
    """Close a request as COMPLETED or REJECTED with an answer the subject reads."""
    staff(ctx, _HANDLERS, "resolve a privacy request")
    if status not in ("COMPLETED", "REJECTED"):
        raise Refusal(Code.INVALID, "a request is resolved as COMPLETED or REJECTED", "status")
    text = text_argument(answer, "answer", limit=ANSWER_LIMIT)
    async with ctx.sessions() as session, session.begin():
        request = await _handled(ctx, session, request_id)
        now = ctx.clock()
        if status == "COMPLETED" and request.kind in COMPLETION:
            await COMPLETION[request.kind](ctx, session, request, now)
        request.outcome = text
        move(session, request, status, actor=actor_of(ctx), now=now, note=text, event="ANSWERED")
    return request, False


async def cancel(ctx: Context, request_id: int | None) -> tuple[m.PrivacyRequest, bool]:
    """The subject withdraws their own open request (not a deletion: see cancelAccountDeletion)."""
    subject_id = subject_of(ctx)
    async with ctx.sessions() as session, session.begin():
        request = None
        if request_id is not None:
            request = await session.scalar(
                select(m.PrivacyRequest)
                .where(m.PrivacyRequest.id == request_id)
                .where(m.PrivacyRequest.subject_id == subject_id)
                .with_for_update()
            )
        if request is None:
            raise Refusal(Code.NOT_FOUND, "you have no privacy request with this id", "id")
        if request.kind == RequestKind.DELETION.value:
            raise Refusal(
                Code.NOT_ALLOWED,
                "a deletion request is cancelled with cancelAccountDeletion",
                "id",
            )
        move(session, request, "CANCELLED", actor=actor_of(ctx), now=ctx.clock())
    return request, False


async def _handled(ctx: Context, session: AsyncSession, request_id: int | None) -> m.PrivacyRequest:
    request = None
    if request_id is not None:
        request = await session.scalar(
            select(m.PrivacyRequest).where(m.PrivacyRequest.id == request_id).with_for_update()
        )
    kinds = QUEUE_ROLES[ctx.viewer.role][1] if ctx.viewer.role in QUEUE_ROLES else None
    if request is None or (kinds is not None and RequestKind(request.kind) not in kinds):
        raise Refusal(Code.NOT_FOUND, "no privacy request with this id in your queue", "id")
    return request


Completion = Callable[[Context, AsyncSession, m.PrivacyRequest, datetime], Awaitable[None]]
# What completing a request of a kind does besides closing it: a correction applies the
# proposed value.
COMPLETION: dict[str, Completion] = {RequestKind.CORRECTION.value: correction.apply_approved}
