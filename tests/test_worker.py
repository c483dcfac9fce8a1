"""The worker: due erasures done exactly once by any number of processes, a worker killed in
the middle of an erasure leaving nothing half-done, SIGTERM finishing the job in hand,
retries with backoff and a typed failure the DPO queue shows, ended holds, cancellation
during the grace period, one worker per SQLite file, and a grace period that would reach a
deadline refused at start.

Workers are real processes (`python -m gateway.cli worker`) where the behaviour is about
processes and signals. To hold a worker inside an erasure, the test locks a product the
subject reviewed (`SELECT ... FOR UPDATE` in a transaction of its own): the erasure waits on
it when it recomputes the ratings, after it has written the legal holds, and
`pg_stat_activity` shows it waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.erasure_cost import Subject, add_subjects
from directives.deadlines import load_rules
from directives.taxonomy import Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db import models as m
from gateway.db.engine import create_engine, session_factory
from gateway.errors import ConfigurationError
from gateway.grace import check_grace, shortest_deletion_period
from gateway.migrate import upgrade
from gateway.settings import Settings
from gateway.worker import lock_path, run_pass
from resolvers.audit.chain import verify
from resolvers.rights import jobs
from tests.conftest import BACKENDS, fresh_database

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
WORKER = [sys.executable, "-m", "gateway.cli", "worker"]
DONE = re.compile(r"erasure done: request (\d+)")
ROOT = Path(__file__).resolve().parent.parent
needs_postgres = pytest.mark.skipif(
    "postgresql" not in BACKENDS, reason="GATEWAY_TEST_BACKENDS leaves PostgreSQL out"
)


@dataclass
class Jobs:
    """A migrated database of one backend, empty but for what each test adds."""

    backend: str
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def add(self, count: int, *, received_at: datetime, **size: Any) -> list[Subject]:
        async with self.engine.begin() as conn:
            return await add_subjects(conn, count, received_at=received_at, **size)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    async def one(self, sql: str, **params: Any) -> Any:
        (row,) = await self.rows(sql, **params)
        return row[0] if len(row) == 1 else row


def _jobs(backend: str, tmp: str) -> tuple[Settings, Callable[[], None]]:
    url, drop = fresh_database(backend, tmp)
    settings = Settings(database_url=url, env="test")
    upgrade(settings)
    return settings, drop


@pytest.fixture(scope="module", params=BACKENDS)
async def jobs_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Jobs]:
    tmp = str(tmp_path_factory.mktemp("worker"))
    settings, drop = await asyncio.to_thread(_jobs, request.param, tmp)
    engine = create_engine(settings)
    yield Jobs(request.param, settings, engine, session_factory(engine))
    await engine.dispose()
    await asyncio.to_thread(drop)


@pytest.fixture
async def pg() -> AsyncIterator[Jobs]:
    """A PostgreSQL database of its own for each process test (claims, kills, signals):
    what one leaves behind cannot be the next one's job."""
    settings, drop = await asyncio.to_thread(_jobs, "postgresql", "")
    engine = create_engine(settings)
    yield Jobs("postgresql", settings, engine, session_factory(engine))
    await engine.dispose()
    await asyncio.to_thread(drop)


# -- helpers ---------------------------------------------------------------------------------


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {
        **env,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_ENV": "test",
        "GATEWAY_WORKER_POLL_SECONDS": "0.2",
        "GATEWAY_LOG_LEVEL": "INFO",
        **extra,
    }


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    def done(self) -> list[int]:
        return [int(n) for n in DONE.findall(self.text())]


def _start(settings: Settings, log: Path, *args: str, **env: str) -> Worker:
    """A worker process, its stdout and stderr in `log`."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*WORKER, *args], env=_env(settings, **env), stderr=out, stdout=out, cwd=ROOT
        )
    return Worker(proc, log)


async def _until(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    what: str,
    timeout: float = 60.0,
    *,
    logs: tuple[Worker | None, ...] = (),
) -> None:
    """Poll an observable condition until it holds (bounded): no sleep stands in for it."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        exited = [w for w in logs if w is not None and w.proc.poll() is not None]
        if exited or time.monotonic() > deadline:
            tails = "\n".join(f"{w.log.name}: {w.text()[-1500:]}" for w in logs if w)
            why = "a worker exited" if exited else f"timed out after {timeout:g} s"
            raise AssertionError(f"{why} waiting for {what}\n{tails}")
        await asyncio.sleep(0.05)


