"""Security incidents as GraphQL: reporting one, recording its notices, the incident team's
list with deadlines, overdue flags and a timeline, and the subject's own notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from gateway.db import models as m
from resolvers import incidents
from resolvers.context import Context
from resolvers.rights.refusals import Refusal
from schema.audit import as_error
from schema.rights.types import Refused, refused
from schema.types.common import (
    Jurisdiction,
    Page,
    PageInfo,
    decode_cursor,
    encode_cursor,
    gid,
    parse_id,
)

strawberry.enum(incidents.Severity, name="IncidentSeverity", description="How bad it is.")
strawberry.enum(
    incidents.Recipient, name="NotificationRecipient", description="Who a notice is for."
)

_SUBJECT_FALLBACK = (
    "A security incident may have affected your personal data. Contact the data protection "
    "officer (submitPrivacyInquiry) to learn what happened and what was done."
)


@strawberry.input(
    description="Who is affected: subject ids, or a selector (the users of these "
    "jurisdictions whose account existed at some moment between activeFrom and activeUntil)."
)
class AffectedSubjectsInput:
    subject_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="At most 5,000; or use the selector."
    )
    jurisdictions: list[Jurisdiction] | None = None
    active_from: datetime | None = strawberry.field(
        default=None, description="Not erased before this (default: no lower bound)."
    )
    active_until: datetime | None = strawberry.field(
        default=None, description="Created no later than this (default: detectedAt)."
    )


@strawberry.input(description="A personal data security incident (Art. 3.4).")
class SecurityIncidentInput:
    title: str = strawberry.field(description="At most 200 characters; for the incident team.")
    description: str = strawberry.field(description="At most 8,000 characters.")
    detected_at: datetime
    severity: incidents.Severity = strawberry.field(
        description="HIGH and CRITICAL are a likely high risk (GDPR Art. 34): EU subjects are told."
    )
    affected: AffectedSubjectsInput
    aware_at: datetime | None = strawberry.field(
        default=None,
        description="When the platform became aware (default: detectedAt); GDPR and PIPL "
        "count from here, KZ and RU from detection.",
    )
    subject_message: str | None = strawberry.field(
        default=None,
        description="What affected subjects read: what happened, likely consequences, the "
        "measures taken, how to reach the DPO. Needed when any subject is to be told.",
    )
    harm_avoided: bool = strawberry.field(
        default=False,
        description="The measures taken effectively avoid harm (PIPL Art. 57): CN subjects "
        "are not told.",
    )


@strawberry.type(description="A notice to an authority: when it is due, whether it was made.")
class AuthorityNotification:
    id: strawberry.ID
    jurisdiction: Jurisdiction
    stage: str | None = strawberry.field(description="RU: initial, then results.")
    due_at: datetime
    rule: str | None = strawberry.field(description="The legal reference of the deadline.")
    internal_sla: bool = strawberry.field(description="The law has no figure: the platform's.")
    sent_at: datetime | None
    sent_by: str | None
    reference: str | None = strawberry.field(description="The authority's reference, if any.")
    overdue: bool = strawberry.field(description="Not made, and past due.")
    late: bool = strawberry.field(description="Made after it was due.")


@strawberry.type(description="The affected subjects of one jurisdiction told (counts only).")
class SubjectNotifications:
    jurisdiction: Jurisdiction
    count: int
    sent: int
    due_at: datetime
    overdue: int = strawberry.field(description="Not yet told, and past due.")
    last_sent_at: datetime | None = strawberry.field(description="When the last was told.")


@strawberry.enum(description="What happened to an incident, as its timeline says.")
class IncidentEventKind(Enum):
    DETECTED = "DETECTED"
    AWARE = "AWARE"
    REPORTED = "REPORTED"
    NOTIFICATION_DUE = "NOTIFICATION_DUE"
    NOTIFICATION_SENT = "NOTIFICATION_SENT"
    SUBJECTS_DUE = "SUBJECTS_DUE"
    SUBJECTS_TOLD = "SUBJECTS_TOLD"


@strawberry.type(description="One step of an incident's timeline.")
class IncidentEvent:
    at: datetime
    kind: IncidentEventKind
    jurisdiction: Jurisdiction | None = None
    stage: str | None = None
    count: int | None = strawberry.field(default=None, description="Subjects, where counted.")
    overdue: bool = False


@strawberry.type(description="How many affected subjects one jurisdiction has.")
class AffectedCount:
    jurisdiction: Jurisdiction
    count: int


@strawberry.type(description="A security incident, its notices and its timeline.")
class SecurityIncident:
    id: strawberry.ID
    title: str
    description: str
    severity: incidents.Severity
    status: str
    detected_at: datetime
    aware_at: datetime
    reported_at: datetime | None
    reported_by: str | None
    affected: str | None = strawberry.field(
        description="How the affected were named (JSON): ids (count only) or the selector."
    )
    affected_counts: list[AffectedCount]
    subject_message: str | None
    authority_notifications: list[AuthorityNotification]
    subject_notifications: list[SubjectNotifications]
    overdue: bool = strawberry.field(description="An authority notice is past due and not made.")
    timeline: list[IncidentEvent]

    @classmethod
    def of(cls, found: incidents.Incident, now: datetime) -> SecurityIncident:
        row = found.row
        aware = row.aware_at or row.detected_at
        notices = [_authority(notice, now) for notice in found.authority]
        subjects = [
            SubjectNotifications(
                jurisdiction=Jurisdiction(s.jurisdiction),
                count=s.count,
                sent=s.sent,
                due_at=s.due_at,
                overdue=(s.count - s.sent) if s.due_at < now else 0,
                last_sent_at=s.last_sent_at,
            )
            for s in found.subjects
        ]
        counts = json.loads(row.affected_counts) if row.affected_counts else {}
        return cls(
            id=gid(row.id),
            title=row.title,
            description=row.description,
            severity=incidents.Severity(row.severity),
            status=row.status,
            detected_at=row.detected_at,
            aware_at=aware,
            reported_at=row.reported_at,
            reported_by=row.reported_by,
            affected=row.affected,
            affected_counts=[
                AffectedCount(jurisdiction=Jurisdiction(j), count=n) for j, n in counts.items()
            ],
            subject_message=row.subject_message,
            authority_notifications=notices,
            subject_notifications=subjects,
            overdue=any(notice.overdue for notice in notices),
            timeline=_timeline(row, aware, notices, subjects),
        )


@strawberry.type(description="The incident reported, or why nothing changed.")
class SecurityIncidentPayload:
    incident: SecurityIncident | None = None
    errors: list[Refused] = strawberry.field(default_factory=list)


@strawberry.type(description="A notice about a security incident that may affect your data.")
class PrivacyNotification:
    id: strawberry.ID
    kind: str = strawberry.field(description="SECURITY_INCIDENT.")
    message: str
    incident_detected_at: datetime
    sent_at: datetime


@strawberry.type
class IncidentQueries:
    @strawberry.field(
        description="Security (SECURITY, LEGAL) and the DPO (LEGAL): incidents, newest first, "
        "with their notices, overdue flags and timelines."
    )
    async def security_incidents(
        self, info: Info[Context, None], first: int = 20, after: str | None = None
    ) -> Page[SecurityIncident] | None:
        try:
            found, more = await incidents.incidents(info.context, first, decode_cursor(after))
        except Refusal as exc:
            raise as_error(exc) from None
        now = info.context.clock()
        end = encode_cursor(found[-1].row.id) if found else None
        return Page(
            nodes=[SecurityIncident.of(item, now) for item in found],
            page_info=PageInfo(has_next_page=more, end_cursor=end),
        )

    @strawberry.field(description="One incident, for the incident team.")
    async def security_incident(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> SecurityIncident | None:
        try:
            found = await incidents.incident(info.context, parse_id(id))
        except Refusal as exc:
            raise as_error(exc) from None
        return None if found is None else SecurityIncident.of(found, info.context.clock())

    @strawberry.field(
        description="Security incidents that may have affected your data, newest first."
    )
    async def my_notifications(
        self, info: Info[Context, None], first: int = 20, after: str | None = None
    ) -> Page[PrivacyNotification] | None:
        try:
            found, more = await incidents.my_notifications(
                info.context, first, decode_cursor(after)
            )
        except Refusal as exc:
            raise as_error(exc) from None
        end = encode_cursor(found[-1].id) if found else None
        return Page(
            nodes=[
                PrivacyNotification(
                    id=gid(notice.id),
                    kind="SECURITY_INCIDENT",
                    message=notice.message or _SUBJECT_FALLBACK,
                    incident_detected_at=_utc(notice.detected_at),
                    sent_at=_utc(notice.sent_at),
                )
                for notice in found
            ],
            page_info=PageInfo(has_next_page=more, end_cursor=end),
        )


@strawberry.type
class IncidentMutations:
    @strawberry.mutation(
        description="Security or the DPO: report an incident. Each affected jurisdiction's "
        "authority notices are due from the jurisdiction table; affected subjects are told "
        "where its rule says so (myNotifications)."
    )
    async def report_security_incident(
        self, info: Info[Context, None], input: SecurityIncidentInput
    ) -> SecurityIncidentPayload:
        affected = input.affected
        given = incidents.IncidentReport(
            title=input.title,
            description=input.description,
            detected_at=input.detected_at,
            severity=input.severity,
            affected=incidents.Affected(
                subject_ids=(
                    tuple(parse_id(sid) for sid in affected.subject_ids)
                    if affected.subject_ids is not None
                    else None
                ),
                jurisdictions=(
                    tuple(j.value for j in affected.jurisdictions)
                    if affected.jurisdictions is not None
                    else None
                ),
                active_from=affected.active_from,
                active_until=affected.active_until,
            ),
            aware_at=input.aware_at,
            subject_message=input.subject_message,
            harm_avoided=input.harm_avoided,
        )
        try:
            found = await incidents.report(info.context, given)
        except Refusal as exc:
            return SecurityIncidentPayload(errors=[refused(exc)])
        return SecurityIncidentPayload(incident=SecurityIncident.of(found, info.context.clock()))

    @strawberry.mutation(
        description="Security or the DPO: record that a notice was made (default: now), "
        "with the authority's reference."
    )
    async def record_incident_notification(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        sent_at: datetime | None = None,
        reference: str | None = None,
    ) -> SecurityIncidentPayload:
        try:
            found = await incidents.record_notification(
                info.context, parse_id(id), sent_at, reference
            )
        except Refusal as exc:
            return SecurityIncidentPayload(errors=[refused(exc)])
        return SecurityIncidentPayload(incident=SecurityIncident.of(found, info.context.clock()))


def _authority(notice: m.Notification, now: datetime) -> AuthorityNotification:
    return AuthorityNotification(
        id=gid(notice.id),
        jurisdiction=Jurisdiction(notice.jurisdiction),
        stage=notice.stage or None,
        due_at=notice.due_at,
        rule=notice.rule_reference,
        internal_sla=notice.internal_sla,
        sent_at=notice.sent_at,
        sent_by=notice.sent_by,
        reference=notice.reference,
        overdue=incidents.overdue(notice, now),
        late=incidents.late(notice),
    )


def _timeline(
    row: m.SecurityIncident,
    aware: datetime,
    notices: list[AuthorityNotification],
    subjects: list[SubjectNotifications],
) -> list[IncidentEvent]:
    events = [IncidentEvent(at=row.detected_at, kind=IncidentEventKind.DETECTED)]
    if aware != row.detected_at:
        events.append(IncidentEvent(at=aware, kind=IncidentEventKind.AWARE))
    if row.reported_at is not None:
        events.append(IncidentEvent(at=row.reported_at, kind=IncidentEventKind.REPORTED))
    for notice in notices:
        events.append(
            IncidentEvent(
                at=notice.due_at,
                kind=IncidentEventKind.NOTIFICATION_DUE,
                jurisdiction=notice.jurisdiction,
                stage=notice.stage,
                overdue=notice.overdue,
            )
        )
        if notice.sent_at is not None:
            events.append(
                IncidentEvent(
                    at=notice.sent_at,
                    kind=IncidentEventKind.NOTIFICATION_SENT,
                    jurisdiction=notice.jurisdiction,
                    stage=notice.stage,
                )
            )
    for told in subjects:
        events.append(
            IncidentEvent(
                at=told.due_at,
                kind=IncidentEventKind.SUBJECTS_DUE,
                jurisdiction=told.jurisdiction,
                count=told.count,
                overdue=told.overdue > 0,
            )
        )
        if told.last_sent_at is not None:
            events.append(
                IncidentEvent(
                    at=told.last_sent_at,
                    kind=IncidentEventKind.SUBJECTS_TOLD,
                    jurisdiction=told.jurisdiction,
                    count=told.sent,
                )
            )
    return sorted(events, key=lambda event: (event.at, event.kind.value))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
