"""/metrics: requests and latency by operation type, redactions by reason and action, the
queue's figures read from the database at scrape time, and the multi-process mode.

Counters are per process and other tests move them too, so each test compares two scrapes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from directives.deadlines import RequestKind
from directives.decision import Action, Reason
from gateway.app import create_app
from gateway.metrics import BATCH, INVALID, MULTIPROC_ENV
from gateway.migrate import upgrade
from gateway.settings import Settings
from resolvers.rights.jobs import deadline_counts
from resolvers.rights.requests import CLOSED, OPEN
from tests.conftest import Database, employee_token, fetch, fresh_database

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

ANALYST_QUERY = "{ users(first: 7) { nodes { id fullName email } } }"


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db.settings, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    await app.state.gateway.aclose()


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def test_requests_are_counted_and_timed_by_operation_type(
    db: Database, http: httpx.AsyncClient
) -> None:
    before = await scrape(http)
    analyst = {
        "Authorization": f"Bearer {employee_token(db, 'analyst')}",
        "X-Processing-Purpose": "ANALYTICS",
    }
    reports = []
    for _ in range(2):
        response = await http.post("/graphql", json={"query": ANALYST_QUERY}, headers=analyst)
        assert response.status_code == 200 and "errors" not in response.json()
        reports.append(response.json()["extensions"]["privacy"]["redactions"])
    refused = await http.post(
        "/graphql", json={"query": 'mutation { cancelPrivacyRequest(id: "1") { created } }'}
    )
    assert refused.status_code == 200, "a mutation, refused in its payload"
    assert (await http.post("/graphql", json={"query": "{ nope"})).status_code == 200
    assert (await http.post("/graphql", content=b"{", headers=_json())).status_code == 400
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    after = await scrape(http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    counted = "privacy_gateway_graphql_requests_total"
    timed = "privacy_gateway_graphql_request_duration_seconds_count"
    assert moved(counted, operation="query") == 2
    assert moved(counted, operation="mutation") == 1
    assert moved(counted, operation=INVALID) == 2, "a parse error and bad JSON; not the page"
    for operation, count in (("query", 2), ("mutation", 1), (INVALID, 2)):
        assert moved(timed, operation=operation) == count
    assert moved("privacy_gateway_graphql_request_duration_seconds_sum", operation="query") > 0

    expected: Counter[tuple[str, str]] = Counter()
    for report in reports:
        for group in report:
            expected[(group["reason"], group["action"])] += group["count"]
    assert expected[("PSEUDONYMISED", "MASK")] > 0
    seen = {
        labels: after[(name, labels)] - before.get((name, labels), 0.0)
        for name, labels in after
        if name == "privacy_gateway_redactions_total"
    }
    assert {dict(k)["reason"] + "/" + dict(k)["action"]: v for k, v in seen.items() if v} == {
        f"{reason}/{action}": count for (reason, action), count in expected.items()
    }


async def test_queue_figures_come_from_the_database(db: Database, http: httpx.AsyncClient) -> None:
    found = await scrape(http)
    assert value(found, "privacy_gateway_database_up") == 1
    rows = await fetch(db, "SELECT kind, status, received_at, failure FROM privacy_requests")
    by_kind_status = Counter((kind, status) for kind, status, _, _ in rows)
    for kind in RequestKind:
        for status in (*OPEN, *CLOSED):
            assert (
                value(found, "privacy_gateway_privacy_requests", kind=kind.value, status=status)
                == by_kind_status[(kind.value, status)]
            ), (kind, status)
    app = create_app(db.settings)
    try:
        counts = await deadline_counts(app.state.gateway.sessions, NOW)
    finally:
        await app.state.gateway.aclose()
    assert value(found, "privacy_gateway_privacy_requests_overdue") == counts["overdue"]
    assert value(found, "privacy_gateway_privacy_requests_due_soon") == counts["due_soon"]
    assert value(found, "privacy_gateway_failed_jobs") == counts["failed"]

    erasable_since = NOW - timedelta(days=db.settings.deletion_grace_days)
    waiting = [
        _aware(received)
        for kind, status, received, failure in rows
        if kind == "DELETION" and status in OPEN and failure is None
    ]
    due = [received for received in waiting if received <= erasable_since]
    assert due, "the seed has erasures past their grace period"
    lag = (erasable_since - min(due)).total_seconds()
    assert value(found, "privacy_gateway_worker_lag_seconds") == pytest.approx(lag, abs=1e-3)


async def test_no_label_carries_personal_data(http: httpx.AsyncClient) -> None:
    found = await scrape(http)
    allowed = {
        "operation": {"query", "mutation", "subscription", INVALID, BATCH},
        "reason": {r.value for r in Reason},
        "action": {a.value for a in Action},
        "kind": {k.value for k in RequestKind},
        "status": {*OPEN, *CLOSED},
    }
    labelled = 0
    for name, labels in found:
        for label, text in labels:
            if label == "le":
                float(text)  # a histogram bucket's bound
                continue
            assert text in allowed[label], (name, label, text)
            labelled += 1
    assert labelled > 0


async def test_a_scrape_without_the_database_still_answers(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/no/such/dir.db", env="test")
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            found = await scrape(http)
    finally:
        await app.state.gateway.aclose()
    assert value(found, "privacy_gateway_database_up") == 0
    assert not any(name == "privacy_gateway_privacy_requests" for name, _ in found)


# -- several processes ------------------------------------------------------------------------

# One server process: a few requests through the app, then audit events counted, then exit.
WORKER = """
import asyncio, sys
import httpx
from gateway import metrics
from gateway.app import create_app
from gateway.settings import Settings

QUERY = "{ privacyCatalog { fieldName } }"

async def main(url, queries, events):
    app = create_app(Settings(database_url=url, env="test"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        for _ in range(queries):
            response = await http.post("/graphql", json={"query": QUERY})
            assert response.status_code == 200, response.text
        await http.post("/graphql", json={"query": "{ nope"})
    await app.state.gateway.aclose()
    metrics.audit_events_written.inc(events)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def test_one_scrape_adds_up_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, drop = fresh_database("sqlite", str(tmp_path))
    upgrade(Settings(database_url=url, env="test"))
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, MULTIPROC_ENV: str(shared)}
    root = Path(__file__).resolve().parents[1]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(queries), str(events)],
            env=env,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for queries, events in ((3, 5), (2, 7))
    ]
    for worker in workers:
        output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output.decode(errors="replace")
    pids = {w.pid for w in workers}
    assert {int(p.stem.rsplit("_", 1)[1]) for p in shared.glob("counter_*.db")} == pids

    monkeypatch.setenv(MULTIPROC_ENV, str(shared))
    found = _scrape_once(Settings(database_url=url, env="test"))
    drop()

    requests = "privacy_gateway_graphql_requests_total"
    assert value(found, requests, operation="query") == 3 + 2
    assert value(found, requests, operation=INVALID) == 1 + 1
    assert value(found, "privacy_gateway_graphql_request_duration_seconds_count", operation="query")
    assert value(found, "privacy_gateway_audit_events_written_total") == 5 + 7
    assert value(found, "privacy_gateway_database_up") == 1, "the queue's figures, once"


def _scrape_once(settings: Settings) -> Samples:
    import asyncio

    async def run() -> Samples:
        app = create_app(settings)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as h:
                return await scrape(h)
        finally:
            await app.state.gateway.aclose()

    return asyncio.run(run())


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _aware(moment: Any) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
