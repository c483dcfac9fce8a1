"""Engine and session factory, built from Settings (never at import time)."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from gateway.errors import DatabaseUnavailable
from gateway.settings import Settings

POOL_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 10.0


def create_engine(settings: Settings) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if not settings.is_sqlite:
        # A database that does not answer within seconds is unavailable (a clean 503), not a
        # request left waiting for the execution timeout: bounded waits for a pooled
        # connection and for a new one while the server restarts.
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_pre_ping=True,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            connect_args={
                "timeout": CONNECT_TIMEOUT_SECONDS,
                # A statement left waiting on a connection the restart cut is given up.
                "command_timeout": COMMAND_TIMEOUT_SECONDS,
            },
        )
    engine = create_async_engine(settings.database_url, **kwargs)
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sync_sqlite_engine(engine: AsyncEngine, *, wait_for_lock: bool = True) -> Engine:
    """A synchronous engine on the same SQLite file as `engine` (the stdlib driver, the same
    pragmas), for the gateway's own use (resolvers/audit: the read writer). Without
    `wait_for_lock`, a statement that finds the database locked fails at once (SQLITE_BUSY)
    instead of waiting up to the busy timeout: for a caller that must not block."""
    url = engine.url.set(drivername="sqlite+pysqlite")
    sync = create_sync_engine(url, pool_size=1, max_overflow=0)
    event.listen(sync, "connect", _sqlite_pragmas)
    if not wait_for_lock:
        event.listen(sync, "connect", _no_busy_wait)
    return sync


def _no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted personal data is overwritten on disk, not left in free pages (DESIGN 4).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


async def checkpoint(engine: AsyncEngine) -> None:
    """SQLite: copy the WAL into the database file and truncate it, so no page of an erased
    subject's data stays behind in the `-wal` file (secure_delete already zeroes what the
    database file frees). Nothing to do on PostgreSQL (see docs/operations.md: VACUUM)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise DatabaseUnavailable (without the URL's password) if the database does not answer."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # driver errors differ per backend; all mean the same here
        url = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(
            f"database {url} does not answer ({type(exc).__name__})"
        ) from None


# asyncpg's answers for a server that is gone, stopping or starting (SQLSTATE classes 08, 57).
_ASYNCPG_DOWN = asyncpg.PostgresConnectionError | asyncpg.exceptions.OperatorInterventionError


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or what caused it, says the database cannot be reached or dropped
    the connection (refused, reset, shutting down, starting up), not that a statement is
    wrong: a request that fails so is a 503, not a 500."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable | OSError | PoolTimeout | _ASYNCPG_DOWN):
            return True
        if isinstance(current, DBAPIError):
            if current.connection_invalidated:
                return True
            pending.append(current.orig)
        pending += [current.__cause__, current.__context__]
    return False
