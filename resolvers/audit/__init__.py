"""The audit trail: who read or changed whose personal data, for which purpose; one
hash chain (chain.py). Reads are collected per request where projection decides
(reads.py) and written after it (`ReadWriter`); rights actions are written in their own
transaction (actions.py); the subject index is built behind the chain (index.py).
`myDisclosures` reads the subject's part back (disclosures.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import sync_sqlite_engine
from resolvers.audit.chain import Event, KnownHead, append
from resolvers.audit.index import catch_up_all
from resolvers.audit.reads import Actor, ReadLog
from resolvers.viewer import Viewer

logger = logging.getLogger("gateway.audit")


class ReadWriter:
    """Writes requests' reads, each in a transaction of its own, right after the request,
    and once `INDEX_EVERY` subjects' reads are waiting for the subject index, builds it
    (index.py) behind them: a task of its own, which no response waits for.

    On PostgreSQL through the gateway's engine. On SQLite through one
    synchronous connection in one thread of its own: a write is then a single hop to that
    thread and back (through aiosqlite it was a hop per cursor, statement, fetch and commit,
    about 2 ms a write whatever its size), and this process's writes queue for that thread
    instead of for SQLite's write lock, where a waiting connection sleeps in its busy handler
    after the lock is free again."""

    INDEX_EVERY = 5000  # subjects named since the index was last built

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._unindexed = 0
        self._indexing: asyncio.Task[None] | None = None
        if engine.dialect.name == "sqlite":
            self._sync = sync_sqlite_engine(engine)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="audit-writer")

    async def write(self, log: ReadLog, at: datetime, known: KnownHead | None = None) -> int:
        """Append a request's reads in one short transaction of their own; returns how many
        events were written (one per type and set of fields read). The log is emptied
        whatever happens."""
        events = _taken(log)
        if not events:
            return 0
        if self._sync is None:
            async with self.engine.begin() as conn:
                await conn.run_sync(append, events, at, known)
        else:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, _write_sync, self._sync, events, at, known)
        self._unindexed += sum(len(event.named()) for event in events)
        if self._unindexed >= self.INDEX_EVERY and self._indexing is None:
            self._unindexed = 0
            self._indexing = asyncio.create_task(self._index())
        return len(events)

    async def _index(self) -> None:
        try:
            if self._sync is None:
                async with self.engine.begin() as conn:
                    await conn.run_sync(catch_up_all)
            else:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._thread, _index_sync, self._sync)
        except Exception as exc:  # the worker and the next reader build it instead
            logger.warning("audit: subject index not built (%s)", type(exc).__name__)
        finally:
            self._indexing = None

    async def settle(self) -> None:
        """Wait for an index build in progress (shutdown, tests)."""
        if self._indexing is not None:
            await asyncio.shield(self._indexing)

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


def _index_sync(engine: Engine) -> None:
    with engine.begin() as conn:
        catch_up_all(conn)


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
