"""Write the generated world into an empty, migrated database in one transaction."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import Protocol

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in the environment

from gateway.db.engine import create_engine, session_factory
from gateway.db.models import Base, Employee, User
from gateway.errors import GatewayError
from gateway.seed.world import Batch, generate
from gateway.settings import Settings

MIN_USERS = 20
# Rows written per platform user at the default mix, for the progress bar's estimate.
_ROWS_PER_USER = 23


class _Progress(Protocol):
    def set_description(self, desc: str, refresh: bool = True) -> None: ...
    def update(self, n: int) -> object: ...


@dataclass(frozen=True)
class SeedSummary:
    """Rows written per table."""

    employees: int = 0
    companies: int = 0
    users: int = 0
    addresses: int = 0
    products: int = 0
    orders: int = 0
    order_items: int = 0
    shipments: int = 0
    payments: int = 0
    invoices: int = 0
    reviews: int = 0
    conversations: int = 0
    conversation_participants: int = 0
    messages: int = 0
    legal_holds: int = 0
    videos: int = 0
    comments: int = 0
    consents: int = 0
    privacy_requests: int = 0
    security_incidents: int = 0
    notifications: int = 0

    def rows(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return sum(self.rows().values())

    def __str__(self) -> str:
        tables = ", ".join(f"{table} {count:,}" for table, count in self.rows().items())
        return f"{self.total:,} rows ({tables})"


async def seed_database(
    settings: Settings, *, users: int = 200, seed: int = 7, progress: bool = True
) -> SeedSummary:
    """Fill an empty, migrated database with a deterministic demo world of `users` users."""
    if users < MIN_USERS:
        raise GatewayError(
            f"seed needs at least {MIN_USERS} users to cover every kind and jurisdiction, "
            f"got {users}"
        )
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session, session.begin():
            await _refuse_non_empty(session)
            with tqdm(
                total=users * _ROWS_PER_USER,
                unit="rows",
                unit_scale=True,
                file=sys.stderr,
                disable=not progress,
                desc="seed",
            ) as bar:
                counts = await _insert(session, generate(users, seed), bar)
                bar.set_description("links")
                await _link_and_rate(session)
                if engine.dialect.name == "postgresql":
                    await _advance_sequences(session)
                    await session.execute(text("ANALYZE"))  # fresh statistics for the demo
                bar.total = bar.n
                bar.set_description("done")
    finally:
        await engine.dispose()
    return SeedSummary(**counts)


async def _refuse_non_empty(session: AsyncSession) -> None:
    for model in (User, Employee):
        if (await session.execute(select(model.id).limit(1))).first() is not None:
            raise GatewayError("database already holds data; seed needs an empty database")


async def _insert(
    session: AsyncSession, batches: Iterator[Batch], bar: _Progress
) -> dict[str, int]:
    counts = {f.name: 0 for f in fields(SeedSummary)}
    tables = Base.metadata.tables
    for name, rows in batches:
        bar.set_description(name, refresh=False)
        await session.execute(insert(tables[name]), rows)
        counts[name] += len(rows)
        bar.update(len(rows))
    return counts


async def _link_and_rate(session: AsyncSession) -> None:
    """Close the companies <-> users cycle and compute product ratings from the reviews."""
    tables = Base.metadata.tables
    companies, users, products, reviews = (
        tables[name] for name in ("companies", "users", "products", "reviews")
    )
    # UPDATE ... FROM a join, not a correlated subquery per row: the planner has no
    # statistics yet for tables filled in this transaction and would scan per row.
    await session.execute(
        update(companies)
        .where(users.c.company_id == companies.c.id)
        .values(contact_person_id=users.c.id)
    )
    ratings = (
        select(
            reviews.c.product_id,
            func.count().label("n"),
            func.avg(reviews.c.rating).label("mean"),
        )
        .group_by(reviews.c.product_id)
        .subquery()
    )
    await session.execute(
        update(products)
        .where(products.c.id == ratings.c.product_id)
        .values(rating_count=ratings.c.n, rating_avg=ratings.c.mean)
    )


async def _advance_sequences(session: AsyncSession) -> None:
    """Ids were given explicitly, so PostgreSQL's sequences still start at 1."""
    for table in Base.metadata.sorted_tables:
        if "id" in table.c:
            await session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT MAX(id) FROM {table.name}))"
                )
            )
