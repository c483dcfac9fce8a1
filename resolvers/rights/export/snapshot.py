"""One consistent read: every row of an export comes from one snapshot of the database.

PostgreSQL reads in a REPEATABLE READ, READ ONLY transaction; SQLite (WAL) in one read
transaction, whose snapshot is taken at its first read. The loaders of the projection read
through sessions bound to that same connection, one statement at a time (each chunk is
built before the next is read), so they see the same snapshot and never share the
connection concurrently.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.db import models as m
from resolvers.context import Context
from resolvers.loaders import Loaders

Sessions = async_sessionmaker[AsyncSession]
CHUNK = 500


@contextlib.asynccontextmanager
async def consistent_read(engine: AsyncEngine) -> AsyncIterator[Sessions]:
    """A session factory whose sessions all read the same snapshot, for as long as it lasts."""
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            await connection.begin()
        else:
            # pysqlite opens no transaction before a read: BEGIN opens one here.
            await connection.exec_driver_sql("BEGIN")
        try:
            yield async_sessionmaker(bind=connection, expire_on_commit=False)
        finally:
            await connection.rollback()


def bound(ctx: Context, sessions: Sessions) -> Context:
    """`ctx` reading through the snapshot's sessions, with loaders of its own."""
    loaders = Loaders(sessions)
    return replace(
        ctx, sessions=sessions, loaders=loaders, privacy=replace(ctx.privacy, loaders=loaders)
    )


async def chunks(
    sessions: Sessions, model: type[m.Base], where: ColumnElement[bool], size: int = CHUNK
) -> AsyncIterator[list[Any]]:
    """The rows of `model` matching `where`, by id, `size` at a time (keyset pages)."""
    key: Any = model.__mapper__.primary_key[0]
    last = 0
    while True:
        statement = select(model).where(where, key > last).order_by(key).limit(size)
        async with sessions() as session:
            rows = list((await session.scalars(statement)).all())
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = getattr(rows[-1], key.key)


async def count(sessions: Sessions, model: type[m.Base], where: ColumnElement[bool]) -> int:
    async with sessions() as session:
        found = await session.scalar(select(func.count()).select_from(model).where(where))
    return int(found or 0)
