"""`privacy-gateway worker`: the rights' background work (resolvers/rights/jobs.py).

A pass claims due erasures one by one until none is due, ends the legal holds that have
run out until none is left, brings the audit trail's subject index up to date, then counts
the requests past or close to their due date (counts only, never personal data). The
worker repeats passes every
GATEWAY_WORKER_POLL_SECONDS; `--once` makes one pass and exits 0, due work or not.

SIGTERM or SIGINT stops it after the job in hand: a job is one transaction, which is
finished, never cut short; a worker killed outright loses only that transaction, and the
next worker takes the job. On PostgreSQL any number of workers run side by side (`FOR UPDATE
SKIP LOCKED`); on SQLite one at a time, by an exclusive lock on `<db file>.worker.lock`,
and a second one says so and waits. Like `serve`, the worker first migrates the database
to head.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directives.deadlines import DeadlineRuleError, load_rules
from gateway.db.engine import create_engine, session_factory
from gateway.errors import ConfigurationError, DatabaseUnavailable
from gateway.grace import check_grace
from gateway.settings import Settings
from resolvers.audit.actions import audited
from resolvers.audit.chain import KnownHead
from resolvers.audit.index import update_index
from resolvers.rights.jobs import deadline_counts, erase_next, purge_ended_holds

logger = logging.getLogger("gateway.worker")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassReport:
    """What one pass did, and the queue's deadline counts after it."""

    erased: int = 0
    retrying: int = 0  # failed this time, to be retried after the backoff
    failed: int = 0  # failed for the last allowed time: FAILED with a typed reason
    holds_ended: int = 0
    indexed: int = 0  # audit events added to the subject index (resolvers/audit/index.py)
    overdue: int = 0
    due_soon: int = 0
    queue_failed: int = 0

    @property
    def did_work(self) -> bool:
        return bool(self.erased or self.retrying or self.failed or self.holds_ended or self.indexed)

    def line(self) -> str:
        return (
            f"erasures: {self.erased} done, {self.retrying} to retry, {self.failed} failed; "
            f"holds ended: {self.holds_ended}; audit events indexed: {self.indexed}; "
            f"queue: {self.overdue} overdue, "
            f"{self.due_soon} due soon, {self.queue_failed} failed"
        )


async def run_pass(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    clock: Clock = _utc_now,
) -> PassReport:
    """One pass over the due work; stops between jobs once `stop` is set."""
    report = PassReport()

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    while not stopped():
        outcome = await erase_next(sessions, settings, clock())
        if outcome is None:
            break
        if outcome.done:
            report.erased += 1
        elif outcome.failure:
            report.failed += 1
        else:
            report.retrying += 1
    while not stopped():
        ended = await purge_ended_holds(sessions, clock())
        if not ended:
            break
        report.holds_ended += ended
    report.indexed = await update_index(sessions)
    counts = await deadline_counts(sessions, clock())
    report.overdue, report.due_soon = counts["overdue"], counts["due_soon"]
    report.queue_failed = counts["failed"]
    return report


def lock_path(settings: Settings) -> Path | None:
    """The file whose lock makes a SQLite worker the only one; None on PostgreSQL."""
    if not settings.is_sqlite:
        return None
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve().with_name(Path(database).name + ".worker.lock")


class OneWorker:
    """An exclusive `flock` on a lock file beside the SQLite database, held for the
    worker's life; the kernel releases it when the process ends, however it ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Take the lock, waiting as long as another worker holds it; False if stopped."""
        self._fd = fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        logger.warning("another worker holds %s; waiting", self.path)
        loop = asyncio.get_running_loop()
        locked: asyncio.Future[None] = loop.create_future()

        def settle(error: OSError | None) -> None:
            if not locked.done():
                if error is None:
                    locked.set_result(None)
                else:
                    locked.set_exception(error)

        def wait() -> None:  # a blocking flock, off the event loop, so signals still work
            error: OSError | None = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is gone: stopped meanwhile
                loop.call_soon_threadsafe(settle, error)

        # A daemon thread: if the worker is stopped while waiting, the process just exits.
        threading.Thread(target=wait, name="worker-lock", daemon=True).start()
        stopping: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((locked, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if locked.done():
            locked.result()
            return True
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


async def work(settings: Settings, *, once: bool, clock: Clock = _utc_now) -> PassReport:
    """Run passes until stopped (or one with `once`); returns the totals."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(name: str) -> None:
        if not stop.is_set():
            logger.info("%s: stopping after the job in hand", name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping, sig.name)
    path = lock_path(settings)
    lock = OneWorker(path) if path is not None else None
    totals = PassReport()
    try:
        if lock is not None and not await lock.acquire(stop):
            return totals
        if stop.is_set():
            return totals
        from gateway.migrate import upgrade

        await asyncio.to_thread(upgrade, settings)  # as `serve` does; a no-op at head
        engine = create_engine(settings)
        try:
            sessions = session_factory(engine)
            # What the worker does to requests (IN_PROGRESS, COMPLETED, FAILED) is a rights
            # action like any other: an audit event in the same transaction, as "system".
            audited(sessions, clock, KnownHead())
            totals = await _passes(sessions, settings, once, stop, clock)
        finally:
            await engine.dispose()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if lock is not None:
            lock.release()
    return totals


async def _passes(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    once: bool,
    stop: asyncio.Event,
    clock: Clock,
) -> PassReport:
    totals, last = PassReport(), ""
    mode = "one pass" if once else f"a pass every {settings.worker_poll_seconds:g} s"
    logger.info("worker ready (pid %s): %s", os.getpid(), mode)
    while not stop.is_set():
        try:
            report = await run_pass(sessions, settings, stop=stop, clock=clock)
        except (SQLAlchemyError, OSError) as exc:  # the type only: messages may quote data
            if once:
                raise DatabaseUnavailable(f"the pass stopped: {type(exc).__name__}") from None
            logger.warning(
                "pass stopped (%s); next in %g s", type(exc).__name__, settings.worker_poll_seconds
            )
        else:
            for name in ("erased", "retrying", "failed", "holds_ended"):
                setattr(totals, name, getattr(totals, name) + getattr(report, name))
            totals.overdue, totals.due_soon = report.overdue, report.due_soon
            totals.queue_failed = report.queue_failed
            if not once and (report.did_work or report.line() != last):
                logger.info("pass: %s", report.line())
            last = report.line()
        if once:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.worker_poll_seconds)
    return totals


def run(settings: Settings, *, once: bool) -> int:
    """The `worker` command: refuse a grace period past a deadline, then work; exit 0."""
    try:
        check_grace(settings, load_rules())
    except DeadlineRuleError as exc:
        raise ConfigurationError(str(exc)) from None
    if not once and settings.worker_poll_seconds <= 0:
        raise ConfigurationError(
            "GATEWAY_WORKER_POLL_SECONDS must be more than 0 for a worker that loops "
            "(or run `worker --once`)"
        )
    totals = asyncio.run(work(settings, once=once))
    if once:
        print(f"worker: {totals.line()}", file=sys.stderr)
    return 0
