"""The demo seeder: deterministic, covers every privacy state, and the demo accounts relate."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import create_engine
from gateway.db.models import Base
from gateway.errors import GatewayError
from gateway.migrate import upgrade
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS, MIN_USERS, SeedSummary, seed_database
from gateway.settings import Settings
from tests.conftest import BACKENDS, fresh_database

KINDS = {"BUYER", "SELLER", "LOGISTICS"}
JURISDICTIONS = {"EU", "KZ", "RU", "CN"}


async def migrated(path: Path) -> Settings:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", env="test")
    # upgrade() runs its own event loop, so it goes to a thread.
    await asyncio.to_thread(upgrade, settings)
    return settings


async def seeded(path: Path, **kwargs: Any) -> tuple[Settings, SeedSummary]:
    settings = await migrated(path)
    return settings, await seed_database(settings, progress=False, **kwargs)


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    """The default seed (200 users), shared read-only by most tests here."""
    settings, _ = await seeded(tmp_path_factory.mktemp("seed") / "x.db")
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module", params=[MIN_USERS, 1000])
async def any_scale(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    users: int = request.param
    settings, _ = await seeded(tmp_path_factory.mktemp(f"n{users}") / "x.db", users=users)
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    return (await rows(engine, sql, **params))[0][0]


def moment(value: Any) -> datetime:
    """A timestamp from raw SQL: SQLite hands back text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