def _stop(worker: Worker, timeout: float = 60.0) -> int:
    if worker.proc.poll() is None:
        worker.proc.send_signal(signal.SIGTERM)
    return worker.proc.wait(timeout=timeout)


def _due_at(settings: Settings) -> datetime:
    return datetime.now(UTC) - timedelta(days=settings.deletion_grace_days + 1)


async def _state(db: Jobs, subject: Subject) -> tuple[Any, ...]:
    """What a half-done erasure would show: holds, profile, reviews, senders, request."""
    return tuple(
        await db.one(
            "SELECT (SELECT count(*) FROM legal_holds WHERE subject_id = :s), "
            "(SELECT deletion_state FROM users WHERE id = :s), "
            "(SELECT full_name FROM users WHERE id = :s) IS NOT NULL, "
            "(SELECT count(*) FROM reviews WHERE author_id = :s), "
            "(SELECT count(*) FROM messages WHERE sender_id = :s), "
            "(SELECT status FROM privacy_requests WHERE id = :r), "
            "(SELECT attempts FROM privacy_requests WHERE id = :r), "
            "(SELECT count(*) FROM privacy_request_events WHERE request_id = :r)",
            s=subject.id,
            r=subject.request_id,
        )
    )


class ProductLock:
    """A transaction of the test's own holding a product row: an erasure of a subject who
    reviewed it waits on it, inside its transaction, after writing the legal holds."""

    def __init__(self, db: Jobs, product: int) -> None:
        self.db, self.product = db, product

    async def __aenter__(self) -> ProductLock:
        self.conn = await self.db.engine.connect()
        await self.conn.begin()
        await self.conn.execute(
            text("SELECT id FROM products WHERE id = :p FOR UPDATE"), {"p": self.product}
        )
        return self

    async def waiter(self) -> int | None:
        """The backend waiting on this lock in the ratings UPDATE, if one is."""
        rows = await self.db.rows(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE products%'"
        )
        return rows[0][0] if rows else None

    async def release(self) -> None:
        if not self.conn.closed:
            await self.conn.rollback()
            await self.conn.close()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


async def _holding_holds(db: Jobs, pid: int) -> bool:
    """The backend has written to legal_holds in its open transaction."""
    rows = await db.rows(
        "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE l.pid = :pid AND c.relname = 'legal_holds' AND l.mode = 'RowExclusiveLock'",
        pid=pid,
    )
    return bool(rows)


async def _gone(db: Jobs, pid: int) -> bool:
    return not await db.rows("SELECT 1 FROM pg_stat_activity WHERE pid = :pid", pid=pid)


# -- PostgreSQL: processes side by side, killed, stopped ----------------------------------------


