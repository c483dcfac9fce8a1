"""Reading requests: a subject's own, and the DPO's queue sorted by legal deadline."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select

from directives.deadlines import RequestKind
from directives.taxonomy import Purpose, Role
from gateway.db import models as m
from resolvers.audit.reads import requests_read
from resolvers.context import Context
from resolvers.errors import ForbiddenError, InputError, UnauthenticatedError
from resolvers.rights.requests import CLOSED, OPEN

# Who works the queue, for which purposes, and which kinds they see (Art. 3.2, 4.4):
# the DPO everything; support the inquiries and complaints it answers.
QUEUE_ROLES: dict[Role, tuple[frozenset[str], frozenset[RequestKind] | None]] = {
    Role.DPO: (frozenset({Purpose.LEGAL.value, Purpose.SUPPORT.value}), None),
    Role.SUPPORT: (frozenset({Purpose.SUPPORT.value}), frozenset({RequestKind.INQUIRY})),
}
_CURSOR = "queue:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str | None = None
    kind: RequestKind | None = None
    overdue: bool | None = None
    due_before: datetime | None = None


def queue_scope(ctx: Context) -> frozenset[RequestKind] | None:
    """The kinds this employee may see in the queue (None: all); refuses anyone else."""
    viewer = ctx.viewer
    if not viewer.is_employee or viewer.role not in QUEUE_ROLES:
        raise ForbiddenError("the privacy request queue is for the DPO and support staff")
    purposes, kinds = QUEUE_ROLES[viewer.role]
    if viewer.purpose.value not in purposes:
        raise ForbiddenError(
            f"the queue as {viewer.role.value} needs the purpose {' or '.join(sorted(purposes))}"
        )
    return kinds


async def page(
    ctx: Context, where: QueueFilter, first: int, after: str | None
) -> tuple[list[m.PrivacyRequest], bool]:
    """Up to `first` requests by due date (then id), after the cursor, and whether more follow."""
    kinds = queue_scope(ctx)
    limit = ctx.settings.max_page_size
    if not 1 <= first <= limit:
        raise InputError(f"'first' must be between 1 and {limit}, got {first}")
    r = m.PrivacyRequest
    conditions: list[ColumnElement[bool]] = []
    if kinds is not None:
        conditions.append(r.kind.in_([k.value for k in kinds]))
    if where.status is not None:
        conditions.append(r.status == where.status)
    if where.kind is not None:
        conditions.append(r.kind == where.kind.value)
    now = ctx.clock()
    if where.overdue is True:
        conditions += [r.status.in_(OPEN), r.due_at < now]
    elif where.overdue is False:
        conditions.append(or_(r.status.in_(CLOSED), r.due_at >= now))
    if where.due_before is not None:
        conditions.append(r.due_at < _aware(where.due_before))
    if after is not None:
        due_at, row_id = decode_cursor(after)
        conditions.append(or_(r.due_at > due_at, and_(r.due_at == due_at, r.id > row_id)))
    statement = select(r).where(*conditions).order_by(r.due_at, r.id).limit(first + 1)
    async with ctx.sessions() as session:
        rows = list((await session.scalars(statement)).all())
    requests_read(ctx.privacy.audit, (row.subject_id for row in rows[:first]))
    return rows[:first], len(rows) > first


async def one(ctx: Context, request_id: int | None) -> m.PrivacyRequest | None:
    """A request by id for queue staff (within their kinds), or the subject's own."""
    if request_id is None:
        return None
    viewer = ctx.viewer
    async with ctx.sessions() as session:
        row = await session.get(m.PrivacyRequest, request_id)
    if row is None:
        return None
    if viewer.is_user:
        return row if row.subject_id == viewer.user_id else None
    if not viewer.is_employee and not viewer.is_user:
        raise UnauthenticatedError("sign in to read privacy requests")
    kinds = queue_scope(ctx)
    if kinds is not None and RequestKind(row.kind) not in kinds:
        return None
    requests_read(ctx.privacy.audit, (row.subject_id,))
    return row


async def mine(ctx: Context) -> list[m.PrivacyRequest]:
    viewer = ctx.viewer
    if viewer.is_employee:
        raise ForbiddenError(
            "myPrivacyRequests is a platform user's own list; staff: privacyRequests"
        )
    if viewer.user_id is None:
        raise UnauthenticatedError("sign in to see your privacy requests")
    r = m.PrivacyRequest
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(r).where(r.subject_id == viewer.user_id).order_by(r.received_at.desc(), r.id)
        )
        return list(rows.all())


def encode_cursor(row: m.PrivacyRequest) -> str:
    micros = (_aware(row.due_at) - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{_CURSOR}{micros}:{row.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (due date, id) after which a queue page starts; anything else is refused."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (UnicodeError, binascii.Error, ValueError):
        text = ""
    head, _, rest = text.partition(_CURSOR)
    micros, _, row_id = rest.partition(":")
    if head or not (micros.isdigit() and row_id.isdigit()) or len(micros) > 17 or len(row_id) > 10:
        raise InputError("'after' is not a cursor this gateway issued")
    return _EPOCH + timedelta(microseconds=int(micros)), int(row_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
