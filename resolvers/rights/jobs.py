"""The background work of the rights, one job per transaction.

- An erasure is due once its deletion request is older than the grace period. A worker
  claims it (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so any number of workers run side by
  side; SQLite runs one worker at a time) and erases the subject in the same transaction:
  a crash rolls both back and the next worker takes the job. A job that fails is retried
  with exponential backoff and, after the configured attempts, marked failed with a typed
  reason the DPO queue shows; it is never dropped.
- A legal hold that has ended loses the personal fields it kept; a subject with nothing
  held any more becomes PURGED.
- Requests close to or past their due date are counted for the DPO (and the queue flags
  them).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from directives.erasure import HOLDS, PLAN, Action
from gateway.db import models as m
from gateway.db.engine import checkpoint
from gateway.settings import Settings
from resolvers.rights.erasure import erase
from resolvers.rights.requests import OPEN, move

logger = logging.getLogger("gateway.worker")

ACTOR = "system"
DUE_SOON = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class Outcome:
    request_id: int
    done: bool  # erased (or found erased already) and the request completed
    failure: str | None = None  # set once retries are exhausted


def _due_erasures(settings: Settings, now: datetime):  # type: ignore[no-untyped-def]
    r = m.PrivacyRequest
    grace = timedelta(days=settings.deletion_grace_days)
    return (
        select(r)
        .where(r.kind == "DELETION", r.status.in_(OPEN), r.failure.is_(None))
        .where(r.received_at <= now - grace)
        .where((r.retry_at.is_(None)) | (r.retry_at <= now))
        .order_by(r.due_at, r.id)
    )


async def erase_next(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Outcome | None:
    """Claim one due erasure and do it, in one transaction; None when none is due."""
    claimed: int | None = None
    try:
        async with sessions() as session, session.begin():
            request = await session.scalar(
                _due_erasures(settings, now).limit(1).with_for_update(skip_locked=True)
            )
            if request is None:
                return None
            claimed = request_id = request.id
            summary = await erase(session, request.subject_id, now)
            request.summary = summary.as_json() if summary else request.summary
            note = summary.sentence() if summary else "Erased already; nothing left to erase"
            request.outcome = note
            request.retry_at = None
            if request.status == "RECEIVED":
                move(session, request, "IN_PROGRESS", actor=ACTOR, now=now)
            move(session, request, "COMPLETED", actor=ACTOR, now=now, note=note)
    except Exception as exc:  # any failure is recorded, typed, never dropped
        if claimed is None:
            raise
        return await _failed(sessions, settings, claimed, type(exc).__name__, now)
    logger.info("erasure done: request %s", request_id)
    # After the commit, outside the job: the erasure is done whatever the checkpoint does,
    # so a failed checkpoint must not count as a failed attempt of a completed request.
    engine = sessions.kw.get("bind")
    if isinstance(engine, AsyncEngine):
        try:
            await checkpoint(engine)
        except (SQLAlchemyError, OSError) as exc:
            logger.warning(
                "WAL checkpoint after request %s failed (%s)", request_id, type(exc).__name__
            )
    return Outcome(request_id, True)


async def _failed(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    request_id: int,
    kind: str,
    now: datetime,
) -> Outcome:
    """Count the attempt; retry later with backoff, or stop with a typed reason."""
    async with sessions() as session, session.begin():
        request = await session.get(m.PrivacyRequest, request_id, with_for_update=True)
        assert request is not None
        request.attempts += 1
        failure = None
        if request.attempts >= settings.worker_max_attempts:
            failure = request.failure = f"ERASURE_FAILED:{kind}"[:80]
            request.retry_at = None
        else:
            backoff = settings.worker_backoff_seconds * 2 ** (request.attempts - 1)
            request.retry_at = now + timedelta(seconds=backoff)
    # The exception's type only: its message may carry personal data.
    logger.warning("erasure failed: request %s attempt %s (%s)", request_id, request.attempts, kind)
    return Outcome(request_id, False, failure)


async def purge_ended_holds(
    sessions: async_sessionmaker[AsyncSession], now: datetime, *, batch: int = 500
) -> int:
    """Ended holds lose the personal fields they kept; returns how many holds ended."""
    h = m.LegalHold
    async with sessions() as session, session.begin():
        ended = list(
            (
                await session.scalars(
                    select(h)
                    .where(h.held_until <= now)
                    .order_by(h.held_until, h.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
        )
        if not ended:
            return 0
        by_type: dict[str, list[int]] = {}
        for hold in ended:
            by_type.setdefault(hold.record_type, []).append(hold.record_id)
        for record_type, ids in by_type.items():
            await _clear_held(session, record_type, ids)
        subjects = sorted({hold.subject_id for hold in ended})
        # Lock the subjects (in id order: no deadlock) before asking whether anything is
        # still held: two workers ending holds of one subject in two batches would each
        # see the other's uncommitted holds and neither would mark the subject PURGED.
        await session.execute(
            select(m.User.id).where(m.User.id.in_(subjects)).order_by(m.User.id).with_for_update()
        )
        await session.execute(delete(h).where(h.id.in_([hold.id for hold in ended])))
        still_held = select(h.subject_id).where(h.subject_id.in_(subjects))
        await session.execute(
            update(m.User)
            .where(m.User.id.in_(subjects), m.User.deletion_state == "ERASED")
            .where(m.User.id.not_in(still_held))
            .values(deletion_state="PURGED")
        )
    logger.info("legal holds ended: %s", len(ended))
    return len(ended)


_HOLDS = {hold.record_type: hold for hold in HOLDS}


async def _clear_held(session: AsyncSession, record_type: str, ids: list[int]) -> None:
    """Apply `after_hold` to the columns held for the hold's subject, and only those: an
    invoice held for its buyer keeps its seller's tax id (the seller's, not the buyer's)."""
    hold = _HOLDS[record_type]
    table = m.Base.metadata.tables[hold.table]
    columns = {
        column: rule.to
        for rule in PLAN
        if rule.table == table.name
        and rule.owner == hold.owner
        and rule.action is Action.HOLD
        and rule.after_hold is Action.ANONYMIZE
        for column in rule.columns
    }
    if columns:
        await session.execute(update(table).where(table.c.id.in_(ids)).values(columns))


async def deadline_counts(
    sessions: async_sessionmaker[AsyncSession], now: datetime
) -> Counter[str]:
    """Open requests past their due date, due within DUE_SOON, and whose background work
    stopped retrying (until the DPO closes them): counted for the DPO."""
    r = m.PrivacyRequest
    async with sessions() as session:
        overdue = await session.scalar(
            select(func.count()).where(r.status.in_(OPEN), r.due_at < now)
        )
        soon = await session.scalar(
            select(func.count()).where(
                r.status.in_(OPEN), r.due_at >= now, r.due_at < now + DUE_SOON
            )
        )
        failed = await session.scalar(
            select(func.count()).where(r.status.in_(OPEN), r.failure.is_not(None))
        )
    return Counter({"overdue": overdue or 0, "due_soon": soon or 0, "failed": failed or 0})
