"""Rights actions and DPO decisions as audit events, written in the transaction that makes
them: no action commits without its evidence, a refused one (rolled back) leaves none.

The gateway's sessions are `AuditedSession`s. Whatever a use case writes that is a rights
action, it writes as a row already (a request's history event, a consent ledger row, a
correction event), so those rows are the one place: `DESCRIBED` turns each new one into an
event, and the events are appended just before the commit, after every other lock the
transaction takes (so appenders wait for each other, never in a cycle). Other actions
(incidents) add theirs with `record`. Events name ids, kinds, statuses and field names:
never a note, an answer or a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.util import identity_key

from gateway import metrics
from gateway.db import models as m
from resolvers.audit.chain import Event, KnownHead, append
from resolvers.audit.reads import Actor

ACTOR = "audit.actor"  # Session.info: the request's Actor
CLOCK = "audit.clock"  # Session.info: the gateway's clock
HEAD = "audit.head"  # Session.info: the gateway's KnownHead
_PENDING = "audit.pending"
_WRITTEN = "audit.written"


class AuditedSession(Session):
    """A Session that appends the audit events of what it wrote when it commits."""


def audited(
    sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime], known: KnownHead
) -> None:
    """Make a session factory's sessions audited (the gateway's own, once)."""
    sessions.configure(sync_session_class=AuditedSession, info={CLOCK: clock, HEAD: known})


def for_request(
    sessions: async_sessionmaker[AsyncSession], actor: Actor
) -> async_sessionmaker[AsyncSession]:
    """The factory a request uses: the gateway's, with the request's actor on its sessions."""
    kw = dict(sessions.kw)
    kw["info"] = {**(kw.get("info") or {}), ACTOR: actor}
    return async_sessionmaker(class_=sessions.class_, **kw)


def record(
    session: AsyncSession | Session,
    action: str,
    *,
    actor: str,
    entity: str,
    detail: dict[str, Any],
    subject: int | None = None,
) -> None:
    """An event for the session's request (its actor, role, purpose, request id; `actor`
    where it has none), appended when the transaction commits, not if it rolls back."""
    info = session.info
    audit_event = _event(
        info.get(ACTOR), action, actor, subject=subject, entity=entity, detail=detail
    )
    info.setdefault(_PENDING, []).append(audit_event)


def _request_event(session: Session, row: m.PrivacyRequestEvent, actor: Actor | None) -> Event:
    key = identity_key(m.PrivacyRequest, row.request_id)
    request = session.identity_map.get(key)
    detail = {"request": row.request_id, "from": row.from_status, "to": row.to_status}
    if request is not None:
        detail["kind"] = request.kind
    return _event(
        actor,
        f"REQUEST_{row.event}",
        row.actor,
        subject=request.subject_id if request is not None else None,
        entity="PrivacyRequest",
        detail=detail,
    )


def _consent_event(session: Session, row: m.Consent, actor: Actor | None) -> Event:
    return _event(
        actor,
        "CONSENT_GRANTED" if row.granted else "CONSENT_WITHDRAWN",
        f"user:{row.subject_id}",
        subject=row.subject_id,
        entity="Consent",
        detail={"purpose": row.purpose, "method": row.method},
    )


def _correction_event(session: Session, row: m.CorrectionEvent, actor: Actor | None) -> Event:
    return _event(
        actor,
        "CORRECTION",
        row.actor,
        subject=row.subject_id,
        entity="CorrectionEvent",
        fields=json.dumps({row.field: "CORRECTED"}, separators=(",", ":")),
        detail={"request": row.request_id},
    )


def _event(
    actor: Actor | None,
    action: str,
    fallback: str,
    *,
    subject: int | None,
    entity: str,
    detail: dict[str, Any],
    fields: str | None = None,
) -> Event:
    return Event(
        action=action,
        actor=actor.actor if actor is not None else fallback,
        actor_role=actor.role if actor is not None else None,
        purpose=actor.purpose if actor is not None else None,
        subject_id=subject,
        entity=entity,
        fields=fields,
        request_id=actor.request_id if actor is not None else None,
        detail=json.dumps(detail, sort_keys=True, separators=(",", ":")),
    )


# The rows that are rights actions, and the event each one becomes.
DESCRIBED: dict[type, Callable[[Session, Any, Actor | None], Event]] = {
    m.PrivacyRequestEvent: _request_event,
    m.Consent: _consent_event,
    m.CorrectionEvent: _correction_event,
}


@event.listens_for(AuditedSession, "after_flush")
def _collect(session: Session, flush: UOWTransaction) -> None:
    actor = session.info.get(ACTOR)
    # In the order they were written: by table, then id (ids follow the order of adding).
    rows = sorted((row for row in session.new if type(row) in DESCRIBED), key=_written)
    if rows:
        session.info.setdefault(_PENDING, []).extend(
            DESCRIBED[type(row)](session, row, actor) for row in rows
        )


@event.listens_for(AuditedSession, "before_commit")
def _write(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # what the commit would flush next: its rows are described first
    pending: list[Event] | None = session.info.pop(_PENDING, None)
    if pending:
        clock = session.info.get(CLOCK) or _utc_now
        append(session.connection(), pending, clock(), session.info.get(HEAD))
        session.info[_WRITTEN] = len(pending)


@event.listens_for(AuditedSession, "after_commit")
def _count(session: Session) -> None:
    written = session.info.pop(_WRITTEN, 0)
    if written:
        metrics.audit_events_written.inc(written)


@event.listens_for(AuditedSession, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)


_TABLES = {table: at for at, table in enumerate(DESCRIBED)}


def _written(row: Any) -> tuple[int, int]:
    return _TABLES[type(row)], row.id


def _utc_now() -> datetime:
    return datetime.now(UTC)
