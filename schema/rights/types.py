"""The GraphQL face of the rights: requests with their history, typed refusals, payloads."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar

import strawberry
from strawberry.types import Info

from directives.deadlines import RequestKind
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.jobs import DUE_SOON
from resolvers.rights.refusals import Code, Refusal
from resolvers.rights.requests import OPEN

T = TypeVar("T")

strawberry.enum(
    RequestKind, name="PrivacyRequestKind", description="Which right a request exercises."
)
strawberry.enum(Code, name="RefusalCode", description="Why a mutation changed nothing.")


@strawberry.enum(description="Where a privacy request stands.")
class PrivacyRequestStatus(Enum):
    RECEIVED = "RECEIVED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


@strawberry.type(description="Why a mutation changed nothing: a code, the argument at fault.")
class Refused:
    code: Code
    message: str
    field: str | None = None


@strawberry.type(description="One step in a request's history; nothing in it is ever changed.")
class PrivacyRequestEvent:
    occurred_at: datetime
    actor: str = strawberry.field(description="user:<id>, employee:<id> or system.")
    event: str = strawberry.field(description="FILED, STATUS, EXTENDED or ANSWERED.")
    from_status: PrivacyRequestStatus | None
    to_status: PrivacyRequestStatus
    note: str | None


@strawberry.type(description="What an erasure did to one table: an action and how many rows.")
class ErasedRows:
    table: str
    action: str = strawberry.field(description="DELETE, ANONYMIZE, DETACH or HOLD.")
    count: int


@strawberry.type(description="Records kept under legal hold after an erasure, and until when.")
class HeldRecords:
    record_type: str
    held_from: str = strawberry.field(description="The earliest hold end date (ISO date).")
    held_to: str = strawberry.field(description="The latest hold end date (ISO date).")


@strawberry.type(description="A completed erasure: counts per table and hold end dates.")
class ErasureSummary:
    rows: list[ErasedRows]
    held: list[HeldRecords]


@strawberry.type(description="A right exercised: its status, legal deadline, history, outcome.")
class PrivacyRequest:
    id: strawberry.ID
    subject_id: strawberry.ID
    kind: RequestKind
    status: PrivacyRequestStatus
    target: str | None = strawberry.field(
        description="What it is about: a corrected field, an inquiry's kind, an export format."
    )
    details: str | None = strawberry.field(description="The subject's own words.")
    proposed_value: str | None = strawberry.field(
        description="A correction's proposed value, for the DPO to check; wiped when resolved."
    )
    received_at: datetime
    due_at: datetime = strawberry.field(
        description="The earliest deadline that applies: the law's, or the platform's promise."
    )
    due_rule: str | None = strawberry.field(description="The rule the due date comes from.")
    jurisdiction: str | None
    extended: bool
    completed_at: datetime | None
    outcome: str | None = strawberry.field(description="The answer, or what was done.")
    overdue: bool = strawberry.field(description="Still open past its due date.")
    due_soon: bool = strawberry.field(description="Open and due within three days.")
    attempts: int = strawberry.field(description="Tries of its background work (an erasure).")
    failure: str | None = strawberry.field(
        description="Why its background work stopped retrying (e.g. ERASURE_FAILED:...)."
    )
    erasure_summary: ErasureSummary | None = strawberry.field(
        description="A completed deletion: what was deleted, anonymized, detached and held."
    )
    row_id: strawberry.Private[int]

    @classmethod
    def build(cls, row: m.PrivacyRequest, now: datetime) -> PrivacyRequest:
        due_at = _aware(row.due_at)
        return cls(
            id=strawberry.ID(str(row.id)),
            subject_id=strawberry.ID(str(row.subject_id)),
            kind=RequestKind(row.kind),
            status=PrivacyRequestStatus(row.status),
            target=row.target,
            details=row.details,
            proposed_value=row.proposed_value,
            received_at=_aware(row.received_at),
            due_at=due_at,
            due_rule=row.due_rule,
            jurisdiction=row.jurisdiction,
            extended=row.extended,
            completed_at=_aware(row.completed_at) if row.completed_at else None,
            outcome=row.outcome,
            overdue=row.status in OPEN and due_at < now,
            due_soon=row.status in OPEN and now <= due_at < now + DUE_SOON,
            attempts=row.attempts or 0,
            failure=row.failure,
            erasure_summary=_summary(row.summary),
            row_id=row.id,
        )

    @strawberry.field(description="Every move of the request, oldest first.")
    async def history(self, info: Info[Context, None]) -> list[PrivacyRequestEvent]:
        rows = await info.context.loaders.events_by_request.load(self.row_id)
        return [
            PrivacyRequestEvent(
                occurred_at=_aware(row.occurred_at),
                actor=row.actor,
                event=row.event,
                from_status=PrivacyRequestStatus(row.from_status) if row.from_status else None,
                to_status=PrivacyRequestStatus(row.to_status),
                note=row.note,
            )
            for row in rows
        ]


@strawberry.type(description="A request filed or moved, or why nothing changed.")
class PrivacyRequestPayload:
    request: PrivacyRequest | None = None
    created: bool = strawberry.field(
        default=False, description="False when an open request of this kind came back instead."
    )
    errors: list[Refused] = strawberry.field(default_factory=list)


def refused(exc: Refusal) -> Refused:
    return Refused(code=exc.code, message=exc.message, field=exc.field)


async def attempt(work: Callable[[], Awaitable[T]]) -> T | list[Refused]:
    """Run a use case; an expected refusal becomes the payload's errors."""
    try:
        return await work()
    except Refusal as exc:
        return [refused(exc)]


async def request_payload(
    info: Info[Context, None], work: Callable[[], Awaitable[tuple[m.PrivacyRequest, bool]]]
) -> PrivacyRequestPayload:
    result = await attempt(work)
    if isinstance(result, list):
        return PrivacyRequestPayload(errors=result)
    row, created = result
    return PrivacyRequestPayload(
        request=PrivacyRequest.build(row, info.context.clock()), created=created
    )


def _summary(text: str | None) -> ErasureSummary | None:
    if not text:
        return None
    data = json.loads(text)
    return ErasureSummary(
        rows=[
            ErasedRows(table=table, action=action, count=count)
            for table, actions in data["tables"].items()
            for action, count in actions.items()
        ],
        held=[
            HeldRecords(record_type=kind, held_from=span["from"], held_to=span["to"])
            for kind, span in data["held_until"].items()
        ],
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
