"""Prometheus metrics: what the gateway did (this process) and where the queue stands (the
database, read when scraped). No label carries an id, an email or any other personal value:
only operation types, redaction reasons and actions, request kinds and statuses.

With several server processes, set PROMETHEUS_MULTIPROC_DIR to a directory they share (empty
it before they start): each process writes its counters there and a scrape of any one of them
adds up all of them (prometheus-client's multi-process mode). The queue's figures come from
the database, so they are the same whichever process answers.

Other modules count through the objects here, e.g. `metrics.audit_events_written.inc(n)`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from directives.deadlines import RequestKind
from gateway.db import models as m
from gateway.settings import Settings

logger = logging.getLogger("gateway.metrics")

NAMESPACE = "privacy_gateway"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
INVALID = "invalid"  # refused before execution: HTTP, parse or validation
BATCH = "batch"  # one HTTP request with operations of more than one type

# This process's own metrics; a scrape exposes them, or in multi-process mode everyone's.
PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)
graphql_requests = Counter(
    "graphql_requests",
    "GraphQL HTTP requests by operation type (query, mutation, invalid: refused before execution).",
    ["operation"],
    namespace=NAMESPACE,
    registry=PROCESS_REGISTRY,
)
graphql_request_duration = Histogram(
    "graphql_request_duration_seconds",
    "Time from a GraphQL HTTP request's arrival to its response, by operation type.",
    ["operation"],
    namespace=NAMESPACE,
    registry=PROCESS_REGISTRY,
)
redactions = Counter(
    "redactions",
    "Fields masked or stripped in responses (from each response's redaction report), by "
    "reason and action.",
    ["reason", "action"],
    namespace=NAMESPACE,
    registry=PROCESS_REGISTRY,
)
audit_events_written = Counter(
    "audit_events_written",
    "Audit events written to the hash-chained audit trail.",
    namespace=NAMESPACE,
    registry=PROCESS_REGISTRY,
)
ProcessCollector(registry=PROCESS_REGISTRY)  # CPU, memory, open files: single-process only


# -- requests ---------------------------------------------------------------------------------


@dataclass
class _Observed:
    """What the schema extension tells the HTTP observer about one HTTP request."""

    operations: list[str] = field(default_factory=list)


_current: ContextVar[_Observed | None] = ContextVar("privacy_gateway_metrics", default=None)


class RequestMetrics(SchemaExtension):
    """Notes each operation's type once it is valid, and counts the redactions its report
    holds when it is done (a cancelled operation sent none, so it counts none)."""

    def on_execute(self) -> Iterator[None]:
        observed = _current.get()
        if observed is not None:
            observed.operations.append(_operation_type(self.execution_context))
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        privacy = getattr(self.execution_context.context, "privacy", None)
        report = getattr(privacy, "report", None)
        if report is None:
            return
        totals: Tally[tuple[str, str]] = Tally()
        for group in report.summary():
            totals[(group.reason.value, group.action.value)] += group.count
        for (reason, action), count in totals.items():
            redactions.labels(reason=reason, action=action).inc(count)


def _operation_type(ctx: ExecutionContext) -> str:
    try:
        return str(ctx.operation_type.value)
    except RuntimeError:  # no document, or no operation of the given name
        return INVALID


def observe_requests(app: ASGIApp) -> ASGIApp:
    """`app` (the /graphql endpoint), counting and timing each HTTP request by the type of
    its operation; one refused before execution is `invalid`. GraphiQL's page is not a
    GraphQL request and is not counted."""

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        seen = _Observed()
        token = _current.set(seen)
        started = perf_counter()
        page = False

        async def watch(message: Message) -> None:
            nonlocal page
            if message["type"] == "http.response.start":
                page = any(
                    key.lower() == b"content-type" and value.startswith(b"text/html")
                    for key, value in message.get("headers", ())
                )
            await send(message)

        try:
            await app(scope, receive, watch)
        finally:
            _current.reset(token)
            if not page:
                kinds = set(seen.operations)
                operation = kinds.pop() if len(kinds) == 1 else BATCH if kinds else INVALID
                graphql_requests.labels(operation=operation).inc()
                graphql_request_duration.labels(operation=operation).observe(
                    perf_counter() - started
                )

    return observed


# -- the queue, read at scrape time -----------------------------------------------------------


@dataclass(frozen=True)
class QueueSnapshot:
    by_kind_status: dict[tuple[str, str], int]  # every kind and status, 0 where none
    overdue: int
    due_soon: int
    failed: int
    worker_lag_seconds: float


async def queue_snapshot(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> QueueSnapshot:
    """The privacy requests by kind and status, with what the DPO and operators watch, in
    one GROUP BY: open ones past due or due soon, open ones whose background work stopped
    retrying (failed jobs), and the age of the oldest erasure the worker should have done
    (past its grace period, not failed)."""
    # Imported here: resolvers may count audit events through this module.
    from resolvers.rights.jobs import DUE_SOON
    from resolvers.rights.requests import CLOSED, OPEN

    r = m.PrivacyRequest
    erasable_since = now - timedelta(days=settings.deletion_grace_days)
    statement = select(
        r.kind,
        r.status,
        func.count(),
        func.count(case((r.due_at < now, 1))),
        func.count(case((and_(r.due_at >= now, r.due_at < now + DUE_SOON), 1))),
        func.count(r.failure),
        func.min(case((and_(r.failure.is_(None), r.received_at <= erasable_since), r.received_at))),
    ).group_by(r.kind, r.status)
    async with sessions() as session:
        rows = (await session.execute(statement)).all()
    counts = {(k.value, status): 0 for k in RequestKind for status in (*OPEN, *CLOSED)}
    overdue = soon = failed = 0
    oldest: datetime | None = None
    for kind, status, total, late, near, failures, waiting in rows:
        counts[(kind, status)] = total
        if status not in OPEN:
            continue
        overdue, soon, failed = overdue + late, soon + near, failed + failures
        if kind == RequestKind.DELETION.value and waiting is not None:
            oldest = waiting if oldest is None else min(oldest, waiting)
    lag = 0.0 if oldest is None else max(0.0, (erasable_since - oldest).total_seconds())
    return QueueSnapshot(counts, overdue, soon, failed, lag)


class _QueueCollector(Collector):
    def __init__(self, snapshot: QueueSnapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            f"{NAMESPACE}_database_up", "1 if this scrape could read the queue's figures."
        )
        up.add_metric([], 0 if self.snapshot is None else 1)
        yield up
        s = self.snapshot
        if s is None:
            return
        requests = GaugeMetricFamily(
            f"{NAMESPACE}_privacy_requests",
            "Privacy requests by kind and status.",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(s.by_kind_status.items()):
            requests.add_metric([kind, status], count)
        yield requests
        for name, value, text in (
            ("privacy_requests_overdue", s.overdue, "Open privacy requests past their due date."),
            (
                "privacy_requests_due_soon",
                s.due_soon,
                "Open privacy requests due within three days.",
            ),
            (
                "failed_jobs",
                s.failed,
                "Open privacy requests whose background work (an erasure) stopped retrying.",
            ),
            (
                "worker_lag_seconds",
                s.worker_lag_seconds,
                "Age of the oldest erasure past its grace period and not yet done (0: none).",
            ),
        ):
            gauge = GaugeMetricFamily(f"{NAMESPACE}_{name}", text)
            gauge.add_metric([], value)
            yield gauge


class _ProcessMetrics(Collector):
    def collect(self) -> Iterable[Metric]:
        return PROCESS_REGISTRY.collect()


def exposition(snapshot: QueueSnapshot | None) -> bytes:
    """The text a scrape gets: this process's metrics (or, in multi-process mode, every
    process's, read from PROMETHEUS_MULTIPROC_DIR) and the queue's."""
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessMetrics())
    registry.register(_QueueCollector(snapshot))
    return generate_latest(registry)


def metrics_endpoint(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Callable[[], datetime],
) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(request: Request) -> Response:
        snapshot: QueueSnapshot | None
        try:
            snapshot = await queue_snapshot(sessions, settings, clock())
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("metrics: the queue's figures are unavailable (%s)", type(exc).__name__)
            snapshot = None
        return Response(
            exposition(snapshot),
            media_type=CONTENT_TYPE_LATEST,
            headers={"Cache-Control": "no-store"},
        )

    return metrics