@needs_postgres
async def test_four_workers_do_200_due_erasures_each_exactly_once(pg: Jobs, tmp_path: Path) -> None:
    subjects = await pg.add(200, received_at=datetime.now(UTC), messages=3, reviews=2, orders=1)
    workers = [_start(pg.settings, tmp_path / f"worker-{i}.log") for i in range(4)]
    try:
        await _until(
            lambda: all("worker ready" in w.text() for w in workers),
            "4 workers ready",
            logs=tuple(workers),
        )
        requests = [s.request_id for s in subjects]
        past = _due_at(pg.settings)
        async with pg.engine.begin() as conn:  # all 200 due at once, every worker polling
            await conn.execute(
                text("UPDATE privacy_requests SET received_at = :t WHERE id = ANY(:ids)"),
                {"t": past.replace(tzinfo=None), "ids": requests},
            )

        async def all_completed() -> bool:
            done = await pg.one(
                "SELECT count(*) FROM privacy_requests WHERE id = ANY(:ids) "
                "AND status = 'COMPLETED'",
                ids=requests,
            )
            return bool(done == len(requests))

        await _until(all_completed, "200 completed erasures", timeout=180)
    finally:
        codes = [_stop(w) for w in workers]
    assert codes == [0, 0, 0, 0], [w.text()[-2000:] for w in workers]
    split = [len(w.done()) for w in workers]
    print(f"\nerasures per worker: {split}")
    done = [n for w in workers for n in w.done()]
    assert sorted(done) == sorted(requests)  # each job done once, by one worker
    assert sum(1 for n in split if n) > 1, split
    completed = await pg.rows(
        "SELECT request_id, count(*) FROM privacy_request_events WHERE to_status = 'COMPLETED' "
        "AND request_id = ANY(:ids) GROUP BY request_id",
        ids=requests,
    )
    assert {r[0] for r in completed} == set(requests) and {r[1] for r in completed} == {1}
    states = await pg.rows(
        "SELECT deletion_state, count(*) FROM users WHERE id = ANY(:ids) GROUP BY 1",
        ids=[s.id for s in subjects],
    )
    assert [tuple(r) for r in states] == [("ERASED", 200)]
    holds = await pg.one(
        "SELECT count(*) FROM legal_holds WHERE subject_id = ANY(:ids)",
        ids=[s.id for s in subjects],
    )
    assert holds == 200 * 4  # order, shipment, payment, invoice: once each, never twice
    # Each completion is an audit event too, four processes appending to one valid chain.
    audited = await pg.rows(
        "SELECT detail FROM audit_events WHERE action = 'REQUEST_STATUS' AND actor = 'system'"
    )
    finished = [json.loads(row[0]) for row in audited]
    assert sorted(d["request"] for d in finished if d["to"] == "COMPLETED") == sorted(requests)
    async with pg.engine.connect() as conn:
        assert (await verify(conn)).intact


