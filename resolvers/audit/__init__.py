"""The audit trail: who read or changed whose personal data, for which purpose; one
hash chain (chain.py). Reads are collected per request where projection decides
(reads.py) and written after it (`ReadWriter`); rights actions are written in their own
transaction (actions.py); the subject index is built behind the chain (index.py).
`myDisclosures` reads the subject's part back (disclosures.py)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import (
    COMMAND_TIMEOUT_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    sync_sqlite_engine,
)
from resolvers.audit.chain import Event, KnownHead, append, append_in_one_trip
from resolvers.audit.index import catch_up, catch_up_all
from resolvers.audit.reads import Actor, ReadLog
from resolvers.viewer import Viewer

logger = logging.getLogger("gateway.audit")
_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def _locked(exc: OperationalError) -> bool:
    """Whether SQLite refused because the database is locked (primary result code)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _LOCKED


class ReadWriter:
    """Writes requests' reads, each in a transaction of its own, right after the request,
    and once `INDEX_EVERY` subjects' reads are waiting for the subject index, builds it
    (index.py) behind them: a task of its own, which no response waits for.

    On PostgreSQL in one statement on a connection of its own when this process saw the
    chain head last (`append_in_one_trip`), else through the gateway's engine and pool
    (`append`). On SQLite through a synchronous connection
    held for the purpose, on the event loop itself: a write is half a millisecond of work
    in-process (no round trip, no fsync), and every way off the loop cost more than that
    (through aiosqlite, a thread hop per cursor, statement, fetch and commit, about 2 ms a
    write; through a thread of its own, a wait for the GIL behind a busy loop, which under
    load was most of auditing's cost). That connection never waits for SQLite's write lock:
    when another connection or process holds it, the write goes instead to a thread of its
    own, whose connection waits as the others do (busy timeout). The index is built on the
    loop too, in bounded transactions with requests served between them."""

    INDEX_EVERY = 5000  # subjects named since the index was last built
    # Index rows per transaction of a build on SQLite, on the loop: ~10 ms. Fewer would cost
    # more, not less: a transaction rewrites every index page it touches (one per subject),
    # so the rows of many requests must share one.
    INDEX_STEP_ROWS = 20_000

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._inline: _Held | None = None
        self._sync: _Held | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._unindexed = 0
        self._indexing: asyncio.Task[None] | None = None
        self._pg: Any = None  # PostgreSQL: the writer's own connection (asyncpg)
        self._pg_lock = asyncio.Lock()
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            self._inline = _Held(sync_sqlite_engine(engine, wait_for_lock=False))
            self._sync = _Held(sync_sqlite_engine(engine))
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="audit-writer")

    async def write(self, log: ReadLog, at: datetime, known: KnownHead | None = None) -> int:
        """Append a request's reads in one short transaction of their own; returns how many
        events were written (one per type and set of fields read). The log is emptied
        whatever happens."""
        events = _taken(log)
        if not events:
            return 0
        if self._inline is None or self._sync is None:
            if not (known is not None and await self._one_trip(events, at, known)):
                async with self.engine.begin() as conn:
                    await conn.run_sync(append, events, at, known)
        elif not self._inline.try_write(events, at, known):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._sync.write, events, at, known)
        self._unindexed += sum(len(event.named()) for event in events)
        if self._unindexed >= self.INDEX_EVERY and self._indexing is None:
            self._unindexed = 0
            self._indexing = asyncio.create_task(self.build_index())
        return len(events)

    async def _one_trip(self, events: list[Event], at: datetime, known: KnownHead) -> bool:
        """PostgreSQL: the append in one statement, on a connection of the writer's own
        (no pool checkout, no ping), if this process saw the head last. Any failure drops
        that connection and leaves the append to the pool's (False)."""
        if self.engine.dialect.name != "postgresql":
            return False
        async with self._pg_lock:
            try:
                if self._pg is None:
                    self._pg = await asyncpg.connect(
                        self.engine.url.set(drivername="postgresql").render_as_string(
                            hide_password=False
                        ),
                        timeout=CONNECT_TIMEOUT_SECONDS,
                        command_timeout=COMMAND_TIMEOUT_SECONDS,
                    )
                return await append_in_one_trip(self._pg, self.engine.dialect, events, at, known)
            except Exception as exc:
                logger.warning("audit: the writer's connection failed (%s)", type(exc).__name__)
                await self._drop_pg()
                return False

    async def _drop_pg(self) -> None:
        held, self._pg = self._pg, None
        if held is not None:
            held.terminate()

    async def build_index(self) -> None:
        """Bring the subject index up to date as this process does behind its writes; a
        failure is logged (the worker and the next reader build it instead)."""
        try:
            if self._inline is None:
                async with self.engine.begin() as conn:
                    await conn.run_sync(catch_up_all)
                return
            # On the loop, in transactions of about INDEX_STEP_ROWS rows, letting requests
            # run between them; left to the worker and the next reader while another
            # connection holds the database.
            while self._inline.try_index(self.INDEX_STEP_ROWS):
                await asyncio.sleep(0)
        except Exception as exc:  # the worker and the next reader build it instead
            logger.warning("audit: subject index not built (%s)", type(exc).__name__)
        finally:
            self._indexing = None

    async def settle(self) -> None:
        """Wait for an index build in progress (shutdown, tests)."""
        if self._indexing is not None:
            await asyncio.shield(self._indexing)

    async def aclose(self) -> None:
        await self._drop_pg()
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        for held in (self._inline, self._sync):
            if held is not None:
                held.close()


def _taken(log: ReadLog) -> list[Event]:
    try:
        return log.events()
    finally:
        log.groups.clear()


class _Held:
    """A synchronous SQLite connection held between writes (a checkout and a reset per write
    were half of a small write's cost), opened again after a failure: the event loop's,
    which never waits for the write lock, and the fallback thread's, which does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def write(self, events: list[Event], at: datetime, known: KnownHead | None) -> None:
        self._run(lambda conn: append(conn, events, at, known))

    def try_write(self, events: list[Event], at: datetime, known: KnownHead | None) -> bool:
        """`write`, unless the database is locked (by another connection or process): then
        False, and nothing was written."""
        try:
            self.write(events, at, known)
        except OperationalError as exc:
            if not _locked(exc):
                raise
            return False
        return True

    def try_index(self, rows: int) -> int:
        """One step of the index build (about `rows` rows): the events it covered, 0 when
        up to date or the database is locked."""
        covered = 0

        def step(conn: Connection) -> None:
            nonlocal covered
            covered = catch_up(conn, rows=rows)

        try:
            self._run(step)
        except OperationalError as exc:
            if not _locked(exc):
                raise
            return 0
        return covered

    def _run(self, work: Callable[[Connection], object]) -> None:
        if self._conn is None:
            self._conn = self.engine.connect()
        try:
            with self._conn.begin():
                work(self._conn)
        except Exception as exc:
            if not (isinstance(exc, OperationalError) and _locked(exc)):
                self._conn.close()  # opened again next time
                self._conn = None
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def request_actor(viewer: Viewer) -> Actor:
    """Who a new request acts as: the viewer, their role and purpose (staff), a fresh id."""
    employee = viewer.is_employee
    return Actor(
        viewer.actor,
        viewer.role.value if employee and viewer.role is not None else None,
        viewer.purpose.value if employee else None,
        uuid.uuid4().hex,
    )
