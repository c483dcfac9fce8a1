"""The audit trail: who read or changed whose personal data, for which purpose; one
hash chain (chain.py). Reads are collected per request where projection decides
(reads.py) and written after it; rights actions are written in their own transaction
(actions.py). `myDisclosures` reads the subject's part back (disclosures.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.audit.chain import KnownHead, append
from resolvers.audit.reads import Actor, ReadLog
from resolvers.viewer import Viewer


async def write_reads(
    engine: AsyncEngine, log: ReadLog, at: datetime, known: KnownHead | None = None
) -> int:
    """Append a request's reads in one short transaction of their own; returns how many
    events were written. The log is emptied whatever happens."""
    try:
        events = log.events()
    finally:
        log.groups.clear()
    count = sum(len(subjects) for _, subjects in events)
    if not count:
        return 0
    async with engine.begin() as conn:
        await conn.run_sync(append, events, at, known)
    return count


def request_actor(viewer: Viewer) -> Actor:
    """Who a new request acts as: the viewer, their role and purpose (staff), a fresh id."""
    employee = viewer.is_employee
    return Actor(
        viewer.actor,
        viewer.role.value if employee and viewer.role is not None else None,
        viewer.purpose.value if employee else None,
        uuid.uuid4().hex,
    )