@needs_postgres
async def test_a_worker_killed_mid_erasure_leaves_nothing_half_done(
    pg: Jobs, tmp_path: Path
) -> None:
    (subject,) = await pg.add(1, received_at=_due_at(pg.settings))
    before = await _state(pg, subject)
    assert before == (0, "ERASURE_PENDING", True, 2, 3, "RECEIVED", 0, 0)
    async with ProductLock(pg, subject.products[0]) as lock:
        worker = _start(pg.settings, tmp_path / "killed.log", "--once")
        try:
            await _until(lock.waiter, "the erasure to wait on the product lock")
            pid = await lock.waiter()
            assert pid is not None and await _holding_holds(pg, pid)  # mid-erasure
            worker.proc.kill()
            assert worker.proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if worker.proc.poll() is None:
                worker.proc.kill()
        await lock.release()
        await _until(lambda: _gone(pg, pid), "the killed worker's backend to end")
    assert await _state(pg, subject) == before  # nothing of it was committed

    again = subprocess.run(
        [*WORKER, "--once"], env=_env(pg.settings), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "erasures: 1 done" in again.stderr
    after = await _state(pg, subject)
    assert after[:6] == (4, "ERASED", False, 0, 0, "COMPLETED")
    assert after[6] == 0  # a killed worker's try is not a failed attempt
    events = await pg.rows(
        "SELECT to_status FROM privacy_request_events WHERE request_id = :r ORDER BY id",
        r=subject.request_id,
    )
    assert [e[0] for e in events] == ["IN_PROGRESS", "COMPLETED"]


@needs_postgres
async def test_sigterm_finishes_the_job_in_hand_then_exits_0(pg: Jobs, tmp_path: Path) -> None:
    (subject,) = await pg.add(1, received_at=_due_at(pg.settings))
    async with ProductLock(pg, subject.products[0]) as lock:
        worker = _start(pg.settings, tmp_path / "stopped.log")
        try:
            await _until(lock.waiter, "the erasure to wait on the product lock")
            worker.proc.send_signal(signal.SIGTERM)
            await _until(lambda: "SIGTERM: stopping" in worker.text(), "SIGTERM to be seen")
            assert worker.proc.poll() is None  # still in the job
            await lock.release()
            code = worker.proc.wait(timeout=60)
        finally:
            if worker.proc.poll() is None:
                worker.proc.kill()
    assert code == 0, worker.text()
    assert worker.done() == [subject.request_id]
    state = await _state(pg, subject)
    assert state[:6] == (4, "ERASED", False, 0, 0, "COMPLETED")


# -- both backends: retries, holds, grace -------------------------------------------------------


class ErasureBroke(RuntimeError):
    """Stands in for any failure inside an erasure; its message quotes personal data."""


LEAK = "jane.roe@example.test at Musterstrasse 5"


async def test_a_failing_erasure_is_retried_with_backoff_then_failed_with_a_typed_reason(
    jobs_db: Jobs, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = jobs_db
    settings = replace(db.settings, worker_max_attempts=3, worker_backoff_seconds=10)
    (subject,) = await db.add(1, received_at=NOW - timedelta(days=10))
    real = jobs.erase

    async def broken(session: AsyncSession, subject_id: int, now: datetime) -> Any:
        if subject_id == subject.id:
            await real(session, subject_id, now)  # half the work done, then it breaks
            raise ErasureBroke(LEAK)
        return await real(session, subject_id, now)

    monkeypatch.setattr(jobs, "erase", broken)
    caplog.set_level(logging.DEBUG)

    async def attempt(at: datetime) -> jobs.Outcome | None:
        return await jobs.erase_next(db.sessions, settings, at)

    async def row() -> tuple[Any, ...]:
        r = (
            await db.rows(
                "SELECT attempts, retry_at, failure, status FROM privacy_requests WHERE id = :r",
                r=subject.request_id,
            )
        )[0]
        retry = r[1] if r[1] is None or isinstance(r[1], datetime) else datetime.fromisoformat(r[1])
        return (r[0], retry.replace(tzinfo=None) if retry else None, r[2], r[3])

    naive = NOW.replace(tzinfo=None)
    first = await attempt(NOW)
    assert first == jobs.Outcome(subject.request_id, False, None)
    assert await row() == (1, naive + timedelta(seconds=10), None, "RECEIVED")
    assert await attempt(NOW + timedelta(seconds=9)) is None  # backing off
    second_at = NOW + timedelta(seconds=10)
    assert (await attempt(second_at)) == jobs.Outcome(subject.request_id, False, None)
    assert await row() == (
        2,
        second_at.replace(tzinfo=None) + timedelta(seconds=20),
        None,
        "RECEIVED",
    )
    third_at = second_at + timedelta(seconds=20)
    last = await attempt(third_at)
    assert last == jobs.Outcome(subject.request_id, False, "ERASURE_FAILED:ErasureBroke")
    assert await row() == (3, None, "ERASURE_FAILED:ErasureBroke", "RECEIVED")
    assert await attempt(third_at + timedelta(days=30)) is None  # stopped, not dropped
    # Every try rolled back: nothing half-done.
    assert (await _state(db, subject))[:5] == (0, "ERASURE_PENDING", True, 2, 3)
    counts = await jobs.deadline_counts(db.sessions, third_at)
    assert counts["failed"] == 1

    # The DPO queue shows the typed failure and the attempts.
    async with db.engine.begin() as conn:
        employee = (
            await conn.execute(
                text(
                    "INSERT INTO employees (full_name, email, roles, active) "
                    "VALUES ('Dana Protect', :e, 'DPO', true) RETURNING id"
                ),
                {"e": f"dpo-{subject.id}@staff.example.test"},
            )
        ).scalar_one()
    app = create_app(db.settings, clock=lambda: third_at)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            token = issue_token(db.settings, employee_id=employee, role=Role.DPO)
            response = await http.post(
                "/graphql",
                json={
                    "query": "{ privacyRequests(kind: DELETION, first: 50) "
                    "{ nodes { id status attempts failure } } }"
                },
                headers={"Authorization": f"Bearer {token}", "X-Processing-Purpose": "LEGAL"},
            )
    finally:
        await app.state.gateway.aclose()
    body = response.json()
    assert "errors" not in body, body
    nodes = {n["id"]: n for n in body["data"]["privacyRequests"]["nodes"]}
    assert nodes[str(subject.request_id)] == {
        "id": str(subject.request_id),
        "status": "RECEIVED",
        "attempts": 3,
        "failure": "ERASURE_FAILED:ErasureBroke",
    }
    # The exception's message is nowhere: not in the logs, not in the database.
    assert "ErasureBroke" in caplog.text
    assert LEAK not in caplog.text and "jane.roe" not in caplog.text
    assert LEAK not in response.text
    for table in m.Base.metadata.sorted_tables:
        dump = repr(await db.rows(f"SELECT * FROM {table.name}"))
        assert "jane.roe" not in dump, table.name
    # Done with it: the DPO closes it, and it leaves the failed count.
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE privacy_requests SET status = 'REJECTED', open_key = NULL WHERE id = :r"),
            {"r": subject.request_id},
        )
    assert (await jobs.deadline_counts(db.sessions, third_at))["failed"] == 0


async def test_ended_holds_lose_their_personal_fields_and_a_subject_with_none_left_is_purged(
    jobs_db: Jobs,
) -> None:
    db = jobs_db
    whole, part = await db.add(2, received_at=NOW - timedelta(days=10), orders=2)
    first = await run_pass(db.sessions, db.settings, clock=lambda: NOW)
    assert (first.erased, first.holds_ended) == (2, 0)  # holds run till 2031
    past = (NOW - timedelta(days=1)).replace(tzinfo=None)
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE legal_holds SET held_until = :t WHERE subject_id = :s"),
            {"t": past, "s": whole.id},
        )
        await conn.execute(
            text(
                "UPDATE legal_holds SET held_until = :t WHERE subject_id = :s "
                "AND record_type IN ('PAYMENT', 'INVOICE')"
            ),
            {"t": past, "s": part.id},
        )
    second = await run_pass(db.sessions, db.settings, clock=lambda: NOW)
    assert (second.erased, second.holds_ended) == (0, 8 + 4)

    async def held(subject: Subject) -> list[tuple[Any, ...]]:
        rows = await db.rows(
            "SELECT record_type FROM legal_holds WHERE subject_id = :s ORDER BY 1", s=subject.id
        )
        return [r[0] for r in rows]

    async def kept(subject: Subject) -> tuple[Any, ...]:
        return (
            {
                tuple(r)
                for r in await db.rows(
                    "SELECT card_last4 FROM payments WHERE payer_id = :s", s=subject.id
                )
            },
            {
                tuple(r)
                for r in await db.rows(
                    "SELECT billing_name, billing_address, tax_id FROM invoices "
                    "WHERE buyer_id = :s",
                    s=subject.id,
                )
            },
            await db.one("SELECT deletion_state FROM users WHERE id = :s", s=subject.id),
        )

    assert await held(whole) == []
    # The buyer's billing details go; the seller's tax id is the seller's, and stays.
    assert await kept(whole) == ({(None,)}, {(None, None, "DE123456789")}, "PURGED")
    assert await held(part) == ["ORDER", "ORDER", "SHIPMENT", "SHIPMENT"]
    assert await kept(part) == ({(None,)}, {(None, None, "DE123456789")}, "ERASED")
    orders = await db.rows("SELECT buyer_id FROM orders WHERE buyer_id = :s", s=part.id)
    assert len(orders) == 2  # still held: the order keeps naming its (erased) buyer
    third = await run_pass(db.sessions, db.settings, clock=lambda: NOW)
    assert not third.did_work


