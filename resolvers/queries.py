"""Root lists and lookups: keyset pages filtered by row visibility in SQL."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from gateway.db import models as m
from resolvers import visibility
from resolvers.context import Context
from resolvers.errors import InputError

Row = TypeVar("Row", bound=m.Base)


class PageSizeError(InputError):
    """`first` is outside 1..max_page_size."""


async def page(
    ctx: Context, model: type[Row], entity: str, first: int, after: int | None
) -> tuple[list[Row], bool]:
    """Up to `first` visible rows with id > `after`, and whether more follow."""
    limit = ctx.settings.max_page_size
    if not 1 <= first <= limit:
        raise PageSizeError(f"'first' must be between 1 and {limit}, got {first}")
    pk: Any = model.__mapper__.primary_key[0]
    statement = select(model).where(visibility.sql_filter(ctx.viewer, entity))
    if after is not None:
        statement = statement.where(pk > after)
    statement = statement.order_by(pk).limit(first + 1)
    async with ctx.sessions() as session:
        rows = list((await session.scalars(statement)).all())
    return rows[:first], len(rows) > first


async def one(ctx: Context, model: type[Row], entity: str, row_id: int | None) -> Row | None:
    """The row with this id if the viewer may see it; otherwise None, as if it did not exist."""
    if row_id is None:
        return None
    pk: Any = model.__mapper__.primary_key[0]
    statement = select(model).where(pk == row_id, visibility.sql_filter(ctx.viewer, entity))
    async with ctx.sessions() as session:
        row: Row | None = (await session.scalars(statement)).first()
    return row
