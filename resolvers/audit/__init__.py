"""The audit trail: who read or changed whose personal data, for which purpose; one
hash chain (chain.py). Reads are collected per request where projection decides
(reads.py) and written after it; rights actions are written in their own transaction
(actions.py). `myDisclosures` reads the subject's part back (disclosures.py)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import sync_sqlite_engine
from resolvers.audit.chain import Event, KnownHead, append
from resolvers.audit.reads import Actor, ReadLog
from resolvers.viewer import Viewer


async def write_reads(
    engine: AsyncEngine, log: ReadLog, at: datetime, known: KnownHead | None = None
) -> int:
    """Append a request's reads in one short transaction of their own; returns how many
    events were written (one per type and set of fields read). The log is emptied whatever
    happens."""
    events = _taken(log)
    if not events:
        return 0
    async with engine.begin() as conn:
        await conn.run_sync(append, events, at, known)
    return len(events)


class ReadWriter:
    """Writes requests' reads, each in a transaction of its own, right after the request.

    On PostgreSQL through the gateway's engine (`write_reads`). On SQLite through one
    synchronous connection in one thread of its own: a write is then a single hop to that
    thread and back (through aiosqlite it was a hop per cursor, statement, fetch and commit,
    about 2 ms a write whatever its size), and this process's writes queue for that thread
    instead of for SQLite's write lock, where a waiting connection sleeps in its busy handler
    after the lock is free again."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = sync_sqlite_engine(engine)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="audit-writer")

    async def write(self, log: ReadLog, at: datetime, known: KnownHead | None = None) -> int:
        """As `write_reads`: how many events were written; the log is emptied."""
        if self._sync is None:
            return await write_reads(self.engine, log, at, known)
        events = _taken(log)
        if not events:
            return 0
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, _write_sync, self._sync, events, at, known)
        return len(events)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()


def _taken(log: ReadLog) -> list[Event]:
    try:
        return log.events()
    finally:
        log.groups.clear()


def _write_sync(engine: Engine, events: list[Event], at: datetime, known: KnownHead | None) -> None:
    with engine.begin() as conn:
        append(conn, events, at, known)


def request_actor(viewer: Viewer) -> Actor:
    """Who a new request acts as: the viewer, their role and purpose (staff), a fresh id."""
    employee = viewer.is_employee
    return Actor(
        viewer.actor,
        viewer.role.value if employee and viewer.role is not None else None,
        viewer.purpose.value if employee else None,
        uuid.uuid4().hex,
    )
