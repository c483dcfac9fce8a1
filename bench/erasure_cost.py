"""What an erasure costs, and how the worker scales with processes.

  1. One erasure job (`erase_next`: claim, erase, complete) of a subject with 10,000
     messages, 1,000 reviews and 500 orders (each with its shipment, payment and invoice),
     beside one of a subject with 10 messages, 1 review and 1 order: statements sent and
     wall time, on SQLite and on PostgreSQL. Erasure is set-based, so the two send the
     same number of statements.
  2. PostgreSQL: 200 due erasures (each subject with 5 messages, 2 reviews and 2 orders)
     done by one `privacy-gateway worker` process and by four, alternating for --rounds
     rounds, each on a fresh database: jobs per second, timed from the moment the jobs
     become due (the workers are started and ready before) until the last one is
     completed; the CPU per job of the workers and of the PostgreSQL backends serving
     them (a local server, read from /proc); how the four shared the jobs.

Each run makes fresh databases (a SQLite file in a temporary directory, a PostgreSQL
database on --postgres-url's server) and drops them afterwards. `add_subjects` builds the
data with a few set-based INSERTs; tests/test_worker.py uses it too.

    .venv/bin/python bench/erasure_cost.py [--postgres-url URL] [--no-postgres] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.db import models as m
from gateway.db.engine import create_engine, session_factory
from gateway.migrate import upgrade
from gateway.settings import Settings
from resolvers.rights.jobs import erase_next

POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
WORKER = [sys.executable, "-m", "gateway.cli", "worker"]
_DONE = re.compile(r"erasure done: request (\d+)")


@dataclass(frozen=True)
class Subject:
    id: int
    request_id: int
    products: tuple[int, ...]  # products the subject reviewed, one each


_TABLES = (
    "users",
    "addresses",
    "products",
    "reviews",
    "orders",
    "shipments",
    "payments",
    "invoices",
    "conversations",
    "messages",
    "privacy_requests",
)


async def add_subjects(
    conn: AsyncConnection,
    count: int,
    *,
    received_at: datetime,
    messages: int = 3,
    reviews: int = 2,
    orders: int = 1,
    placed_at: datetime = NOW - timedelta(days=400),
) -> list[Subject]:
    """`count` buyers who asked to be deleted at `received_at` (ERASURE_PENDING, an open
    DELETION request), each with an address, `orders` orders (shipment, payment with card
    digits, invoice with billing details and the seller's tax id), `reviews` reviews of
    products of their own (each also reviewed by another buyer) and `messages` messages in a
    conversation with the seller. A seller and a reviewer are added for them."""
    t = m.Base.metadata.tables
    ids = {
        name: int(await conn.scalar(select(func.coalesce(func.max(t[name].c.id), 0))) or 0)
        for name in _TABLES
    }

    def take(name: str, n: int) -> range:
        start = ids[name] + 1
        ids[name] += n
        return range(start, start + n)

    seller, reviewer, *people = take("users", count + 2)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in (*_TABLES, "participants")}
    person = {"jurisdiction": "EU", "created_at": NOW - timedelta(days=900)}
    for uid, kind in ((seller, "SELLER"), (reviewer, "BUYER")):
        rows["users"].append(
            {
                **person,
                "id": uid,
                "kind": kind,
                "full_name": f"Counterpart {uid}",
                "email": f"counterpart{uid}@example.test",
                "deletion_state": "ACTIVE",
                "analytics_consent": True,
            }
        )
    subjects = []
    for uid in people:
        rows["users"].append(
            {
                **person,
                "id": uid,
                "kind": "BUYER",
                "full_name": f"Subject {uid}",
                "email": f"subject{uid}@example.test",
                "phone": "+49 30 1234567",
                "deletion_state": "ERASURE_PENDING",
                "erasure_requested_at": received_at,
                "analytics_consent": True,
            }
        )
        rows["addresses"].append(
            {
                "id": take("addresses", 1)[0],
                "user_id": uid,
                "line1": f"Street {uid}",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
                "is_default": True,
            }
        )
        products = tuple(take("products", reviews))
        for product in products:
            rows["products"].append(
                {
                    "id": product,
                    "seller_id": seller,
                    "title": f"Product {product}",
                    "description": "-",
                    "price_cents": 1000,
                    "currency": "EUR",
                    "rating_avg": 4.0,
                    "rating_count": 2,
                }
            )
            for author, rating in ((uid, 5), (reviewer, 3)):
                rows["reviews"].append(
                    {
                        "id": take("reviews", 1)[0],
                        "product_id": product,
                        "author_id": author,
                        "rating": rating,
                        "text": f"Review by {author}",
                        "created_at": placed_at,
                    }
                )
        for order in take("orders", orders):
            rows["orders"].append(
                {
                    "id": order,
                    "buyer_id": uid,
                    "seller_id": seller,
                    "status": "DELIVERED",
                    "total_cents": 1000,
                    "currency": "EUR",
                    "placed_at": placed_at,
                    "shipping_address": f"Street {uid}, Berlin",
                }
            )
            rows["shipments"].append(
                {
                    "id": take("shipments", 1)[0],
                    "order_id": order,
                    "logistics_id": None,
                    "recipient_name": f"Subject {uid}",
                    "recipient_phone": "+49 30 1234567",
                    "recipient_address": f"Street {uid}, Berlin",
                    "status": "DELIVERED",
                    "tracking_code": f"TRK{order}",
                    "updated_at": placed_at,
                }
            )
            rows["payments"].append(
                {
                    "id": take("payments", 1)[0],
                    "order_id": order,
                    "payer_id": uid,
                    "amount_cents": 1000,
                    "currency": "EUR",
                    "method": "CARD",
                    "card_last4": "4242",
                    "status": "CAPTURED",
                    "created_at": placed_at,
                }
            )
            rows["invoices"].append(
                {
                    "id": take("invoices", 1)[0],
                    "order_id": order,
                    "seller_id": seller,
                    "buyer_id": uid,
                    "number": f"INV-{order}",
                    "billing_name": f"Subject {uid}",
                    "billing_address": f"Street {uid}, Berlin",
                    "tax_id": "DE123456789",
                    "total_cents": 1000,
                    "currency": "EUR",
                    "issued_at": placed_at,
                }
            )
        (chat,) = take("conversations", 1)
        rows["conversations"].append({"id": chat, "topic": "order", "created_at": placed_at})
        rows["participants"] += [
            {"conversation_id": chat, "user_id": uid},
            {"conversation_id": chat, "user_id": seller},
        ]
        for message, sender in zip(
            take("messages", messages + 1), [*[uid] * messages, seller], strict=True
        ):
            rows["messages"].append(
                {
                    "id": message,
                    "conversation_id": chat,
                    "sender_id": sender,
                    "body": f"message {message}",
                    "sent_at": placed_at,
                }
            )
        (request,) = take("privacy_requests", 1)
        rows["privacy_requests"].append(
            {
                "id": request,
                "subject_id": uid,
                "kind": "DELETION",
                "status": "RECEIVED",
                "received_at": received_at,
                "due_at": received_at + timedelta(days=28),
                "details": "Close my account",
                "jurisdiction": "EU",
                "due_rule": "bench",
                "extended": False,
                "attempts": 0,
                "open_key": "DELETION:",
            }
        )
        subjects.append(Subject(uid, request, products))
    for name, batch in rows.items():
        table = t["conversation_participants" if name == "participants" else name]
        for start in range(0, len(batch), 5000):
            await conn.execute(insert(table), batch[start : start + 5000])
    if conn.dialect.name == "postgresql":  # ids were given, so the sequences must follow
        for name in _TABLES:
            await conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), :n)"),
                {"n": ids[name]},
            )
    return subjects


async def make_due(engine: AsyncEngine, subjects: list[Subject], settings: Settings) -> None:
    """Move the subjects' requests back past the grace period: they are due now."""
    past = datetime.now(UTC) - timedelta(days=settings.deletion_grace_days + 1)
    r = m.PrivacyRequest
    async with engine.begin() as conn:
        await conn.execute(
            update(r)
            .where(r.id.in_([s.request_id for s in subjects]))
            .values(received_at=past, due_at=past + timedelta(days=28))
        )


# -- the benchmark -----------------------------------------------------------------------


class Databases:
    """Fresh databases for one run, dropped at the end."""

    def __init__(self, postgres_url: str, tmp: str) -> None:
        self.postgres_url, self.tmp = postgres_url, tmp
        self.made: list[str] = []

    def sqlite(self) -> Settings:
        path = Path(self.tmp) / f"erasure-{uuid.uuid4().hex[:8]}.db"
        return self._ready(f"sqlite+aiosqlite:///{path}")

    def postgresql(self) -> Settings:
        name = f"bench_erasure_{uuid.uuid4().hex[:10]}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
        self.made.append(name)
        url = make_url(self.postgres_url).set(database=name)
        return self._ready(url.render_as_string(hide_password=False))

    def _ready(self, url: str) -> Settings:
        settings = Settings(database_url=url, env="test")
        upgrade(settings)
        return settings

    def drop(self) -> None:
        for name in self.made:
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, sql: str) -> None:
        import asyncpg

        url = make_url(self.postgres_url)
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


