"""Security incidents (privacy policy Art. 3.4): reported by the security team or the DPO,
each affected jurisdiction's authority notices due from the jurisdiction table, every
affected subject told where the jurisdiction's rule says so, and each notice's sending
recorded.

Affected subjects are named by ids, or by a selector: the users of the given
jurisdictions whose account existed at some moment of the window, i.e. created no later
than `active_until` (default: the detection time) and not erased before `active_from`
(default: no lower bound). Erased subjects count for the authority but cannot be told.
Which subjects are named is not stored beyond their notifications: the incident keeps
the selector (or that ids were given) and the counts per jurisdiction.

Deadlines: `incident_deadlines` from the platform's awareness where the law counts from it
(GDPR, PIPL), from detection where it counts from that (KZ, RU), and whether subjects are
told at all, both as the jurisdiction table's rows say (`counted_from`, `subjects_told`
in directives/data/jurisdictions.csv). A notice
is overdue while unsent past its due date, and late once sent after it. Subject notices
are delivered in the gateway (`myNotifications`) when the incident is reported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import (
    JURISDICTIONS,
    Deadline,
    IncidentNotice,
    RuleBook,
    SubjectsTold,
    incident_deadlines,
)
from directives.taxonomy import Purpose, Role
from gateway.db import models as m
from resolvers.audit.actions import record
from resolvers.context import Context
from resolvers.errors import InputError
from resolvers.rights.refusals import Code, Refusal, staff, subject_of, text_argument

TITLE_LIMIT, DESCRIPTION_LIMIT, MESSAGE_LIMIT, REFERENCE_LIMIT = 200, 8000, 4000, 120
MAX_SUBJECT_IDS = 5000
GATEWAY = "gateway"  # who sends the notices the gateway delivers itself
GONE = ("ERASED", "PURGED")  # nobody left to tell
# The incident team (Art. 3.4): security for its purposes, the DPO for legal duties.
RESPONDERS: dict[Role, frozenset[str]] = {
    Role.SECURITY: frozenset({Purpose.SECURITY.value, Purpose.LEGAL.value}),
    Role.DPO: frozenset({Purpose.LEGAL.value}),
}


class Severity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class Recipient(StrEnum):
    AUTHORITY = "AUTHORITY"
    SUBJECT = "SUBJECT"


HIGH_RISK = frozenset({Severity.HIGH, Severity.CRITICAL})


def subjects_told(
    rules: RuleBook, jurisdiction: str, severity: Severity, harm_avoided: bool
) -> bool:
    """Whether the jurisdiction's affected subjects are told (its `subjects_told` row)."""
    rule = rules.subjects_told(jurisdiction)
    if rule is SubjectsTold.HIGH_RISK:
        return severity in HIGH_RISK
    if rule is SubjectsTold.UNLESS_HARM_AVOIDED:
        return not harm_avoided
    return True


