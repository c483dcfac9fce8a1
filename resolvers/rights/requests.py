"""The life of a privacy request: filed once per open kind, moved only along its lifecycle,
every move appended to its history, its due date from the jurisdiction table.

    RECEIVED -> IN_PROGRESS -> COMPLETED | REJECTED | CANCELLED   (EXTENDED: an event)

One request of a kind (and target: the field a correction is about) may be open per
subject. The database enforces it: `open_key` is unique per subject while a request is
open and null once it is closed, so two identical requests sent at once make one row; the
loser of that race gets the winner's request back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import NoExtensionAllowed, RequestKind, due, extend
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.refusals import Code, Refusal, subject_of

T = TypeVar("T")

OPEN = ("RECEIVED", "IN_PROGRESS")
CLOSED = ("COMPLETED", "REJECTED", "CANCELLED")
NEXT: dict[str, frozenset[str]] = {
    "RECEIVED": frozenset({"IN_PROGRESS", "COMPLETED", "REJECTED", "CANCELLED"}),
    "IN_PROGRESS": frozenset({"COMPLETED", "REJECTED", "CANCELLED"}),
}
# Kinds where every request is its own (a question is not a duplicate of another).
NEVER_DUPLICATE = frozenset({RequestKind.INQUIRY})


def actor_of(ctx: Context) -> str:
    return ctx.viewer.actor


def open_key(kind: RequestKind, target: str | None) -> str | None:
    if kind in NEVER_DUPLICATE:
        return None
    return f"{kind.value}:{target or ''}"


async def new_request(
    session: AsyncSession,
    ctx: Context,
    subject: m.User,
    kind: RequestKind,
    *,
    now: datetime,
    target: str | None = None,
    details: str | None = None,
    proposed_value: str | None = None,
) -> m.PrivacyRequest:
    """Add a RECEIVED request with its due date and its FILED event to the session.

    Flushes, so a duplicate open request raises IntegrityError here; `file_once` turns
    that into the open request."""
    deadline = due(ctx.rules, kind, subject.jurisdiction, now)
    request = m.PrivacyRequest(
        subject_id=subject.id,
        kind=kind.value,
        status="RECEIVED",
        received_at=now,
        due_at=deadline.due_at,
        target=target,
        details=details,
        jurisdiction=subject.jurisdiction,
        due_rule=deadline.reference[:120],
        extended=False,
        proposed_value=proposed_value,
        open_key=open_key(kind, target),
    )
    session.add(request)
    await session.flush()
    session.add(_event(request, actor_of(ctx), now, "FILED", None, "RECEIVED", None))
    await session.flush()
    return request


async def file_once(
    ctx: Context,
    kind: RequestKind,
    target: str | None,
    work: Callable[[AsyncSession, m.User, datetime], Awaitable[T]],
) -> tuple[T | m.PrivacyRequest, bool]:
    """Run `work` (which files the request and does whatever goes with it) in one
    transaction; if a request of this kind is open already, nothing is done and the open
    one comes back. Returns (work's result or the open request, whether work ran)."""
    subject_id = subject_of(ctx)
    key = open_key(kind, target)
    if key is not None:
        found = await open_request(ctx, subject_id, key)
        if found is not None:
            return found, False
    try:
        async with ctx.sessions() as session, session.begin():
            subject = await session.get(m.User, subject_id)
            if subject is None:
                raise Refusal(Code.UNAUTHENTICATED, "the signed-in account no longer exists")
            return await work(session, subject, ctx.clock()), True
    except IntegrityError:
        # Lost a race with an identical request: the constraint kept one; return it.
        found = await open_request(ctx, subject_id, key) if key is not None else None
        if found is None:
            raise
        return found, False


async def open_request(ctx: Context, subject_id: int, key: str) -> m.PrivacyRequest | None:
    async with ctx.sessions() as session:
        found: m.PrivacyRequest | None = await session.scalar(
            select(m.PrivacyRequest).where(
                m.PrivacyRequest.subject_id == subject_id, m.PrivacyRequest.open_key == key
            )
        )
        return found


def move(
    session: AsyncSession,
    request: m.PrivacyRequest,
    to: str,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
    event: str = "STATUS",
) -> None:
    """Move a request along its lifecycle, appending the move to its history."""
    if request.status in CLOSED:
        raise Refusal(Code.CLOSED, f"the request is {request.status.lower()} already")
    if to not in NEXT[request.status]:
        raise Refusal(Code.NOT_ALLOWED, f"a {request.status} request cannot become {to}")
    session.add(_event(request, actor, now, event, request.status, to, note))
    request.status = to
    if to in CLOSED:
        request.completed_at = now
        request.open_key = None
        request.proposed_value = None  # kept only until the request is resolved


def lengthen(
    session: AsyncSession, ctx: Context, request: m.PrivacyRequest, reason: str, now: datetime
) -> None:
    """Apply the extension the law allows; the subject sees the new date and the reason."""
    if request.status in CLOSED:
        raise Refusal(Code.CLOSED, f"the request is {request.status.lower()} already")
    if request.extended:
        raise Refusal(Code.NO_EXTENSION_ALLOWED, "the request has been extended already")
    kind = RequestKind(request.kind)
    jurisdiction = request.jurisdiction or "EU"
    try:
        new_due = extend(ctx.rules, kind, jurisdiction, request.received_at, request.due_at)
    except NoExtensionAllowed as exc:
        raise Refusal(Code.NO_EXTENSION_ALLOWED, str(exc)) from None
    note = f"due date extended to {new_due.isoformat()}: {reason}"
    session.add(
        _event(request, actor_of(ctx), now, "EXTENDED", request.status, request.status, note)
    )
    request.due_at = new_due
    request.extended = True


def _event(
    request: m.PrivacyRequest,
    actor: str,
    now: datetime,
    event: str,
    from_status: str | None,
    to_status: str,
    note: str | None,
) -> m.PrivacyRequestEvent:
    return m.PrivacyRequestEvent(
        request_id=request.id,
        occurred_at=now,
        actor=actor,
        event=event,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )
