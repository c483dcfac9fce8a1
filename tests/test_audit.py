"""The audit trail end to end, on both backends: every employee read of personal data is an
event naming the subject and the fields the response carried (compared with the response
and its full redaction report), rights actions and DPO decisions are events, no audit row
holds a value, the hash chain verifies, SQL tampering (UPDATE, DELETE, INSERT) is caught
at the right event by `verifyAuditChain` and by `privacy-gateway audit verify`, two gateways
appending at once make one chain, `myDisclosures` aggregates the subject's reads, and a
failed audit write changes nothing in the response. Each module works on a private
database with a known clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

import resolvers.audit
from directives.taxonomy import Purpose, Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db.engine import create_engine, session_factory
from gateway.metrics import PROCESS_REGISTRY
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from gateway.worker import run_pass
from resolvers.audit.chain import GENESIS, Event, canonical, chained, named, rows_of
from resolvers.audit.index import update_index
from resolvers.rights.jobs import erase_next
from tests.conftest import BACKENDS, Database, fetch, make_database, post_graphql

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
USER_FIELDS = ("fullName", "email", "phone", "createdAt", "deletionState")
USERS = (
    "query($first: Int!) { users(first: $first) { nodes { id " + " ".join(USER_FIELDS) + " } } }"
)
ORDERS = """{ orders(first: 15) { nodes { id shippingAddress buyer { id fullName }
    seller { id } } } }"""
VERIFY = """{ verifyAuditChain { intact events headId headHash brokenAt reason message } }"""
DISCLOSURES = """query($first: Int!, $after: String) { myDisclosures(first: $first, after: $after) {
    nodes { day role purpose requests categories { category reads } }
    pageInfo { hasNextPage endCursor } } }"""
AUDITORS = {
    (Role.DPO, Purpose.LEGAL),
    (Role.SECURITY, Purpose.SECURITY),
    (Role.SECURITY, Purpose.LEGAL),
}
STAFF_IDS = {Role(role): employee_id for employee_id, role in DEMO_EMPLOYEES.values()}


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Audit:
    db: Database
    http: httpx.AsyncClient
    other: httpx.AsyncClient  # a second gateway process (its own engine) on the same database
    apps: list[Any]
    clock: Clock

    def user(self, who: str | int) -> dict[str, str]:
        user_id = DEMO_USERS[who] if isinstance(who, str) else who
        token = issue_token(self.db.settings, user_id=user_id, auth_time=self.clock.now.timestamp())
        return {"Authorization": f"Bearer {token}"}

    def staff(self, role: Role, purpose: Purpose) -> dict[str, str]:
        token = issue_token(self.db.settings, employee_id=STAFF_IDS[role], role=role)
        return {"Authorization": f"Bearer {token}", "X-Processing-Purpose": purpose.value}

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> dict[str, Any]:
        return await post_graphql(client or self.http, query, variables, headers)


@pytest.fixture(scope="module", params=BACKENDS)
def audit_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("audit")))
    yield database
    drop()


@pytest.fixture(scope="module")
async def audit(audit_db: Database) -> AsyncIterator[Audit]:
    clock = Clock()
    apps = [create_app(audit_db.settings, clock=clock) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        for app in apps
    ]
    try:
        yield Audit(audit_db, clients[0], clients[1], apps, clock)
    finally:
        for client in clients:
            await client.aclose()
        for app in apps:
            await app.state.gateway.aclose()


@pytest.fixture(autouse=True)
def _known_time(audit: Audit) -> None:
    audit.clock.now = START


async def execute(db: Database, *statements: str, **params: Any) -> None:
    engine = create_engine(db.settings)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def last_id(db: Database) -> int:
    (row,) = await fetch(db, "SELECT coalesce(max(id), 0) FROM audit_events")
    return int(row[0])


async def indexed(db: Database) -> int:
    """Bring the subject index up to date, as its readers do first; how many events it took."""
    engine = create_engine(db.settings)
    try:
        return await update_index(session_factory(engine))
    finally:
        await engine.dispose()


async def events_after(db: Database, after: int) -> list[Any]:
    """The events after id `after`, one row per subject each names (as the subject index
    says, brought up to date first; verification checks the index against the events), in
    id order."""
    await indexed(db)
    return await fetch(
        db,
        "SELECT e.id, e.actor, e.actor_role, e.purpose, e.action, s.subject_id, e.entity, "
        "e.fields, e.categories, e.request_id, e.detail FROM audit_events e "
        "LEFT JOIN audit_event_subjects s ON s.event_id = e.id WHERE e.id > :a "
        "ORDER BY e.id, s.subject_id",
        a=after,
    )


def ids(events: list[Any]) -> list[int]:
    return sorted({event.id for event in events})


def reads_of(events: list[Any]) -> dict[tuple[str, int], dict[str, str]]:
    found: dict[tuple[str, int], dict[str, str]] = {}
    for event in events:
        if event.action == "READ":
            key = (event.entity, event.subject_id)
            assert key not in found, f"two READ events for {key} in one request"
            found[key] = json.loads(event.fields)
    return found


def redactions(body: dict[str, Any]) -> dict[str, str]:
    return {r["path"]: r["action"] for r in body["extensions"]["privacy"]["paths"]}


def merge(into: dict[str, str], field: str, action: str) -> None:
    if into.get(field) != "SHOW":
        into[field] = action


def expected(
    into: dict[tuple[str, int], dict[str, str]],
    entity: str,
    subject: int,
    path: str,
    fields: tuple[str, ...],
    hidden: dict[str, str],
) -> None:
    """What the response carried of `subject` at `path`: SHOW unless the report says MASK,
    nothing when it says STRIP."""
    for field in fields:
        action = hidden.get(f"{path}.{field}", "SHOW")
        if action != "STRIP":
            merge(into.setdefault((entity, subject), {}), field, action)


@contextlib.asynccontextmanager
async def unguarded(db: Database, table: str = "audit_events") -> AsyncIterator[None]:
    """Lift a table's append-only triggers, as someone with the database owner's rights
    would (`audit_events` or `audit_event_subjects`)."""
    if db.backend == "sqlite":
        await execute(db, f"DROP TRIGGER {table}_no_update", f"DROP TRIGGER {table}_no_delete")
    else:
        await execute(db, f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    try:
        yield
    finally:
        if db.backend == "sqlite":
            await execute(
                db,
                *(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                    for verb in ("UPDATE", "DELETE")
                ),
            )
        else:
            await execute(db, f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


async def cli_verify(db: Database) -> tuple[int, str]:
    env = {**os.environ, "GATEWAY_DATABASE_URL": db.settings.database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "audit",
        "verify",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, (out + err).decode().strip()


async def verdict(audit: Audit) -> dict[str, Any]:
    body = await audit.gql(VERIFY, headers=audit.staff(Role.DPO, Purpose.LEGAL))
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["verifyAuditChain"]
    return found


# -- reads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "purpose"),
    [
        (Role.SUPPORT, Purpose.SUPPORT),
        (Role.ANALYST, Purpose.ANALYTICS),
        (Role.FINANCE, Purpose.BILLING),
        (Role.DPO, Purpose.LEGAL),
    ],
)
async def test_every_employee_read_is_an_event_naming_subject_and_fields(
    audit: Audit, role: Role, purpose: Purpose
) -> None:
    before = await last_id(audit.db)
    full = {**audit.staff(role, purpose), "X-Privacy-Report": "full"}
    body = await audit.gql(USERS, {"first": 30}, full)
    assert "errors" not in body, body
    hidden = redactions(body)
    want: dict[tuple[str, int], dict[str, str]] = {}
    for index, node in enumerate(body["data"]["users"]["nodes"]):
        expected(want, "User", int(node["id"]), f"users.nodes[{index}]", USER_FIELDS, hidden)
    events = await events_after(audit.db, before)
    assert reads_of(events) == want
    assert {(e.actor, e.actor_role, e.purpose) for e in events} == {
        (f"employee:{STAFF_IDS[role]}", role.value, purpose.value)
    }
    assert len({e.request_id for e in events}) == 1
    categories = {e.subject_id: set(e.categories.split(",")) for e in events}
    for (_, subject), fields in want.items():
        assert len(categories[subject]) == len(fields)  # one category per User field


async def test_a_record_of_several_subjects_names_each_with_their_fields(audit: Audit) -> None:
    before = await last_id(audit.db)
    full = {**audit.staff(Role.SUPPORT, Purpose.SUPPORT), "X-Privacy-Report": "full"}
    body = await audit.gql(ORDERS, headers=full)
    assert "errors" not in body, body
    hidden = redactions(body)
    nodes = body["data"]["orders"]["nodes"]
    parties = {
        row.id: (row.buyer_id, row.seller_id)
        for row in await fetch(audit.db, "SELECT id, buyer_id, seller_id FROM orders")
    }
    want: dict[tuple[str, int], dict[str, str]] = {}
    for index, node in enumerate(nodes):
        buyer, seller = parties[int(node["id"])]
        path = f"orders.nodes[{index}]"
        expected(want, "Order", buyer, path, ("shippingAddress", "buyer"), hidden)
        expected(want, "Order", seller, path, ("seller",), hidden)
        if node["buyer"] is not None:
            expected(want, "User", buyer, f"{path}.buyer", ("fullName",), hidden)
    assert reads_of(await events_after(audit.db, before)) == want


async def test_a_list_of_people_records_each_listed_person(audit: Audit) -> None:
    before = await last_id(audit.db)
    query = "{ companies(first: 20) { nodes { id members { id } } } }"
    body = await audit.gql(query, headers=audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    assert "errors" not in body, body
    members = {
        int(member["id"])
        for node in body["data"]["companies"]["nodes"]
        for member in node["members"]
    }
    assert members
    reads = reads_of(await events_after(audit.db, before))
    assert {subject for entity, subject in reads if entity == "Company"} >= members
    for member in members:
        assert reads[("Company", member)]["members"] == "SHOW"


def written() -> float:
    return PROCESS_REGISTRY.get_sample_value("privacy_gateway_audit_events_written_total") or 0


async def test_events_written_are_counted_for_metrics(audit: Audit) -> None:
    before, counted = await last_id(audit.db), written()
    await audit.gql(USERS, {"first": 7}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    await audit.gql(CONSENT, {"granted": True}, audit.user("logistics"))
    events = await events_after(audit.db, before)
    assert written() - counted == len(ids(events)) >= 2
    assert len([e for e in events if e.action == "READ"]) == 7  # one row per subject named


async def test_platform_users_reads_are_not_audited(audit: Audit) -> None:
    before = await last_id(audit.db)
    query = "{ me { fullName email orders { id seller { fullName email } } } }"
    body = await audit.gql(query, headers=audit.user("buyer"))
    assert "errors" not in body, body
    assert await events_after(audit.db, before) == []


async def test_reads_wait_for_a_locked_sqlite_database_off_the_event_loop(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process holds SQLite's write lock, the held connection on the loop
    does not wait for it: the write goes to the writer's thread, which waits, and lands
    once the lock is released; meanwhile the loop serves other requests."""
    if audit.db.backend != "sqlite":
        pytest.skip("SQLite's write lock")
    gateway = audit.apps[0].state.gateway
    writer = gateway.read_writer
    handed_over = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = writer._sync.write

    def write(*args: Any) -> None:
        loop.call_soon_threadsafe(handed_over.set)
        original(*args)

    monkeypatch.setattr(writer._sync, "write", write)
    other = sqlite3.connect(audit.db.settings.database_url.split("///", 1)[1])
    before = await last_id(audit.db)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock, as another process would hold it
        request = asyncio.create_task(
            audit.gql(USERS, {"first": 4}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
        )
        await handed_over.wait()
        assert not request.done()
        health = await audit.http.get("/healthz")  # the loop is free meanwhile
        assert health.status_code == 200
    finally:
        other.rollback()
        other.close()
    body = await request
    assert len(body["data"]["users"]["nodes"]) == 4
    assert len(ids(await events_after(audit.db, before))) >= 1
    assert (await verdict(audit))["intact"]


async def test_postgresql_appends_a_request_s_reads_in_one_statement(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When this process saw the head last, the reads go in one statement outside a
    transaction (no `append`); when another process appended since, the guess misses, the
    statement writes nothing, and `append` links to the head it finds."""
    if audit.db.backend != "postgresql":
        pytest.skip("PostgreSQL's one-statement append")
    support = audit.staff(Role.SUPPORT, Purpose.SUPPORT)
    await audit.gql(USERS, {"first": 3}, support)  # this process now knows the head
    calls: list[int] = []
    original = resolvers.audit.append

    def counted(*args: Any) -> int:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(resolvers.audit, "append", counted)
    before = await last_id(audit.db)
    await audit.gql(USERS, {"first": 3}, support)
    assert calls == [] and await last_id(audit.db) > before
    await audit.gql(USERS, {"first": 3}, support, client=audit.other)  # the other process
    assert len(calls) == 1  # it did not see our last append: its guess missed
    await audit.gql(USERS, {"first": 3}, support)
    assert len(calls) == 2  # nor did we see its
    assert (await verdict(audit))["intact"]


async def test_a_failed_audit_write_changes_nothing_in_the_response(
    audit: Audit, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    headers = audit.staff(Role.SUPPORT, Purpose.SUPPORT)
    normal = await audit.gql(USERS, {"first": 10}, headers)
    gateway = audit.apps[0].state.gateway

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(gateway.read_writer, "write", broken)
    failures, before = gateway.audit_failures, await last_id(audit.db)
    with caplog.at_level(logging.ERROR, logger="gateway.http"):
        unaudited = await audit.gql(USERS, {"first": 10}, headers)
    assert unaudited == normal
    assert gateway.audit_failures == failures + 1
    assert await events_after(audit.db, before) == []
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "audit" in logged and "RuntimeError" in logged
    for node in normal["data"]["users"]["nodes"]:
        assert not node["email"] or node["email"] not in logged


# -- rights actions ----------------------------------------------------------------------

INQUIRY = """mutation($message: String!) { submitPrivacyInquiry(kind: QUESTION, message: $message) {
    request { id } errors { code } } }"""
START_REQUEST = """mutation($id: ID!) { startPrivacyRequest(id: $id) { errors { code } } }"""
RESOLVE = """mutation($id: ID!, $answer: String!) {
    resolvePrivacyRequest(id: $id, status: COMPLETED, answer: $answer) { errors { code } } }"""
CONSENT = """mutation($granted: Boolean!) {
    setConsent(purpose: ANALYTICS, granted: $granted, noticeVersion: "2026-12") {
        errors { code } } }"""


async def test_rights_actions_and_dpo_decisions_are_events(audit: Audit) -> None:
    before = await last_id(audit.db)
    buyer = DEMO_USERS["buyer"]
    filed = await audit.gql(INQUIRY, {"message": "What do you keep?"}, audit.user("buyer"))
    request_id = filed["data"]["submitPrivacyInquiry"]["request"]["id"]
    dpo = audit.staff(Role.DPO, Purpose.LEGAL)
    assert (await audit.gql(START_REQUEST, {"id": request_id}, dpo))["data"]["startPrivacyRequest"][
        "errors"
    ] == []
    answered = await audit.gql(RESOLVE, {"id": request_id, "answer": "Your orders."}, dpo)
    assert answered["data"]["resolvePrivacyRequest"]["errors"] == []
    withdrawn = await audit.gql(CONSENT, {"granted": False}, audit.user("buyer"))
    assert withdrawn["data"]["setConsent"]["errors"] == []
    await audit.gql(CONSENT, {"granted": True}, audit.user("buyer"))
    # Refused: changes nothing, so no event.
    await audit.gql(RESOLVE, {"id": request_id, "answer": "again"}, dpo)
    await audit.gql(START_REQUEST, {"id": request_id}, audit.staff(Role.ANALYST, Purpose.ANALYTICS))

    events = [e for e in await events_after(audit.db, before) if e.action != "READ"]
    seen = [(e.action, e.actor, e.actor_role, e.purpose, e.subject_id) for e in events]
    dpo_actor = f"employee:{STAFF_IDS[Role.DPO]}"
    assert seen[:3] == [
        ("REQUEST_FILED", f"user:{buyer}", None, None, buyer),
        ("REQUEST_STATUS", dpo_actor, "DPO", "LEGAL", buyer),
        ("REQUEST_ANSWERED", dpo_actor, "DPO", "LEGAL", buyer),
    ]
    actions = [action for action, *_ in seen[3:]]
    assert actions == [
        "CONSENT_WITHDRAWN",
        "REQUEST_FILED",  # the withdrawal's CONSENT_WITHDRAWAL request, done at once
        "REQUEST_STATUS",
        "CONSENT_GRANTED",
    ]
    details = [json.loads(e.detail) for e in events[:3]]
    assert [d["request"] for d in details] == [int(request_id)] * 3
    assert [(d["from"], d["to"]) for d in details] == [
        (None, "RECEIVED"),
        ("RECEIVED", "IN_PROGRESS"),
        ("IN_PROGRESS", "COMPLETED"),
    ]
    assert len({e.request_id for e in events[:3]}) == 3  # one per HTTP request


async def test_no_audit_row_holds_a_value(audit: Audit) -> None:
    """Canaries in every personal column employees read and in the subject's own words:
    none of them reaches the audit table, whoever reads or acts."""
    subject = DEMO_USERS["other_buyer"]
    canary = "CANARY7f3a"
    await execute(
        audit.db,
        "UPDATE users SET full_name = :n, phone = :p WHERE id = :s",
        n=f"{canary} Name",
        p="+77010000077",
        s=subject,
    )
    await execute(
        audit.db,
        "UPDATE orders SET shipping_address = :a WHERE buyer_id = :s",
        a=f"{canary} street 1",
        s=subject,
    )
    for role, purpose in [
        (Role.SUPPORT, Purpose.SUPPORT),
        (Role.DPO, Purpose.LEGAL),
        (Role.FINANCE, Purpose.BILLING),
        (Role.ANALYST, Purpose.ANALYTICS),
    ]:
        headers = audit.staff(role, purpose)
        body = await audit.gql(
            """query($id: ID!) { user(id: $id) { fullName email phone
                orders { shippingAddress buyer { fullName } } addresses { line1 city } } }""",
            {"id": str(subject)},
            headers,
        )
        assert "errors" not in body, body
        await audit.gql(USERS, {"first": 50}, headers)
    filed = await audit.gql(INQUIRY, {"message": f"{canary} my words"}, audit.user(subject))
    request_id = filed["data"]["submitPrivacyInquiry"]["request"]["id"]
    dpo = audit.staff(Role.DPO, Purpose.LEGAL)
    await audit.gql(RESOLVE, {"id": request_id, "answer": f"{canary} the answer"}, dpo)
    rows = await fetch(audit.db, "SELECT * FROM audit_events")
    assert rows
    dumped = repr([tuple(row) for row in rows])
    assert canary not in dumped
    assert "77010000077" not in dumped
    for value in await fetch(audit.db, "SELECT email FROM users WHERE id = :s", s=subject):
        assert value[0] not in dumped


SUBJECT_EVENTS = (
    "SELECT e.* FROM audit_events e JOIN audit_event_subjects s ON s.event_id = e.id "
    "WHERE s.subject_id = :s ORDER BY e.id"
)


async def test_erasure_keeps_the_audit_rows_as_they_were(audit: Audit) -> None:
    """The erasure plan keeps audit_events (subject_id as evidence); they hold no values,
    so nothing in them changes, and the chain still holds."""
    subject = DEMO_USERS["buyer_withdrawn"]
    await audit.gql(
        "query($id: ID!) { user(id: $id) { fullName email } }",
        {"id": str(subject)},
        audit.staff(Role.SUPPORT, Purpose.SUPPORT),
    )
    await audit.gql(USERS, {"first": 50}, audit.staff(Role.ANALYST, Purpose.ANALYTICS))
    await indexed(audit.db)
    kept = await fetch(audit.db, SUBJECT_EVENTS, s=subject)
    assert any(row.subjects for row in kept)  # a list read naming them among others
    assert kept
    deletion = """mutation { requestAccountDeletion { errors { code } } }"""
    body = await audit.gql(deletion, headers=audit.user(subject))
    assert body["data"]["requestAccountDeletion"]["errors"] == []
    gateway = audit.apps[0].state.gateway
    later = START + timedelta(days=gateway.settings.deletion_grace_days + 1)
    while (outcome := await erase_next(gateway.sessions, gateway.settings, later)) is not None:
        assert outcome.done  # the seeded pending erasures too
    (state,) = await fetch(audit.db, "SELECT deletion_state FROM users WHERE id = :s", s=subject)
    assert state[0] == "ERASED"
    await indexed(audit.db)
    after = await fetch(audit.db, SUBJECT_EVENTS, s=subject)
    assert [tuple(r) for r in after[: len(kept)]] == [tuple(r) for r in kept]
    completed = [r for r in after[len(kept) :] if r.action == "REQUEST_STATUS"]
    assert completed and json.loads(completed[-1].detail)["to"] == "COMPLETED"
    assert (await verdict(audit))["intact"]


# -- the chain ---------------------------------------------------------------------------


async def test_the_chain_verifies(audit: Audit) -> None:
    await audit.gql(USERS, {"first": 20}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    found = await verdict(audit)
    count = await last_id(audit.db)
    assert found["intact"] and found["brokenAt"] is None and found["reason"] is None
    assert found["events"] == count and found["headId"] == str(count)
    (head,) = await fetch(audit.db, "SELECT hash FROM audit_events WHERE id = :i", i=count)
    assert found["headHash"] == head[0]
    code, said = await cli_verify(audit.db)
    assert code == 0 and said == f"audit chain intact: {count} events, head {head[0]}"


async def test_the_database_refuses_to_change_audit_events(audit: Audit) -> None:
    with pytest.raises(Exception, match="append-only"):
        await execute(audit.db, "UPDATE audit_events SET actor = 'x' WHERE id = 1")
    with pytest.raises(Exception, match="append-only"):
        await execute(audit.db, "DELETE FROM audit_events WHERE id = 1")


async def _caught(audit: Audit, event_id: int, reason: str) -> None:
    found = await verdict(audit)
    assert not found["intact"]
    assert (found["brokenAt"], found["reason"]) == (str(event_id), reason), found
    code, said = await cli_verify(audit.db)
    assert code == 1
    assert said.startswith(f"privacy-gateway: error: audit chain broken at event {event_id}:")
    assert "\n" not in said


async def test_an_altered_event_is_caught_at_its_id(audit: Audit) -> None:
    await audit.gql(USERS, {"first": 20}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    target = await last_id(audit.db) - 5
    (original,) = await fetch(audit.db, "SELECT fields FROM audit_events WHERE id = :i", i=target)
    async with unguarded(audit.db):
        await execute(audit.db, "UPDATE audit_events SET fields = '{}' WHERE id = :i", i=target)
        await _caught(audit, target, "ALTERED")
        await execute(
            audit.db, "UPDATE audit_events SET fields = :f WHERE id = :i", f=original[0], i=target
        )
        # Rewriting the event's hash too: the next one no longer links to it.
        await execute(
            audit.db, "UPDATE audit_events SET hash = :h WHERE id = :i", h="f" * 64, i=target
        )
        await _caught(audit, target, "ALTERED")
        fixed = chained(*await _prev_and_canonical(audit.db, target))
        await execute(
            audit.db, "UPDATE audit_events SET hash = :h WHERE id = :i", h=fixed, i=target
        )
    assert (await verdict(audit))["intact"]


async def _prev_and_canonical(db: Database, event_id: int) -> tuple[str, str]:
    (row,) = await fetch(db, "SELECT * FROM audit_events WHERE id = :i", i=event_id)
    mapping = dict(row._mapping)
    if isinstance(mapping["occurred_at"], str):
        mapping["occurred_at"] = datetime.fromisoformat(mapping["occurred_at"])
    moment = mapping["occurred_at"]
    mapping["occurred_at"] = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return mapping["prev_hash"], canonical(mapping)


async def test_a_recomputed_forgery_breaks_the_next_link(audit: Audit) -> None:
    """Who alters an event and recomputes its hash still breaks the link after it."""
    await audit.gql(USERS, {"first": 20}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    target = await last_id(audit.db) - 3
    (row,) = await fetch(audit.db, "SELECT actor, hash FROM audit_events WHERE id = :i", i=target)
    async with unguarded(audit.db):
        await execute(
            audit.db, "UPDATE audit_events SET actor = 'employee:999' WHERE id = :i", i=target
        )
        forged = chained(*await _prev_and_canonical(audit.db, target))
        await execute(
            audit.db, "UPDATE audit_events SET hash = :h WHERE id = :i", h=forged, i=target
        )
        await _caught(audit, target + 1, "UNLINKED")
        await execute(
            audit.db,
            "UPDATE audit_events SET actor = :a, hash = :h WHERE id = :i",
            a=row.actor,
            h=row.hash,
            i=target,
        )
    assert (await verdict(audit))["intact"]


async def test_a_list_read_is_one_event_naming_each_subject(audit: Audit) -> None:
    """Thirty users read alike make one chained event, its subjects in the row (what the
    hash covers) and in the subject index, and each subject in no other event."""
    before = await last_id(audit.db)
    body = await audit.gql(USERS, {"first": 30}, audit.staff(Role.DPO, Purpose.LEGAL))
    listed = sorted(int(node["id"]) for node in body["data"]["users"]["nodes"])
    rows = await fetch(audit.db, "SELECT * FROM audit_events WHERE id > :a", a=before)
    assert len(listed) == 30 and len(rows) < 30
    per_row = [named(row._mapping) for row in rows]
    assert sorted(sid for subjects in per_row for sid in subjects) == listed
    for row in rows:
        if row.subjects is not None:
            assert row.subject_id is None
            assert row.subjects == ",".join(map(str, named(row._mapping)))
    assert await indexed(audit.db) >= len(rows)
    index = await fetch(
        audit.db,
        "SELECT event_id, subject_id FROM audit_event_subjects WHERE event_id > :a "
        "ORDER BY event_id, subject_id",
        a=before,
    )
    assert [(r.event_id, r.subject_id) for r in index] == [
        (row.id, sid) for row in sorted(rows, key=lambda r: r.id) for sid in named(row._mapping)
    ]


async def _batch_event(audit: Audit) -> tuple[int, list[int]]:
    """A READ event naming several subjects, and whom."""
    before = await last_id(audit.db)
    await audit.gql(USERS, {"first": 12}, audit.staff(Role.DPO, Purpose.LEGAL))
    rows = await fetch(
        audit.db,
        "SELECT * FROM audit_events WHERE id > :a AND subjects IS NOT NULL ORDER BY id",
        a=before,
    )
    assert rows
    await indexed(audit.db)
    return rows[0].id, named(rows[0]._mapping)


async def test_an_event_whose_subjects_are_altered_is_caught(audit: Audit) -> None:
    target, subjects = await _batch_event(audit)
    hidden = ",".join(map(str, subjects[1:]))  # one subject's read taken out of the event
    original = ",".join(map(str, subjects))
    async with unguarded(audit.db):
        await execute(
            audit.db, "UPDATE audit_events SET subjects = :t WHERE id = :i", t=hidden, i=target
        )
        await _caught(audit, target, "ALTERED")
        await execute(
            audit.db, "UPDATE audit_events SET subjects = :t WHERE id = :i", t=original, i=target
        )
    assert (await verdict(audit))["intact"]


async def test_the_subject_index_is_checked_against_the_chain(audit: Audit) -> None:
    """Deleting a subject's index row would hide a read from `myDisclosures`; adding one
    would invent a read; moving one would blame another subject: each is caught at the
    event, and past the head too."""
    target, subjects = await _batch_event(audit)
    stranger = max(subjects) + 1000
    with pytest.raises(Exception, match="append-only"):
        await execute(audit.db, "DELETE FROM audit_event_subjects WHERE event_id = :i", i=target)
    async with unguarded(audit.db, "audit_event_subjects"):
        await execute(
            audit.db,
            "DELETE FROM audit_event_subjects WHERE event_id = :i AND subject_id = :s",
            i=target,
            s=subjects[0],
        )
        await _caught(audit, target, "MISINDEXED")
        await execute(
            audit.db,
            "INSERT INTO audit_event_subjects (event_id, subject_id) VALUES (:i, :s)",
            i=target,
            s=subjects[0],
        )
        assert (await verdict(audit))["intact"]
        move = (
            "UPDATE audit_event_subjects SET subject_id = :to WHERE event_id = :i AND "
            "subject_id = :s"
        )
        await execute(audit.db, move, to=stranger, i=target, s=subjects[1])
        await _caught(audit, target, "MISINDEXED")
        await execute(audit.db, move, to=subjects[1], i=target, s=stranger)
        assert (await verdict(audit))["intact"]
        await execute(
            audit.db,
            "INSERT INTO audit_event_subjects (event_id, subject_id) VALUES (:i, :s)",
            i=target,
            s=stranger,
        )
        await _caught(audit, target, "MISINDEXED")
        await execute(
            audit.db,
            "DELETE FROM audit_event_subjects WHERE event_id = :i AND subject_id = :s",
            i=target,
            s=stranger,
        )
        beyond = await last_id(audit.db) + 5
        await execute(
            audit.db,
            "INSERT INTO audit_event_subjects (event_id, subject_id) VALUES (:i, :s)",
            i=beyond,
            s=stranger,
        )
        await _caught(audit, beyond, "MISINDEXED")
        await execute(audit.db, "DELETE FROM audit_event_subjects WHERE event_id = :i", i=beyond)
    assert (await verdict(audit))["intact"]


async def test_an_index_row_ahead_of_the_index_head_is_caught(audit: Audit) -> None:
    """The index is built behind the chain: a row for an event it has not reached yet was
    not written by the gateway."""
    await indexed(audit.db)
    await audit.gql(USERS, {"first": 3}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    target = await last_id(audit.db)
    await execute(
        audit.db,
        "INSERT INTO audit_event_subjects (event_id, subject_id) VALUES (:i, 1)",
        i=target,
    )
    await _caught(audit, target, "MISINDEXED")
    async with unguarded(audit.db, "audit_event_subjects"):
        await execute(audit.db, "DELETE FROM audit_event_subjects WHERE event_id = :i", i=target)
    assert (await verdict(audit))["intact"]


async def test_the_index_is_built_behind_the_chain_by_each_of_its_builders(
    audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read is in the chain at once and in the index only once a builder ran: the
    gateway after enough reads (in a task no response waits for), the worker's pass, or
    the reader of the index itself (`myDisclosures`)."""
    subject = DEMO_USERS["logistics"]
    one_user = "query($id: ID!) { user(id: $id) { fullName } }"
    support = audit.staff(Role.SUPPORT, Purpose.SUPPORT)

    async def heads() -> tuple[int, int]:
        (row,) = await fetch(
            audit.db,
            "SELECT (SELECT last_id FROM audit_chain_head), (SELECT last_id FROM audit_index_head)",
        )
        return int(row[0]), int(row[1])

    await indexed(audit.db)
    await audit.gql(one_user, {"id": str(subject)}, support)
    chain, index = await heads()
    assert index < chain
    # The reader: myDisclosures first brings the index up to date.
    seen = await audit.gql(DISCLOSURES, {"first": 50}, audit.user(subject))
    assert seen["data"]["myDisclosures"]["nodes"][0]["role"] in {"SUPPORT", "ANALYST", "DPO"}
    assert await heads() == (chain, chain)
    # The worker's pass.
    await audit.gql(one_user, {"id": str(subject)}, support)
    gateway = audit.apps[0].state.gateway
    report = await run_pass(gateway.sessions, gateway.settings, clock=audit.clock)
    assert report.indexed >= 1 and "audit events indexed" in report.line()
    chain, index = await heads()
    assert index == chain
    # The gateway itself, once INDEX_EVERY subjects were read since it last built it.
    writer = gateway.read_writer
    monkeypatch.setattr(writer, "INDEX_EVERY", 25)
    monkeypatch.setattr(writer, "_unindexed", 0)
    await audit.gql(USERS, {"first": 10}, support)
    assert writer._indexing is None
    await audit.gql(USERS, {"first": 20}, support)
    await writer.settle()
    chain, index = await heads()
    assert index == chain


async def test_a_deleted_event_is_caught_at_its_id(audit: Audit) -> None:
    await audit.gql(USERS, {"first": 20}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    last = await last_id(audit.db)
    for target in (last - 7, last):  # in the middle, and the last one
        (row,) = await fetch(audit.db, "SELECT * FROM audit_events WHERE id = :i", i=target)
        saved = dict(row._mapping)
        async with unguarded(audit.db):
            await execute(audit.db, "DELETE FROM audit_events WHERE id = :i", i=target)
            await _caught(audit, target, "MISSING")
            columns, values = ", ".join(saved), ", ".join(f":{c}" for c in saved)
            await execute(
                audit.db, f"INSERT INTO audit_events ({columns}) VALUES ({values})", **saved
            )
        assert (await verdict(audit))["intact"]


async def test_an_inserted_event_is_caught_at_its_id(audit: Audit) -> None:
    await audit.gql(USERS, {"first": 5}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    last = await last_id(audit.db)
    (head,) = await fetch(audit.db, "SELECT hash FROM audit_events WHERE id = :i", i=last)
    forged = {
        "id": last + 1,
        "occurred_at": START.replace(tzinfo=None),  # stored as naive UTC
        "actor": "employee:1",
        "actor_role": "SUPPORT",
        "purpose": "SUPPORT",
        "action": "READ",
        "subject_id": 3,
        "entity": "User",
        "fields": '{"email":"SHOW"}',
        "categories": "user.contact.email",
        "request_id": "0" * 32,
        "detail": None,
        "prev_hash": head[0],
    }
    # A forger who knows the scheme links it properly: still not in the chain its head names.
    event = Event(**{k: forged[k] for k in _EVENT_FIELDS})
    (row,) = rows_of([event], START, last, head[0])
    forged["hash"] = row["hash"]
    columns = ", ".join(forged)
    await execute(
        audit.db,
        f"INSERT INTO audit_events ({columns}) VALUES ({', '.join(':' + c for c in forged)})",
        **forged,
    )
    await _caught(audit, last + 1, "INSERTED")
    async with unguarded(audit.db):
        await execute(audit.db, "DELETE FROM audit_events WHERE id = :i", i=last + 1)
    assert (await verdict(audit))["intact"]


_EVENT_FIELDS = (
    "action",
    "actor",
    "actor_role",
    "purpose",
    "subject_id",
    "entity",
    "fields",
    "categories",
    "request_id",
    "detail",
)


async def test_two_gateways_appending_at_once_make_one_chain(audit: Audit) -> None:
    """Two processes (two apps, two engines and pools) append concurrently: the head row's
    lock orders them, so every event links to the one before and none is lost."""
    before = await last_id(audit.db)
    failures = [app.state.gateway.audit_failures for app in audit.apps]
    headers = audit.staff(Role.SUPPORT, Purpose.SUPPORT)
    rounds = 12

    async def one(client: httpx.AsyncClient, index: int) -> None:
        body = await audit.gql(USERS, {"first": 5}, headers, client=client)
        assert len(body["data"]["users"]["nodes"]) == 5
        if index % 3 == 0:  # rights actions too, appended inside their own transactions
            granted = index % 2 == 0
            await audit.gql(CONSENT, {"granted": granted}, audit.user("seller"), client=client)

    await asyncio.gather(
        *(one(client, index) for index in range(rounds) for client in (audit.http, audit.other))
    )
    events = await events_after(audit.db, before)
    reads = [e for e in events if e.action == "READ"]
    assert len(reads) == 2 * rounds * 5
    assert len({e.request_id for e in reads}) == 2 * rounds
    assert ids(events) == list(range(before + 1, before + 1 + len(ids(events))))
    assert [app.state.gateway.audit_failures for app in audit.apps] == failures
    found = await verdict(audit)
    assert found["intact"], found


_SUBJECT_IDS = st.integers(1, 2**31 - 1)


@given(
    st.lists(
        st.builds(
            Event,
            action=st.sampled_from(["READ", "REQUEST_FILED"]),
            actor=st.text(max_size=12),
            actor_role=st.none() | st.sampled_from([r.value for r in Role]),
            purpose=st.none() | st.text(max_size=8),
            subject_id=st.none() | _SUBJECT_IDS,
            entity=st.none() | st.text(max_size=10),
            fields=st.none() | st.text(max_size=30),
            categories=st.none() | st.text(max_size=30),
            request_id=st.none() | st.text(max_size=32),
            detail=st.none() | st.text(max_size=30),
            subjects=st.none()
            | st.lists(_SUBJECT_IDS, min_size=2, max_size=6, unique=True).map(
                lambda found: tuple(sorted(found))
            ),
        ).filter(lambda event: event.subject_id is None or event.subjects is None),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 10_000),
    st.datetimes(timezones=st.just(UTC)),
)
def test_the_fast_chaining_equals_the_reference(
    events: list[Event], start: int, at: datetime
) -> None:
    rows = rows_of(events, at, start, GENESIS)
    assert [named(row) for row in rows] == [list(event.named()) for event in events]
    prev = GENESIS
    for offset, row in enumerate(rows, start=1):
        assert row["id"] == start + offset and row["prev_hash"] == prev
        assert row["hash"] == chained(prev, canonical(row))
        prev = row["hash"]


# -- who saw my data ---------------------------------------------------------------------


async def test_my_disclosures_aggregates_per_day_role_and_purpose(audit: Audit) -> None:
    subject = DEMO_USERS["logistics"]
    one_user = "query($id: ID!) { user(id: $id) { fullName email phone } }"
    day1, day2 = START + timedelta(days=30), START + timedelta(days=31)
    audit.clock.now = day1
    for _ in range(2):
        await audit.gql(one_user, {"id": str(subject)}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    await audit.gql(one_user, {"id": str(subject)}, audit.staff(Role.ANALYST, Purpose.ANALYTICS))
    audit.clock.now = day2
    await audit.gql(one_user, {"id": str(subject)}, audit.staff(Role.DPO, Purpose.LEGAL))

    # The expectation, from the audit table itself.
    await indexed(audit.db)
    rows = await fetch(
        audit.db,
        "SELECT occurred_at, actor_role, purpose, categories, request_id FROM audit_events e "
        "JOIN audit_event_subjects s ON s.event_id = e.id "
        "WHERE s.subject_id = :s AND action = 'READ'",
        s=subject,
    )
    want: dict[tuple[str, str, str], tuple[set[str], dict[str, int]]] = {}
    for occurred, role, purpose, categories, request_id in rows:
        moment = datetime.fromisoformat(occurred) if isinstance(occurred, str) else occurred
        requests, counts = want.setdefault((moment.date().isoformat(), role, purpose), (set(), {}))
        requests.add(request_id)
        for category in categories.split(","):
            counts[category] = counts.get(category, 0) + 1
    expected_nodes = [
        {
            "day": day,
            "role": role,
            "purpose": purpose,
            "requests": len(requests),
            "categories": [{"category": c, "reads": n} for c, n in sorted(counts.items())],
        }
        for (day, role, purpose), (requests, counts) in sorted(
            want.items(), key=lambda item: (_neg_day(item[0][0]), item[0][1], item[0][2])
        )
    ]
    headers = audit.user(subject)
    body = await audit.gql(DISCLOSURES, {"first": 50}, headers)
    assert "errors" not in body, body
    assert body["data"]["myDisclosures"]["nodes"] == expected_nodes
    top = expected_nodes[:3]
    assert [(n["day"], n["role"]) for n in top] == [
        (day2.date().isoformat(), "DPO"),
        (day1.date().isoformat(), "ANALYST"),
        (day1.date().isoformat(), "SUPPORT"),
    ]
    assert top[2]["requests"] == 2
    assert {c["category"] for c in top[0]["categories"]} == {
        "user.identity.name",
        "user.contact.email",
        "user.contact.phone",
    }
    # Page by page, the same list.
    paged, after = [], None
    while True:
        body = await audit.gql(DISCLOSURES, {"first": 1, "after": after}, headers)
        page = body["data"]["myDisclosures"]
        paged += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == expected_nodes
    # Another subject sees only their own; never which employee.
    other = await audit.gql(DISCLOSURES, {"first": 50}, audit.user("other_buyer"))
    assert other["data"]["myDisclosures"]["nodes"] != expected_nodes
    assert "employee" not in json.dumps(body)


def _neg_day(day: str) -> int:
    return -datetime.fromisoformat(day).toordinal()


async def test_my_disclosures_is_for_the_signed_in_user_only(audit: Audit) -> None:
    body = await audit.gql(DISCLOSURES, {"first": 5})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for role in Role:
        staff = audit.staff(role, next(iter(sorted(Purpose))))
        body = await audit.gql(DISCLOSURES, {"first": 5}, staff)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert body["data"]["myDisclosures"] is None
    bad = await audit.gql(DISCLOSURES, {"first": 5, "after": "bm9wZQ=="}, audit.user("buyer"))
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_verify_audit_chain_is_for_the_dpo_and_security(audit: Audit) -> None:
    body = await audit.gql(VERIFY)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await audit.gql(VERIFY, headers=audit.user("buyer"))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for role in Role:
        for purpose in Purpose:
            body = await audit.gql(VERIFY, headers=audit.staff(role, purpose))
            if (role, purpose) in AUDITORS:
                assert "errors" not in body, (role, purpose, body)
                assert body["data"]["verifyAuditChain"]["intact"]
            else:
                assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (role, purpose)


async def test_a_subject_s_redaction_status_read_by_staff_is_an_event(audit: Audit) -> None:
    """`redactionStatus` tells staff a subject's deletion and consent state: a read."""
    subject = DEMO_USERS["buyer_withdrawn"]
    before = await last_id(audit.db)
    query = "query($id: ID!) { redactionStatus(subjectId: $id) { deletionState } }"
    body = await audit.gql(query, {"id": str(subject)}, audit.staff(Role.SUPPORT, Purpose.SUPPORT))
    assert "errors" not in body, body
    reads = reads_of(await events_after(audit.db, before))
    assert reads == {
        ("RedactionStatus", subject): {"analyticsConsent": "SHOW", "deletionState": "SHOW"}
    }


async def test_reading_the_dpo_queue_is_an_event_per_subject(audit: Audit) -> None:
    """Requests are not built by projection: the queue records what it hands to staff
    (who filed each request, and their own words)."""
    before = await last_id(audit.db)
    queue = """{ privacyRequests(first: 20) { nodes { id subjectId details } } }"""
    body = await audit.gql(queue, headers=audit.staff(Role.DPO, Purpose.LEGAL))
    assert "errors" not in body, body
    subjects = {int(node["subjectId"]) for node in body["data"]["privacyRequests"]["nodes"]}
    assert subjects
    reads = reads_of(await events_after(audit.db, before))
    assert {subject for entity, subject in reads if entity == "PrivacyRequest"} == subjects
    assert all(fields == {"details": "SHOW", "subjectId": "SHOW"} for fields in reads.values())
    before = await last_id(audit.db)
    own = await audit.gql("{ myPrivacyRequests { id details } }", headers=audit.user("buyer"))
    assert "errors" not in own
    assert await events_after(audit.db, before) == []  # a subject's own: not audited