@dataclass(frozen=True, slots=True)
class Affected:
    subject_ids: tuple[int | None, ...] | None = None
    jurisdictions: tuple[str, ...] | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentReport:
    title: str
    description: str
    detected_at: datetime
    severity: Severity
    affected: Affected
    aware_at: datetime | None = None
    subject_message: str | None = None
    harm_avoided: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident with its notices: authority rows in full, subject notices counted."""

    row: m.SecurityIncident
    authority: tuple[m.Notification, ...]
    subjects: tuple[SubjectNotices, ...]


@dataclass(frozen=True, slots=True)
class SubjectNotices:
    jurisdiction: str
    count: int
    sent: int
    due_at: datetime
    last_sent_at: datetime | None


async def report(ctx: Context, given: IncidentReport) -> Incident:
    staff(ctx, RESPONDERS, "report a security incident")
    title = text_argument(given.title, "title", limit=TITLE_LIMIT)
    description = text_argument(given.description, "description", limit=DESCRIPTION_LIMIT)
    message = text_argument(
        given.subject_message or "", "subjectMessage", limit=MESSAGE_LIMIT, required=False
    )
    now = ctx.clock()
    detected = _aware(given.detected_at, "detectedAt")
    aware = _aware(given.aware_at, "awareAt") if given.aware_at is not None else detected
    if detected > now:
        raise Refusal(Code.INVALID, "detectedAt is in the future", "detectedAt")
    if not detected <= aware <= now:
        raise Refusal(Code.INVALID, "awareAt must lie between detectedAt and now", "awareAt")
    async with ctx.sessions() as session, session.begin():
        subjects, selector = await _affected(session, given.affected, detected)
        counts: dict[str, int] = {}
        for _, jurisdiction, _ in subjects:
            counts[jurisdiction] = counts.get(jurisdiction, 0) + 1
        told = [
            (sid, jurisdiction)
            for sid, jurisdiction, state in subjects
            if state not in GONE
            and subjects_told(ctx.rules, jurisdiction, given.severity, given.harm_avoided)
        ]
        if told and not message:
            raise Refusal(
                Code.INVALID,
                f"{len(told)} affected subjects must be told: give subjectMessage (what "
                "happened, its likely consequences, the measures taken, how to reach the DPO)",
                "subjectMessage",
            )
        row = m.SecurityIncident(
            detected_at=detected,
            aware_at=aware,
            title=title,
            severity=given.severity.value,
            description=description,
            status="OPEN",
            reported_at=now,
            reported_by=ctx.viewer.actor,
            affected=json.dumps(selector, sort_keys=True),
            affected_counts=json.dumps(dict(sorted(counts.items()))),
            subject_message=message or None,
            harm_avoided=given.harm_avoided,
        )
        session.add(row)
        await session.flush()
        due = {j: _deadlines(ctx, j, detected, aware) for j in counts}
        authority = [
            _notice(row.id, Recipient.AUTHORITY, j, deadline)
            for j in sorted(counts)
            for deadline in due[j][IncidentNotice.BREACH_AUTHORITY]
        ]
        session.add_all(authority)
        if told:
            subject_due = {j: due[j][IncidentNotice.BREACH_SUBJECTS][0] for j in counts}
            await session.execute(
                insert(m.Notification),
                [
                    {
                        "incident_id": row.id,
                        "recipient_kind": Recipient.SUBJECT.value,
                        "jurisdiction": j,
                        "subject_id": sid,
                        "due_at": subject_due[j].due_at,
                        "sent_at": now,
                        "stage": "",
                        "rule_reference": subject_due[j].reference[:REFERENCE_LIMIT],
                        "internal_sla": subject_due[j].internal,
                        "sent_by": GATEWAY,
                    }
                    for sid, j in told
                ],
            )
        record(
            session,
            "INCIDENT_REPORTED",
            actor=ctx.viewer.actor,
            entity="SecurityIncident",
            detail={
                "incident": row.id,
                "severity": given.severity.value,
                "affected": counts,
                "subjectsTold": len(told),
            },
        )
    return (await _with_notices(ctx, [row]))[0]


async def record_notification(
    ctx: Context, notification_id: int | None, sent_at: datetime | None, reference: str | None
) -> Incident:
    """Record that a notice was made (when, and the authority's reference if any)."""
    staff(ctx, RESPONDERS, "record an incident notification")
    note = text_argument(reference or "", "reference", limit=REFERENCE_LIMIT, required=False)
    now = ctx.clock()
    when = now if sent_at is None else _aware(sent_at, "sentAt")
    if when > now:
        raise Refusal(Code.INVALID, "sentAt is in the future", "sentAt")
    async with ctx.sessions() as session, session.begin():
        notice = None
        if notification_id is not None:
            notice = await session.get(m.Notification, notification_id, with_for_update=True)
        if notice is None:
            raise Refusal(Code.NOT_FOUND, "no incident notification with this id", "id")
        if notice.sent_at is not None:
            raise Refusal(Code.CLOSED, "this notification's sending is recorded already", "id")
        incident = await session.get(m.SecurityIncident, notice.incident_id)
        assert incident is not None
        if when < incident.detected_at:
            raise Refusal(Code.INVALID, "sentAt is before the incident was detected", "sentAt")
        notice.sent_at, notice.sent_by, notice.reference = when, ctx.viewer.actor, note or None
        record(
            session,
            "INCIDENT_NOTIFIED",
            actor=ctx.viewer.actor,
            entity="Notification",
            subject=notice.subject_id,
            detail={
                "incident": incident.id,
                "notification": notice.id,
                "recipient": notice.recipient_kind,
                "jurisdiction": notice.jurisdiction,
                "stage": notice.stage,
                "late": when > notice.due_at,
            },
        )
    return (await _with_notices(ctx, [incident]))[0]


async def incidents(ctx: Context, first: int, after: int | None) -> tuple[list[Incident], bool]:
    """Newest first, `first` at a time after the incident id `after`."""
    staff(ctx, RESPONDERS, "read security incidents")
    limit = ctx.settings.max_page_size
    if not 1 <= first <= limit:
        raise InputError(f"'first' must be between 1 and {limit}, got {first}")
    i = m.SecurityIncident
    statement = select(i).order_by(i.id.desc()).limit(first + 1)
    if after is not None:
        statement = statement.where(i.id < after)
    async with ctx.sessions() as session:
        rows = list((await session.scalars(statement)).all())
    return await _with_notices(ctx, rows[:first]), len(rows) > first


async def incident(ctx: Context, incident_id: int | None) -> Incident | None:
    staff(ctx, RESPONDERS, "read security incidents")
    if incident_id is None:
        return None
    async with ctx.sessions() as session:
        row = await session.get(m.SecurityIncident, incident_id)
    return None if row is None else (await _with_notices(ctx, [row]))[0]


@dataclass(frozen=True, slots=True)
class SubjectNotice:
    """What a subject reads: the notice and the incident's message, nothing of others."""

    id: int
    detected_at: datetime
    sent_at: datetime
    message: str | None


async def my_notifications(
    ctx: Context, first: int, after: int | None
) -> tuple[list[SubjectNotice], bool]:
    subject = subject_of(ctx)
    limit = ctx.settings.max_page_size
    if not 1 <= first <= limit:
        raise InputError(f"'first' must be between 1 and {limit}, got {first}")
    n, i = m.Notification, m.SecurityIncident
    conditions = [
        n.subject_id == subject,
        n.recipient_kind == Recipient.SUBJECT.value,
        n.sent_at.is_not(None),
    ]
    if after is not None:
        conditions.append(n.id < after)
    statement = (
        select(n.id, i.detected_at, n.sent_at, i.subject_message)
        .join(i, i.id == n.incident_id)
        .where(*conditions)
        .order_by(n.id.desc())
        .limit(first + 1)
    )
    async with ctx.sessions() as session:
        rows = (await session.execute(statement)).all()
    found = [
        SubjectNotice(notice_id, detected, sent, message)
        for notice_id, detected, sent, message in rows[:first]
        if sent is not None
    ]
    return found, len(rows) > first


def overdue(notice: m.Notification, now: datetime) -> bool:
    return notice.sent_at is None and notice.due_at < now


def late(notice: m.Notification) -> bool:
    return notice.sent_at is not None and notice.sent_at > notice.due_at


async def _affected(
    session: AsyncSession, affected: Affected, detected: datetime
) -> tuple[list[tuple[int, str, str]], dict[str, Any]]:
    """(id, jurisdiction, deletion state) of each affected subject, and the selector kept."""
    u = m.User
    named, selected = affected.subject_ids is not None, affected.jurisdictions is not None
    if named == selected:
        raise Refusal(
            Code.INVALID,
            "name the affected subjects by subjectIds, or by jurisdictions (with activeFrom "
            "and activeUntil), not both",
            "affected",
        )
    if affected.subject_ids is not None:
        ids = {sid for sid in affected.subject_ids if sid is not None}
        if not ids or len(affected.subject_ids) > MAX_SUBJECT_IDS:
            raise Refusal(
                Code.INVALID,
                f"give 1 to {MAX_SUBJECT_IDS} subject ids (or a selector)",
                "affected.subjectIds",
            )
        if affected.active_from is not None or affected.active_until is not None:
            raise Refusal(
                Code.INVALID, "a window applies to a jurisdiction selector only", "affected"
            )
        rows = (
            await session.execute(
                select(u.id, u.jurisdiction, u.deletion_state).where(u.id.in_(sorted(ids)))
            )
        ).all()
        if len(rows) != len(ids) or len(ids) != len(affected.subject_ids):
            raise Refusal(
                Code.INVALID,
                f"{len(affected.subject_ids) - len(rows)} of the subject ids are not users "
                "(or repeat)",
                "affected.subjectIds",
            )
        return [tuple(row) for row in rows], {"kind": "ids", "count": len(rows)}  # type: ignore[misc]
    jurisdictions = sorted(set(affected.jurisdictions or ()))
    unknown = [j for j in jurisdictions if j not in JURISDICTIONS]
    if not jurisdictions or unknown:
        raise Refusal(
            Code.INVALID,
            f"jurisdictions must name one or more of {', '.join(JURISDICTIONS)}",
            "affected.jurisdictions",
        )
    start = _aware(affected.active_from, "activeFrom") if affected.active_from else None
    end = _aware(affected.active_until, "activeUntil") if affected.active_until else detected
    if start is not None and start > end:
        raise Refusal(Code.INVALID, "activeFrom is after activeUntil", "affected.activeFrom")
    conditions = [
        u.jurisdiction.in_(jurisdictions),
        or_(u.created_at.is_(None), u.created_at <= end),
    ]
    if start is not None:
        conditions.append(or_(u.erased_at.is_(None), u.erased_at >= start))
    rows = (
        await session.execute(
            select(u.id, u.jurisdiction, u.deletion_state).where(and_(*conditions)).order_by(u.id)
        )
    ).all()
    if not rows:
        raise Refusal(Code.INVALID, "no subject matches the selector", "affected")
    selector = {
        "kind": "selector",
        "jurisdictions": jurisdictions,
        "activeFrom": start.isoformat() if start else None,
        "activeUntil": end.isoformat(),
    }
    return [tuple(row) for row in rows], selector  # type: ignore[misc]


def _deadlines(
    ctx: Context, jurisdiction: str, detected: datetime, aware: datetime
) -> dict[IncidentNotice, list[Deadline]]:
    found: dict[IncidentNotice, list[Deadline]] = {notice: [] for notice in IncidentNotice}
    for deadline in incident_deadlines(ctx.rules, jurisdiction, detected, aware):
        found[IncidentNotice(deadline.rule.kind)].append(deadline)
    return found


def _notice(
    incident_id: int, recipient: Recipient, jurisdiction: str, deadline: Deadline
) -> m.Notification:
    return m.Notification(
        incident_id=incident_id,
        recipient_kind=recipient.value,
        jurisdiction=jurisdiction,
        due_at=deadline.due_at,
        stage=deadline.stage,
        rule_reference=deadline.reference[:REFERENCE_LIMIT],
        internal_sla=deadline.internal,
    )


async def _with_notices(ctx: Context, rows: Sequence[m.SecurityIncident]) -> list[Incident]:
    if not rows:
        return []
    ids = [row.id for row in rows]
    n = m.Notification
    async with ctx.sessions() as session:
        authority = (
            await session.scalars(
                select(n)
                .where(n.incident_id.in_(ids), n.recipient_kind == Recipient.AUTHORITY.value)
                .order_by(n.incident_id, n.jurisdiction, n.due_at, n.id)
            )
        ).all()
        subjects = (
            await session.execute(
                select(
                    n.incident_id,
                    n.jurisdiction,
                    func.count(),
                    func.count(n.sent_at),
                    func.min(n.due_at),
                    func.max(n.sent_at),
                )
                .where(n.incident_id.in_(ids), n.recipient_kind == Recipient.SUBJECT.value)
                .group_by(n.incident_id, n.jurisdiction)
                .order_by(n.incident_id, n.jurisdiction)
            )
        ).all()
    by_incident: dict[int, list[m.Notification]] = {}
    for notice in authority:
        by_incident.setdefault(notice.incident_id, []).append(notice)
    counted: dict[int, list[SubjectNotices]] = {}
    for incident_id, jurisdiction, count, sent, due_at, last_sent in subjects:
        counted.setdefault(incident_id, []).append(
            SubjectNotices(
                jurisdiction, count, sent, _utc(due_at), _utc(last_sent) if last_sent else None
            )
        )
    return [
        Incident(row, tuple(by_incident.get(row.id, ())), tuple(counted.get(row.id, ())))
        for row in rows
    ]


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise Refusal(Code.INVALID, f"{field} needs a time zone (e.g. ...Z)", field)
    return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if isinstance(value, str):  # SQLite's min() of a datetime column is its text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