SIZES = (
    ("10 messages, 1 review, 1 order", (10, 1, 1)),
    ("10,000 messages, 1,000 reviews, 500 orders", (10_000, 1_000, 500)),
)
ROUNDS = 3


async def one_erasure(
    engine: AsyncEngine, settings: Settings, messages: int, reviews: int, orders: int
) -> tuple[int, float, int]:
    """Statements, seconds and rows changed of one erasure job of a subject of that size."""
    async with engine.begin() as conn:
        (subject,) = await add_subjects(
            conn,
            1,
            received_at=NOW - timedelta(days=30),
            messages=messages,
            reviews=reviews,
            orders=orders,
        )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        outcome = await erase_next(session_factory(engine), settings, NOW)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert outcome is not None and outcome.done and outcome.request_id == subject.request_id
    async with engine.connect() as conn:
        summary = await conn.scalar(
            select(m.PrivacyRequest.summary).where(m.PrivacyRequest.id == subject.request_id)
        )
    rows = sum(n for done in json.loads(summary or "{}")["tables"].values() for n in done.values())
    return len(statements), elapsed, rows


async def erasure_cost(settings: Settings, backend: str) -> None:
    """Per size, the median of ROUNDS erasures, after one untimed warm-up."""
    engine = create_engine(settings)
    try:
        await one_erasure(engine, settings, *SIZES[0][1])
        runs: dict[str, list[tuple[int, float, int]]] = {name: [] for name, _ in SIZES}
        for _ in range(ROUNDS):
            for name, size in SIZES:
                runs[name].append(await one_erasure(engine, settings, *size))
    finally:
        await engine.dispose()
    for name, results in runs.items():
        counts = {c for c, _, _ in results}
        ms = statistics.median(t for _, t, _ in results) * 1000
        rows = results[0][2]
        print(
            f"  {backend:<10} {name:<44} {'/'.join(map(str, sorted(counts))):>3} statements "
            f"{ms:8.1f} ms  ({rows:,} rows changed)"
        )