async def digests(settings: Settings) -> dict[str, str]:
    """sha256 per table over its rows in primary-key order."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            result = {}
            for table in Base.metadata.sorted_tables:
                stmt = select(table).order_by(*table.primary_key.columns)
                h = hashlib.sha256()
                for row in await conn.execute(stmt):
                    h.update(repr(tuple(row)).encode())
                result[table.name] = h.hexdigest()
            return result
    finally:
        await engine.dispose()


# -- determinism ------------------------------------------------------------------------------


async def test_same_seed_gives_identical_tables_and_another_seed_differs(tmp_path: Path) -> None:
    a, summary_a = await seeded(tmp_path / "a.db", users=40, seed=3)
    b, summary_b = await seeded(tmp_path / "b.db", users=40, seed=3)
    c, _ = await seeded(tmp_path / "c.db", users=40, seed=4)
    assert summary_a == summary_b
    da, db, dc = await digests(a), await digests(b), await digests(c)
    assert da == db
    assert da["users"] != dc["users"]
    assert da["orders"] != dc["orders"]


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL deselected")
async def test_postgresql_gets_the_same_rows_and_advanced_sequences(tmp_path: Path) -> None:
    url, drop = await asyncio.to_thread(fresh_database, "postgresql", str(tmp_path))
    try:
        pg = Settings(database_url=url, env="test")
        await asyncio.to_thread(upgrade, pg)
        await seed_database(pg, users=40, seed=3, progress=False)
        lite, _ = await seeded(tmp_path / "lite.db", users=40, seed=3)
        assert await digests(pg) == await digests(lite)
        engine = create_engine(pg)
        try:
            for table in Base.metadata.sorted_tables:
                if "id" in table.c:
                    behind = await scalar(
                        engine,
                        f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
                        f"<= (SELECT coalesce(max(id), 0) FROM {table.name})",
                    )
                    assert not behind, f"sequence of {table.name} would reuse an id"
        finally:
            await engine.dispose()
    finally:
        await asyncio.to_thread(drop)


async def test_summary_counts_every_table(tmp_path: Path) -> None:
    settings, summary = await seeded(tmp_path / "x.db", users=60)
    engine = create_engine(settings)
    try:
        for table, count in summary.rows().items():
            assert await scalar(engine, f"SELECT count(*) FROM {table}") == count, table
    finally:
        await engine.dispose()
    assert summary.users == 60
    assert summary.total == sum(summary.rows().values())


# -- refusals -----------------------------------------------------------------------------------


async def test_refuses_a_database_that_holds_data(world: AsyncEngine, tmp_path: Path) -> None:
    settings = Settings(database_url=str(world.url), env="test")
    before = await scalar(world, "SELECT count(*) FROM orders")
    with pytest.raises(GatewayError, match="already holds data"):
        await seed_database(settings, progress=False)
    assert await scalar(world, "SELECT count(*) FROM orders") == before


async def test_refuses_fewer_users_than_the_minimum(tmp_path: Path) -> None:
    settings = await migrated(tmp_path / "x.db")
    with pytest.raises(GatewayError, match="at least 20 users"):
        await seed_database(settings, users=MIN_USERS - 1, progress=False)
    engine = create_engine(settings)
    try:
        assert await scalar(engine, "SELECT count(*) FROM users") == 0
    finally:
        await engine.dispose()


# -- coverage at any scale ----------------------------------------------------------------------


async def test_every_kind_jurisdiction_and_deletion_state(any_scale: AsyncEngine) -> None:
    engine = any_scale
    pairs = set(await rows(engine, "SELECT DISTINCT kind, jurisdiction FROM users"))
    assert pairs == {(k, j) for k in KINDS for j in JURISDICTIONS}
    states = {r[0] for r in await rows(engine, "SELECT DISTINCT deletion_state FROM users")}
    assert states == {"ACTIVE", "ERASURE_PENDING", "ERASED"}
    assert await scalar(engine, "SELECT count(*) FROM users WHERE NOT analytics_consent") >= 1


async def test_names_and_phones_follow_the_jurisdiction(world: AsyncEngine) -> None:
    people = await rows(
        world, "SELECT jurisdiction, full_name, phone FROM users WHERE full_name IS NOT NULL"
    )
    for jurisdiction, name, phone in people:
        if jurisdiction in ("RU", "KZ"):
            assert phone.startswith("+7 ")
            assert any("\u0400" <= ch <= "\u04ff" for ch in name), name  # Cyrillic
        elif jurisdiction == "CN":
            assert phone.startswith("+86 ")
            assert all("\u4e00" <= ch <= "\u9fff" for ch in name), name
        else:
            assert phone[:3] in ("+49", "+33", "+34", "+39", "+48"), phone


# -- consents and privacy requests --------------------------------------------------------------


async def test_everyone_granted_the_four_purposes_at_signup(world: AsyncEngine) -> None:
    missing = await rows(
        world,
        "SELECT u.id FROM users u WHERE (SELECT count(DISTINCT purpose) FROM consents c "
        "WHERE c.subject_id = u.id AND c.granted AND c.method = 'SIGNUP' "
        "AND c.notice_version = '2026-01' "
        "AND (c.recorded_at = u.created_at OR u.deletion_state = 'ERASED')) != 4",
    )
    assert missing == []


async def test_analytics_flag_follows_the_latest_ledger_row(world: AsyncEngine) -> None:
    latest = await rows(
        world,
        "SELECT u.id, u.analytics_consent, c.granted FROM users u JOIN consents c "
        "ON c.id = (SELECT max(id) FROM consents WHERE subject_id = u.id "
        "AND purpose = 'ANALYTICS')",
    )
    assert all(bool(flag) == bool(granted) for _, flag, granted in latest)
    withdrawn = DEMO_USERS["buyer_withdrawn"]
    ledger = await rows(
        world,
        "SELECT granted, recorded_at FROM consents WHERE subject_id = :id "
        "AND purpose = 'ANALYTICS' ORDER BY id",
        id=withdrawn,
    )
    assert [bool(g) for g, _ in ledger] == [True, False]
    assert ledger[1][1] > ledger[0][1]
    flag = await scalar(world, "SELECT analytics_consent FROM users WHERE id = :id", id=withdrawn)
    assert not flag


async def test_pending_subjects_have_an_open_deletion_request(world: AsyncEngine) -> None:
    pending = await rows(
        world,
        "SELECT u.id, u.full_name, r.status, r.received_at, r.due_at, u.erasure_requested_at "
        "FROM users u LEFT JOIN privacy_requests r ON r.subject_id = u.id "
        "AND r.kind = 'DELETION' WHERE u.deletion_state = 'ERASURE_PENDING'",
    )
    assert DEMO_USERS["buyer_erasure_pending"] in {r[0] for r in pending}
    for _, name, status, received, due, requested in pending:
        assert name is not None  # restricted, not yet anonymized
        assert status == "RECEIVED"
        assert received == requested
        assert moment(due) - moment(received) == timedelta(days=30)


# -- erased subjects ----------------------------------------------------------------------------


async def test_erased_subjects_are_anonymized_and_their_records_held(world: AsyncEngine) -> None:
    erased = await rows(
        world,
        "SELECT id, full_name, email, phone, erased_at FROM users WHERE deletion_state = 'ERASED'",
    )
    assert DEMO_USERS["buyer_erased"] in {r[0] for r in erased}
    for subject, name, email, phone, erased_at in erased:
        assert (name, email, phone) == (None, None, None)
        holds = await rows(
            world,
            "SELECT record_type, record_id, basis, held_until FROM legal_holds "
            "WHERE subject_id = :s",
            s=subject,
        )
        until = moment(erased_at).replace(year=moment(erased_at).year + 5)
        assert {(basis, moment(end)) for _, _, basis, end in holds} == {("LEGAL_OBLIGATION", until)}
        held = {(kind, record_id) for kind, record_id, _, _ in holds}
        records = set(
            await rows(
                world,
                "SELECT 'ORDER', id FROM orders WHERE buyer_id = :s "
                "UNION SELECT 'PAYMENT', id FROM payments WHERE payer_id = :s "
                "UNION SELECT 'INVOICE', id FROM invoices WHERE buyer_id = :s",
                s=subject,
            )
        )
        assert records and held == records
        for table, column in (
            ("reviews", "author_id"),
            ("videos", "author_id"),
            ("comments", "author_id"),
            ("messages", "sender_id"),
        ):
            sql = f"SELECT count(*) FROM {table} WHERE {column} = :s"
            assert await scalar(world, sql, s=subject) == 0, table
        status = await scalar(
            world,
            "SELECT status FROM privacy_requests WHERE subject_id = :s AND kind = 'DELETION'",
            s=subject,
        )
        assert status == "COMPLETED"


async def test_the_erased_demo_buyer_keeps_orders_invoices_and_detached_messages(
    world: AsyncEngine,
) -> None:
    subject = DEMO_USERS["buyer_erased"]
    assert await scalar(world, "SELECT count(*) FROM orders WHERE buyer_id = :s", s=subject) >= 2
    assert await scalar(world, "SELECT count(*) FROM invoices WHERE buyer_id = :s", s=subject) >= 1
    assert await scalar(world, "SELECT count(*) FROM payments WHERE payer_id = :s", s=subject) >= 1
    detached = await scalar(
        world,
        "SELECT count(*) FROM messages m JOIN conversation_participants p "
        "ON p.conversation_id = m.conversation_id WHERE p.user_id = :s AND m.sender_id IS NULL",
        s=subject,
    )
    assert detached >= 1


# -- the demo accounts --------------------------------------------------------------------------


async def test_demo_buyer_seller_and_logistics_share_open_and_delivered_orders(
    world: AsyncEngine,
) -> None:
    shared = await rows(
        world,
        "SELECT o.status, s.status FROM orders o JOIN shipments s ON s.order_id = o.id "
        "WHERE o.buyer_id = :b AND o.seller_id = :s AND s.logistics_id = :l",
        b=DEMO_USERS["buyer"],
        s=DEMO_USERS["seller"],
        l=DEMO_USERS["logistics"],
    )
    assert any(o in ("PLACED", "PAID", "SHIPPED") and s != "DELIVERED" for o, s in shared)
    assert ("DELIVERED", "DELIVERED") in shared
    chats = await scalar(
        world,
        "SELECT count(*) FROM conversation_participants a JOIN conversation_participants b "
        "ON a.conversation_id = b.conversation_id WHERE a.user_id = :b AND b.user_id = :s",
        b=DEMO_USERS["buyer"],
        s=DEMO_USERS["seller"],
    )
    assert chats >= 1


async def test_demo_accounts_have_their_fixed_kinds_and_states(world: AsyncEngine) -> None:
    expected = {
        "buyer": ("BUYER", "ACTIVE", True),
        "seller": ("SELLER", "ACTIVE", True),
        "logistics": ("LOGISTICS", "ACTIVE", True),
        "buyer_withdrawn": ("BUYER", "ACTIVE", False),
        "buyer_erasure_pending": ("BUYER", "ERASURE_PENDING", True),
        "buyer_erased": ("BUYER", "ERASED", False),  # erasure ends consent
        "other_buyer": ("BUYER", "ACTIVE", True),
    }
    for key, (kind, state, analytics) in expected.items():
        found = await rows(
            world,
            "SELECT kind, deletion_state, analytics_consent FROM users WHERE id = :id",
            id=DEMO_USERS[key],
        )
        assert found == [(kind, state, analytics)], key


async def test_seller_meets_the_pending_and_erased_buyers(world: AsyncEngine) -> None:
    for key in ("buyer_withdrawn", "buyer_erasure_pending", "buyer_erased"):
        count = await scalar(
            world,
            "SELECT count(*) FROM orders WHERE buyer_id = :b AND seller_id = :s",
            b=DEMO_USERS[key],
            s=DEMO_USERS["seller"],
        )
        assert count >= 1, key


async def test_other_buyer_shares_nothing_with_the_demo_seller(world: AsyncEngine) -> None:
    other, seller = DEMO_USERS["other_buyer"], DEMO_USERS["seller"]
    assert await scalar(world, "SELECT count(*) FROM orders WHERE buyer_id = :o", o=other) >= 1
    shared_orders = await scalar(
        world,
        "SELECT count(*) FROM orders WHERE buyer_id = :o AND seller_id = :s",
        o=other,
        s=seller,
    )
    shared_chats = await scalar(
        world,
        "SELECT count(*) FROM conversation_participants a JOIN conversation_participants b "
        "ON a.conversation_id = b.conversation_id WHERE a.user_id = :o AND b.user_id = :s",
        o=other,
        s=seller,
    )
    assert (shared_orders, shared_chats) == (0, 0)


async def test_demo_employees_exist_with_their_role(world: AsyncEngine) -> None:
    assert set(DEMO_EMPLOYEES) == {"support", "finance", "analyst", "dpo", "security"}
    for employee_id, role in DEMO_EMPLOYEES.values():
        found = await rows(
            world, "SELECT roles, active FROM employees WHERE id = :id", id=employee_id
        )
        assert len(found) == 1 and found[0][1]
        assert role in found[0][0].split(",")


# -- internal consistency -----------------------------------------------------------------------


async def test_ratings_match_reviews_and_reviewers_bought_the_product(world: AsyncEngine) -> None:
    wrong = await rows(
        world,
        "SELECT p.id FROM products p LEFT JOIN (SELECT product_id, count(*) n, avg(rating) a "
        "FROM reviews GROUP BY product_id) r ON r.product_id = p.id "
        "WHERE p.rating_count != coalesce(r.n, 0) "
        "OR (r.n IS NULL AND p.rating_avg IS NOT NULL) OR abs(p.rating_avg - r.a) > 1e-9",
    )
    assert wrong == []
    unbought = await scalar(
        world,
        "SELECT count(*) FROM reviews r WHERE NOT EXISTS (SELECT 1 FROM orders o "
        "JOIN order_items i ON i.order_id = o.id WHERE o.buyer_id = r.author_id "
        "AND i.product_id = r.product_id AND o.status = 'DELIVERED')",
    )
    assert unbought == 0


async def test_orders_shipments_payments_and_invoices_agree(world: AsyncEngine) -> None:
    checks = {
        "total is the sum of items": "SELECT count(*) FROM orders o WHERE total_cents != "
        "(SELECT sum(quantity * unit_price_cents) FROM order_items WHERE order_id = o.id)",
        "shipment iff not cancelled": "SELECT count(*) FROM orders o WHERE (status = "
        "'CANCELLED') = EXISTS (SELECT 1 FROM shipments WHERE order_id = o.id)",
        "paid orders have a payment": "SELECT count(*) FROM orders o WHERE status IN "
        "('PAID', 'SHIPPED', 'DELIVERED') AND NOT EXISTS "
        "(SELECT 1 FROM payments WHERE order_id = o.id)",
        "invoice iff delivered": "SELECT count(*) FROM orders o WHERE (status = 'DELIVERED') "
        "!= EXISTS (SELECT 1 FROM invoices WHERE order_id = o.id)",
        "invoice carries the seller's tax id": "SELECT count(*) FROM invoices i JOIN users u "
        "ON u.id = i.seller_id JOIN companies c ON c.id = u.company_id WHERE i.tax_id != c.tax_id",
        "recipient copied from the buyer": "SELECT count(*) FROM shipments s JOIN orders o "
        "ON o.id = s.order_id JOIN users u ON u.id = o.buyer_id WHERE u.full_name IS NOT NULL "
        "AND (s.recipient_name != u.full_name OR s.recipient_phone != u.phone)",
        "shipped by a logistics operator": "SELECT count(*) FROM shipments s JOIN users u "
        "ON u.id = s.logistics_id WHERE u.kind != 'LOGISTICS'",
        "card payments show last 4 digits": "SELECT count(*) FROM payments WHERE "
        "(method = 'CARD') != (card_last4 IS NOT NULL)",
        "company contact is its seller": "SELECT count(*) FROM companies c LEFT JOIN users u "
        "ON u.id = c.contact_person_id WHERE u.company_id IS NULL OR u.company_id != c.id "
        "OR u.kind != 'SELLER'",
        "nobody orders before signing up": "SELECT count(*) FROM orders o JOIN users u "
        "ON u.id = o.buyer_id WHERE o.placed_at < u.created_at",
        "nobody is erased with later orders": "SELECT count(*) FROM orders o JOIN users u "
        "ON u.id = o.buyer_id WHERE o.placed_at > u.erasure_requested_at",
    }
    for what, sql in checks.items():
        assert await scalar(world, sql) == 0, what


async def test_incidents_have_notifications(world: AsyncEngine) -> None:
    assert await scalar(world, "SELECT count(*) FROM security_incidents") >= 2
    kinds = {r[0] for r in await rows(world, "SELECT DISTINCT recipient_kind FROM notifications")}
    assert kinds == {"AUTHORITY", "SUBJECT"}
