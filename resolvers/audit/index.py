"""The subject index (`audit_event_subjects`): which events name which subject, built from
the chain behind it.

The chain is the record: an event and whom it names (`subject_id`, or `subjects` for a
read of several) are written, hashed, in the request's own transaction or right after it,
before the response. The index only makes "what was read of subject S" a lookup instead of
a scan, and it is derived from those rows alone, so it is built later and in bulk: one
transaction takes the events appended since the index head (`audit_index_head`), inserts a
row per (event, subject), sorted by subject, and moves the head. Built per request, the
index was most of what auditing a list cost: each subject's entry lands on a page of its
own, so a read of a hundred people rewrote about a hundred index pages; a batch of many
requests rewrites each page once.

Who brings it up to date: the gateway, behind its writes, once enough is pending
(`ReadWriter`); the worker on every pass; and every reader of the index first
(`myDisclosures`), so nothing it answers can miss an event already in the chain. The head
row is locked for the transaction, so concurrent builders take turns and no event is
indexed twice. `verify` checks the index against the events up to the head, and that
nothing is indexed past it.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import AuditChainHead, AuditEvent, AuditIndexHead
from resolvers.audit.chain import HEAD_ID, named

BATCH_EVENTS = 5000  # events per transaction: a long backlog is built in bounded steps
_EVENTS = cast(Table, AuditEvent.__table__)
_CHAIN = cast(Table, AuditChainHead.__table__)
_INDEXED = cast(Table, AuditIndexHead.__table__)


def catch_up(conn: Connection, limit: int = BATCH_EVENTS, rows: int | None = None) -> int:
    """Index up to `limit` events appended since the index head, and no more events once
    `rows` index rows are due (a step that must stay short), in the connection's
    transaction (the caller commits); returns how many events it covered (0: up to date)."""
    last: int = conn.execute(
        update(_INDEXED)
        .where(_INDEXED.c.id == HEAD_ID)
        .values(last_id=_INDEXED.c.last_id)  # locks the head: builders take turns
        .returning(_INDEXED.c.last_id)
    ).scalar_one()
    chain: int = conn.execute(select(_CHAIN.c.last_id).where(_CHAIN.c.id == HEAD_ID)).scalar_one()
    upto = min(chain, last + limit)
    if upto <= last:
        return 0
    events = conn.execute(
        select(_EVENTS.c.id, _EVENTS.c.subject_id, _EVENTS.c.subjects)
        .where(
            _EVENTS.c.id > last,
            _EVENTS.c.id <= upto,
            or_(_EVENTS.c.subject_id.is_not(None), _EVENTS.c.subjects.is_not(None)),
        )
        .order_by(_EVENTS.c.id)
    )
    pairs: list[tuple[int, int]] = []
    for event in events:
        pairs.extend((subject, event.id) for subject in named(event._mapping))
        if rows is not None and len(pairs) >= rows:
            upto = event.id  # the rest next step
            break
    events.close()
    if pairs:
        _insert(conn, sorted(pairs))
    conn.execute(update(_INDEXED).where(_INDEXED.c.id == HEAD_ID).values(last_id=upto))
    return upto - last


def _insert(conn: Connection, rows: list[tuple[int, int]]) -> None:
    """(subject, event) pairs in one statement: unnested arrays on PostgreSQL, an
    executemany elsewhere."""
    if conn.dialect.name == "postgresql":
        subjects, events = zip(*rows, strict=True)
        conn.exec_driver_sql(
            "INSERT INTO audit_event_subjects (subject_id, event_id) "
            "SELECT * FROM unnest($1::int4[], $2::int4[])",
            (list(subjects), list(events)),
        )
        return
    marks = {"qmark": "?, ?", "numeric_dollar": "$1, $2", "format": "%s, %s"}
    conn.exec_driver_sql(
        "INSERT INTO audit_event_subjects (subject_id, event_id) "
        f"VALUES ({marks[conn.dialect.paramstyle]})",
        rows,
    )


def catch_up_all(conn: Connection) -> int:
    """Index everything appended so far, in steps of `BATCH_EVENTS` within the connection's
    transaction; returns how many events it covered."""
    total = 0
    while covered := catch_up(conn):
        total += covered
    return total


async def update_index(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Bring the index up to date in a transaction of its own (before a read of it, and on
    every worker pass); returns how many events it covered."""
    async with sessions() as session, session.begin():
        covered: int = await session.run_sync(lambda sync: catch_up_all(sync.connection()))
    return covered