@dataclass(frozen=True)
class Round:
    processes: int
    jobs_per_second: float
    split: tuple[int, ...]  # jobs done by each worker
    cpu_ms_per_job: float  # the workers' own CPU (user + system) while timed
    server_ms_per_job: float  # the CPU of the PostgreSQL backends serving the workers


async def workers(settings: Settings, processes: int, jobs: int = 200) -> Round:
    """`processes` worker processes over `jobs` due erasures: started and ready first, then
    the jobs made due at once, timed until the last is completed (polled every 50 ms on one
    connection)."""
    engine = create_engine(settings)
    r = m.PrivacyRequest
    try:
        async with engine.begin() as conn:
            subjects = await add_subjects(
                conn, jobs, received_at=datetime.now(UTC), messages=5, reviews=2, orders=2
            )
        ids = [s.request_id for s in subjects]
        completed = select(func.count()).where(r.id.in_(ids), r.status == "COMPLETED")
        env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": settings.database_url,
            "GATEWAY_WORKER_POLL_SECONDS": "0.1",
            "GATEWAY_LOG_LEVEL": "INFO",
        }
        with tempfile.TemporaryDirectory() as logs:
            paths = [Path(logs) / f"worker-{i}.log" for i in range(processes)]
            procs = []
            for path in paths:
                with path.open("wb") as log:
                    procs.append(subprocess.Popen(WORKER, env=env, stderr=log))
            try:
                await _until(lambda: all("worker ready" in p.read_text() for p in paths), 120)
                async with engine.connect() as conn:
                    backends = await _backends(conn)
                    cpu = -sum(_cpu_seconds(proc.pid) for proc in procs)
                    server = -sum(_cpu_seconds(pid) for pid in backends)
                    started = time.perf_counter()
                    await make_due(engine, subjects, settings)

                    async def all_done() -> bool:
                        done = await conn.scalar(completed)
                        await conn.rollback()  # a fresh snapshot for the next look
                        return done == jobs

                    await _until_async(all_done, 600)
                    elapsed = time.perf_counter() - started
                    cpu += sum(_cpu_seconds(proc.pid) for proc in procs)
                    later = await _backends(conn)  # backends started meanwhile count from 0
                    server += sum(_cpu_seconds(pid) for pid in backends | later)
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                for proc in procs:
                    proc.wait(timeout=60)
            split = tuple(len(_DONE.findall(path.read_text())) for path in paths)
    finally:
        await engine.dispose()
    assert sum(split) == jobs, split
    return Round(processes, jobs / elapsed, split, cpu / jobs * 1000, server / jobs * 1000)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (Linux: /proc/<pid>/stat); 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _backends(conn: AsyncConnection) -> set[int]:
    """The PostgreSQL server processes of the other sessions on this database (a local
    server: their CPU is read from /proc like the workers')."""
    rows = await conn.execute(
        text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    )
    await conn.rollback()
    return {int(pid) for (pid,) in rows}


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    async def check() -> bool:
        return condition()

    await _until_async(check, timeout)