async def test_a_deletion_cancelled_in_the_grace_period_is_never_erased(jobs_db: Jobs) -> None:
    db = jobs_db
    grace = db.settings.deletion_grace_days
    inside, after = await db.add(2, received_at=NOW - timedelta(days=grace - 1))
    async with db.engine.begin() as conn:  # the second one's grace period is over
        await conn.execute(
            text("UPDATE privacy_requests SET received_at = :t WHERE id = :r"),
            {"t": (NOW - timedelta(days=grace)).replace(tzinfo=None), "r": after.request_id},
        )
    app = create_app(db.settings, clock=lambda: NOW)
    mutation = "mutation { cancelAccountDeletion { request { status } errors { code } } }"
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            answers = []
            for subject in (inside, after):
                token = issue_token(db.settings, user_id=subject.id)
                response = await http.post(
                    "/graphql",
                    json={"query": mutation},
                    headers={"Authorization": f"Bearer {token}"},
                )
                answers.append(response.json()["data"]["cancelAccountDeletion"])
    finally:
        await app.state.gateway.aclose()
    assert answers == [
        {"request": {"status": "CANCELLED"}, "errors": []},
        {"request": None, "errors": [{"code": "NOT_ALLOWED"}]},
    ]
    report = await run_pass(db.sessions, db.settings, clock=lambda: NOW + timedelta(days=60))
    assert report.erased == 1
    states = await db.rows(
        "SELECT id, deletion_state FROM users WHERE id IN (:a, :b) ORDER BY id",
        a=inside.id,
        b=after.id,
    )
    assert [tuple(r) for r in states] == [(inside.id, "ACTIVE"), (after.id, "ERASED")]


