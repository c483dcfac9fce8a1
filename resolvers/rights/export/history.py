"""The subject's consent ledger and privacy requests (with their history), for the export:
read from the export's snapshot a chunk at a time, as plain documents."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.db import models as m
from resolvers.rights.export.snapshot import Sessions, chunks


async def consents(sessions: Sessions, subject_id: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Every grant and withdrawal, oldest first."""
    async for rows in chunks(sessions, m.Consent, m.Consent.subject_id == subject_id):
        yield [
            {
                "purpose": row.purpose,
                "granted": row.granted,
                "noticeVersion": row.notice_version,
                "channel": row.method,
                "recordedAt": moment(row.recorded_at),
            }
            for row in rows
        ]


async def requests(sessions: Sessions, subject_id: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Every request the subject filed, oldest first, each with its whole history."""
    r, e = m.PrivacyRequest, m.PrivacyRequestEvent
    async for rows in chunks(sessions, r, r.subject_id == subject_id):
        async with sessions() as session:
            events = await session.scalars(
                select(e).where(e.request_id.in_([row.id for row in rows])).order_by(e.id)
            )
            history: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for event in events:
                history[event.request_id].append(
                    {
                        "occurredAt": moment(event.occurred_at),
                        "actor": event.actor,
                        "event": event.event,
                        "fromStatus": event.from_status,
                        "toStatus": event.to_status,
                        "note": event.note,
                    }
                )
        yield [
            {
                "id": str(row.id),
                "kind": row.kind,
                "status": row.status,
                "target": row.target,
                "details": row.details,
                "proposedValue": row.proposed_value,
                "receivedAt": moment(row.received_at),
                "dueAt": moment(row.due_at),
                "dueRule": row.due_rule,
                "jurisdiction": row.jurisdiction,
                "extended": row.extended,
                "completedAt": moment(row.completed_at),
                "outcome": row.outcome,
                "history": history.get(row.id, []),
            }
            for row in rows
        ]


def moment(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, as the GraphQL API writes datetimes."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