async def _until_async(condition: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        await asyncio.sleep(0.05)


def scaling(databases: Databases, rounds: int) -> None:
    """One worker and four, alternating, each round on a fresh database."""
    results: dict[int, list[Round]] = {1: [], 4: []}
    for _ in range(rounds):
        for processes in (1, 4):
            done = asyncio.run(workers(databases.postgresql(), processes))
            results[processes].append(done)
            print(
                f"  {processes} worker(s): {done.jobs_per_second:6.1f} jobs/s; CPU per job: "
                f"workers {done.cpu_ms_per_job:4.1f} ms, PostgreSQL "
                f"{done.server_ms_per_job:4.1f} ms; jobs per worker: "
                f"{', '.join(map(str, done.split))}"
            )
    median = {p: statistics.median(x.jobs_per_second for x in rs) for p, rs in results.items()}
    print(
        f"  median: 1 worker {median[1]:.1f} jobs/s, 4 workers {median[4]:.1f} jobs/s, "
        f"four / one {median[4] / median[1]:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server for PostgreSQL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of 1 and 4 workers (default: %(default)s)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        databases = Databases(args.postgres_url, tmp)
        try:
            print("One erasure job (claim, erase, complete), statements and wall time:")
            asyncio.run(erasure_cost(databases.sqlite(), "sqlite"))
            if not args.no_postgres:
                asyncio.run(erasure_cost(databases.postgresql(), "postgresql"))
                print("\n200 due erasures on PostgreSQL, worker processes:")
                scaling(databases, args.rounds)
        finally:
            databases.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