# -- SQLite: one worker at a time ---------------------------------------------------------------


async def test_on_sqlite_a_second_worker_says_so_and_waits_for_the_first(
    tmp_path: Path,
) -> None:
    if "sqlite" not in BACKENDS:
        pytest.skip("GATEWAY_TEST_BACKENDS leaves SQLite out")
    settings, drop = await asyncio.to_thread(_jobs, "sqlite", str(tmp_path))
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            (subject,) = await add_subjects(conn, 1, received_at=datetime.now(UTC))
        lock = lock_path(settings)
        assert lock is not None and lock.name.endswith(".db.worker.lock")
        # The first worker makes its first pass, then sleeps until it is stopped.
        first = _start(settings, tmp_path / "first.log", GATEWAY_WORKER_POLL_SECONDS="3600")
        second = third = None
        try:
            await _until(lambda: "pass: erasures: 0 done" in first.text(), "the first pass")
            second = _start(settings, tmp_path / "second.log", "--once")
            waiting = f"another worker holds {lock}; waiting"
            await _until(lambda: waiting in second.text(), "the second worker to wait")
            assert "worker ready" not in second.text() and second.proc.poll() is None
            # A waiting worker stopped by SIGTERM leaves at once, having done nothing.
            third = _start(settings, tmp_path / "third.log")
            await _until(lambda: waiting in third.text(), "the third worker to wait")
            assert _stop(third) == 0 and "worker ready" not in third.text()
            async with engine.begin() as conn:  # due now: only the second worker may take it
                await conn.execute(
                    text("UPDATE privacy_requests SET received_at = :t WHERE id = :r"),
                    {"t": _due_at(settings).replace(tzinfo=None), "r": subject.request_id},
                )
            assert _stop(first) == 0
            assert second.proc.wait(timeout=60) == 0, second.text()
        finally:
            for worker in (first, second, third):
                if worker is not None and worker.proc.poll() is None:
                    worker.proc.kill()
        assert "worker: erasures: 1 done" in second.text()
        assert second.done() == [subject.request_id]
    finally:
        await engine.dispose()
        drop()


# -- the grace period against the deadlines -----------------------------------------------------


def test_the_earliest_deletion_deadline_is_februarys_month() -> None:
    book = load_rules()
    for year in (2026, 2027, 2028):  # 2028 is a leap year; the next one is not
        period, jurisdiction, _ = shortest_deletion_period(book, datetime(year, 6, 1, tzinfo=UTC))
        assert (period, jurisdiction) == (timedelta(days=28), "EU")
    check_grace(Settings(deletion_grace_days=27), book)
    with pytest.raises(ConfigurationError, match=r"GATEWAY_DELETION_GRACE_DAYS=28 .*28 days"):
        check_grace(Settings(deletion_grace_days=28), book)


def test_a_grace_period_reaching_the_deadline_is_refused_by_the_gateway_and_the_worker(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'never-created.db'}"
    with pytest.raises(ConfigurationError, match="GATEWAY_DELETION_GRACE_DAYS=30"):
        create_app(Settings(database_url=url, deletion_grace_days=30))
    refused = subprocess.run(
        [*WORKER, "--once"],
        env=_env(Settings(database_url=url), GATEWAY_DELETION_GRACE_DAYS="30"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "privacy-gateway: error: GATEWAY_DELETION_GRACE_DAYS=30 ends at or after"
    ), refused.stderr
    assert "28 days" in lines[0]
    assert not (tmp_path / "never-created.db").exists()  # refused before touching anything


def test_worker_help_and_a_bad_option(tmp_path: Path) -> None:
    env = _env(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"))
    shown = subprocess.run(
        [*WORKER, "--help"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: privacy-gateway worker")
    assert "--once" in shown.stdout and "SIGTERM" in shown.stdout
    bad = subprocess.run(
        [*WORKER, "--twice"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert bad.returncode == 2 and bad.stderr.startswith("privacy-gateway: error: ")
    assert len(bad.stderr.strip().splitlines()) == 1
