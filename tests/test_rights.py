"""The rights of Art. 4 end to end over HTTP: requests with legal due dates and a history,
one open request per kind (a constraint, tested with concurrent requests), the DPO queue,
extensions the law allows, inquiries answered, consent withdrawn and its ledger, deletion
filed with restriction at once. Each module works on a private database with a known clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from directives.deadlines import RequestKind, due, extend, load_rules
from directives.taxonomy import Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from tests.conftest import BACKENDS, Database, fetch, make_database, post_graphql

RECEIVED = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)  # a Friday evening in Europe
RULES = load_rules()


@dataclass
class Clock:
    now: datetime = RECEIVED

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rights:
    db: Database
    http: httpx.AsyncClient
    other: httpx.AsyncClient  # a second gateway process on the same database
    clock: Clock

    def user(self, who: str | int, *, signed_in_ago: float = 0) -> dict[str, str]:
        user_id = DEMO_USERS[who] if isinstance(who, str) else who
        signed_in = self.clock.now.timestamp() - signed_in_ago
        token = issue_token(self.db.settings, user_id=user_id, auth_time=signed_in)
        return {"Authorization": f"Bearer {token}"}

    def staff(self, role: str, purpose: str) -> dict[str, str]:
        employee_id, role_name = DEMO_EMPLOYEES[role]
        token = issue_token(self.db.settings, employee_id=employee_id, role=Role(role_name))
        return {"Authorization": f"Bearer {token}", "X-Processing-Purpose": purpose}

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
def rights_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("rights")))
    yield database
    drop()


@pytest.fixture(scope="module")
async def rights(rights_db: Database) -> AsyncIterator[Rights]:
    clock = Clock()
    apps = [create_app(rights_db.settings, clock=clock) for _ in range(2)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        for app in apps
    ]
    try:
        yield Rights(rights_db, clients[0], clients[1], clock)
    finally:
        for client in clients:
            await client.aclose()
        for app in apps:
            await app.state.gateway.aclose()


@pytest.fixture(autouse=True)
def _known_time(rights: Rights) -> None:
    rights.clock.now = RECEIVED


REQUEST = """id kind status target details receivedAt dueAt dueRule jurisdiction extended
    completedAt outcome overdue history { event actor fromStatus toStatus note }"""
INQUIRY = f"""mutation($kind: InquiryKind!, $message: String!) {{
    submitPrivacyInquiry(kind: $kind, message: $message) {{
        created request {{ {REQUEST} }} errors {{ code field message }} }} }}"""
DELETE = f"""mutation {{ requestAccountDeletion(reason: "moving away") {{
    created request {{ {REQUEST} }} errors {{ code field message }} }} }}"""
MINE = f"{{ myPrivacyRequests {{ {REQUEST} }} }}"
RESOLVE = f"""mutation($id: ID!, $status: PrivacyRequestStatus!, $answer: String!) {{
    resolvePrivacyRequest(id: $id, status: $status, answer: $answer) {{
        request {{ {REQUEST} }} errors {{ code field message }} }} }}"""
EXTEND = f"""mutation($id: ID!, $reason: String!) {{
    extendPrivacyRequest(id: $id, reason: $reason) {{
        request {{ {REQUEST} }} errors {{ code field message }} }} }}"""
QUEUE = """query($first: Int!, $after: String, $kind: PrivacyRequestKind, $overdue: Boolean) {
    privacyRequests(first: $first, after: $after, kind: $kind, overdue: $overdue) {
        nodes { id kind status dueAt overdue subjectId } pageInfo { hasNextPage endCursor } } }"""
CONSENT = """mutation($purpose: Purpose!, $granted: Boolean!) {
    setConsent(purpose: $purpose, granted: $granted, noticeVersion: "2026-12") {
        consent { purpose granted withdrawable basis since }
        notWithdrawable { purpose basis why wayOut } errors { code field message } } }"""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def _user_row(db: Database, user_id: int) -> tuple[Any, ...]:
    (row,) = await fetch(
        db,
        "SELECT jurisdiction, deletion_state, analytics_consent FROM users WHERE id = :u",
        u=user_id,
    )
    return tuple(row)


async def _snapshot(db: Database) -> dict[str, list[Any]]:
    return {
        table: await fetch(db, f"SELECT * FROM {table} ORDER BY 1")
        for table in ("privacy_requests", "privacy_request_events", "consents", "users")
    }


# -- inquiries -----------------------------------------------------------------------------


async def test_an_inquiry_enters_the_queue_with_its_deadline_and_gets_an_answer(
    rights: Rights,
) -> None:
    buyer = DEMO_USERS["buyer"]
    jurisdiction, _, _ = await _user_row(rights.db, buyer)
    body = await rights.gql(
        INQUIRY,
        {"kind": "QUESTION", "message": "  Which companies receive my address?  "},
        rights.user("buyer"),
    )
    payload = body["data"]["submitPrivacyInquiry"]
    assert payload["errors"] == [] and payload["created"] is True
    request = payload["request"]
    expected = due(RULES, RequestKind.INQUIRY, jurisdiction, RECEIVED)
    assert (request["status"], request["target"]) == ("RECEIVED", "QUESTION")
    assert request["details"] == "Which companies receive my address?"
    assert _at(request["dueAt"]) == expected.due_at and request["dueRule"] == expected.reference
    assert [e["event"] for e in request["history"]] == ["FILED"]

    queue = await rights.gql(
        QUEUE, {"first": 100, "kind": "INQUIRY"}, rights.staff("support", "SUPPORT")
    )
    assert request["id"] in {n["id"] for n in queue["data"]["privacyRequests"]["nodes"]}

    rights.clock.now = RECEIVED + timedelta(days=2)
    answer = "Only the seller and the logistics operator of each order."
    resolved = await rights.gql(
        RESOLVE,
        {"id": request["id"], "status": "COMPLETED", "answer": answer},
        rights.staff("support", "SUPPORT"),
    )
    assert resolved["data"]["resolvePrivacyRequest"]["errors"] == []
    mine = await rights.gql(MINE, headers=rights.user("buyer"))
    (read,) = [r for r in mine["data"]["myPrivacyRequests"] if r["id"] == request["id"]]
    assert (read["status"], read["outcome"]) == ("COMPLETED", answer)
    assert _at(read["completedAt"]) == rights.clock.now
    assert [(e["event"], e["fromStatus"], e["toStatus"]) for e in read["history"]] == [
        ("FILED", None, "RECEIVED"),
        ("ANSWERED", "RECEIVED", "COMPLETED"),
    ]
    assert read["history"][1]["actor"] == f"employee:{DEMO_EMPLOYEES['support'][0]}"
    again = await rights.gql(
        RESOLVE,
        {"id": request["id"], "status": "REJECTED", "answer": "no"},
        rights.staff("dpo", "LEGAL"),
    )
    assert [e["code"] for e in again["data"]["resolvePrivacyRequest"]["errors"]] == ["CLOSED"]


@pytest.mark.parametrize(
    ("message", "code"),
    [("", "INVALID"), ("   ", "INVALID"), ("x" * 4001, "TOO_LONG")],
    ids=["empty", "blank", "too-long"],
)
async def test_a_bad_inquiry_is_refused_and_changes_nothing(
    rights: Rights, message: str, code: str
) -> None:
    before = await _snapshot(rights.db)
    body = await rights.gql(INQUIRY, {"kind": "COMPLAINT", "message": message}, rights.user(1))
    payload = body["data"]["submitPrivacyInquiry"]
    assert payload["request"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, "message")]
    assert "x" * 50 not in payload["errors"][0]["message"], "the refusal never echoes input"
    assert await _snapshot(rights.db) == before


# -- one open request per kind, by a constraint ---------------------------------------------


async def test_concurrent_identical_requests_make_one(rights: Rights) -> None:
    subject = DEMO_USERS["other_buyer"]
    bodies = await asyncio.gather(
        *(
            rights.gql(DELETE, headers=rights.user(subject), client=client)
            for client in (rights.http, rights.other, rights.http, rights.other)
        )
    )
    payloads = [b["data"]["requestAccountDeletion"] for b in bodies]
    assert all(p["errors"] == [] for p in payloads), payloads
    assert len({p["request"]["id"] for p in payloads}) == 1
    assert sum(p["created"] for p in payloads) == 1
    rows = await fetch(
        rights.db,
        "SELECT count(*) FROM privacy_requests WHERE subject_id = :s AND kind = 'DELETION'",
        s=subject,
    )
    assert rows[0][0] == 1
    # Restriction of processing at once, in the same transaction as the request.
    assert (await _user_row(rights.db, subject))[1] == "ERASURE_PENDING"
    public = await rights.gql(f'{{ user(id: "{subject}") {{ fullName }} }}')
    assert public["data"]["user"]["fullName"] == "Deleted user"


async def test_deletion_needs_a_recent_sign_in(rights: Rights) -> None:
    before = await _snapshot(rights.db)
    stale = rights.db.settings.reauth_seconds + 1
    body = await rights.gql(DELETE, headers=rights.user("logistics", signed_in_ago=stale))
    errors = body["data"]["requestAccountDeletion"]["errors"]
    assert [e["code"] for e in errors] == ["REAUTHENTICATION_REQUIRED"]
    assert await _snapshot(rights.db) == before


# -- deadlines and extensions ---------------------------------------------------------------


async def test_the_dpo_extends_as_the_law_allows_and_the_subject_sees_why(rights: Rights) -> None:
    # A generated EU user files an inquiry; GDPR allows two more months, once.
    (eu_user,) = await fetch(
        rights.db,
        "SELECT min(id) FROM users WHERE jurisdiction = 'EU' AND deletion_state = 'ACTIVE' "
        "AND id > 10",
    )
    subject = eu_user[0]
    filed = await rights.gql(
        INQUIRY, {"kind": "OBJECTION", "message": "Stop profiling me"}, rights.user(subject)
    )
    request = filed["data"]["submitPrivacyInquiry"]["request"]
    extended = await rights.gql(
        EXTEND,
        {"id": request["id"], "reason": "complex: several systems"},
        rights.staff("dpo", "LEGAL"),
    )
    payload = extended["data"]["extendPrivacyRequest"]
    assert payload["errors"] == []
    expected = extend(RULES, RequestKind.INQUIRY, "EU", RECEIVED, _at(request["dueAt"]))
    assert _at(payload["request"]["dueAt"]) == expected > _at(request["dueAt"])
    mine = await rights.gql(MINE, headers=rights.user(subject))
    (read,) = [r for r in mine["data"]["myPrivacyRequests"] if r["id"] == request["id"]]
    assert read["extended"] is True and _at(read["dueAt"]) == expected
    (event,) = [e for e in read["history"] if e["event"] == "EXTENDED"]
    assert "complex: several systems" in event["note"] and _iso(expected)[:10] in event["note"]
    twice = await rights.gql(
        EXTEND, {"id": request["id"], "reason": "again"}, rights.staff("dpo", "LEGAL")
    )
    assert [e["code"] for e in twice["data"]["extendPrivacyRequest"]["errors"]] == [
        "NO_EXTENSION_ALLOWED"
    ]


async def test_no_extension_where_the_law_allows_none(rights: Rights) -> None:
    subject = DEMO_USERS["other_buyer"]  # Kazakhstan: 3 business days, no extension
    assert (await _user_row(rights.db, subject))[0] == "KZ"
    filed = await rights.gql(
        INQUIRY, {"kind": "QUESTION", "message": "What do you keep?"}, rights.user(subject)
    )
    request = filed["data"]["submitPrivacyInquiry"]["request"]
    before = await _snapshot(rights.db)
    body = await rights.gql(
        EXTEND, {"id": request["id"], "reason": "busy"}, rights.staff("dpo", "LEGAL")
    )
    errors = body["data"]["extendPrivacyRequest"]["errors"]
    assert [e["code"] for e in errors] == ["NO_EXTENSION_ALLOWED"]
    assert await _snapshot(rights.db) == before
    support = await rights.gql(
        EXTEND, {"id": request["id"], "reason": "busy"}, rights.staff("support", "SUPPORT")
    )
    assert [e["code"] for e in support["data"]["extendPrivacyRequest"]["errors"]] == ["FORBIDDEN"]


async def test_the_same_request_at_the_same_moment_in_each_jurisdiction(rights: Rights) -> None:
    """The due date of an access-type request received at one instant, per jurisdiction:
    each subject's own rule, printed for the note."""
    seen = {}
    for jurisdiction in ("EU", "KZ", "RU", "CN"):
        (row,) = await fetch(
            rights.db,
            "SELECT min(id) FROM users WHERE jurisdiction = :j AND deletion_state = 'ACTIVE' "
            "AND id > 10",
            j=jurisdiction,
        )
        body = await rights.gql(
            INQUIRY, {"kind": "QUESTION", "message": "Send me a copy"}, rights.user(row[0])
        )
        request = body["data"]["submitPrivacyInquiry"]["request"]
        assert request["jurisdiction"] == jurisdiction
        expected = due(RULES, RequestKind.INQUIRY, jurisdiction, RECEIVED)
        assert _at(request["dueAt"]) == expected.due_at
        seen[jurisdiction] = (request["dueAt"], request["dueRule"])
    print("\ninquiry received", _iso(RECEIVED), {j: d for j, d in seen.items()})
    assert len({d for d, _ in seen.values()}) == 4, "four laws, four deadlines"


# -- the DPO queue ---------------------------------------------------------------------------


async def test_the_queue_is_sorted_by_due_date_and_pages_without_gaps(rights: Rights) -> None:
    dpo = rights.staff("dpo", "LEGAL")
    seen: list[dict[str, Any]] = []
    after = None
    while True:
        body = await rights.gql(QUEUE, {"first": 7, "after": after}, dpo)
        page = body["data"]["privacyRequests"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    (total,) = await fetch(rights.db, "SELECT count(*) FROM privacy_requests")
    assert len(seen) == total[0] == len({n["id"] for n in seen}) > 7
    keys = [(_at(n["dueAt"]), int(n["id"])) for n in seen]
    assert keys == sorted(keys)
    rights.clock.now = RECEIVED + timedelta(days=400)
    overdue = await rights.gql(QUEUE, {"first": 100, "overdue": True}, dpo)
    nodes = overdue["data"]["privacyRequests"]["nodes"]
    assert nodes and all(n["overdue"] and n["status"] in ("RECEIVED", "IN_PROGRESS") for n in nodes)


@pytest.mark.parametrize(
    ("role", "purpose", "code"),
    [
        ("finance", "BILLING", "FORBIDDEN"),
        ("dpo", "BILLING", "FORBIDDEN"),
        (None, None, "FORBIDDEN"),
    ],
    ids=["finance", "dpo-wrong-purpose", "buyer"],
)
async def test_the_queue_is_refused_without_nulling_the_rest(
    rights: Rights, role: str | None, purpose: str | None, code: str
) -> None:
    headers = rights.user("buyer") if role is None else rights.staff(role, purpose or "")
    body = await rights.gql(
        "{ privacyCatalog { fieldName } privacyRequests(first: 5) { nodes { id } } }",
        headers=headers,
    )
    assert body["data"]["privacyCatalog"] and body["data"]["privacyRequests"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


# -- consent ---------------------------------------------------------------------------------


async def test_withdrawing_analytics_consent_acts_on_the_next_request(rights: Rights) -> None:
    subject = DEMO_USERS["logistics"]
    analyst = rights.staff("analyst", "ANALYTICS")
    lookup = f'{{ user(id: "{subject}") {{ fullName }} }}'
    assert (await rights.gql(lookup, headers=analyst))["data"]["user"] is not None
    body = await rights.gql(
        CONSENT, {"purpose": "ANALYTICS", "granted": False}, rights.user(subject)
    )
    payload = body["data"]["setConsent"]
    assert payload["errors"] == [] and payload["consent"]["granted"] is False
    for client in (rights.http, rights.other):
        after = await rights.gql(lookup, headers=analyst, client=client)
        assert after["data"]["user"] is None
    overview = await rights.gql(
        "{ myConsents { purposes { purpose granted withdrawable basis } "
        "history { purpose granted channel noticeVersion } } }",
        headers=rights.user(subject),
    )
    consents = overview["data"]["myConsents"]
    states = {p["purpose"]: p for p in consents["purposes"]}
    assert states["ANALYTICS"]["granted"] is False and states["ANALYTICS"]["withdrawable"]
    assert states["FULFILLMENT"] == {
        "purpose": "FULFILLMENT",
        "granted": True,
        "withdrawable": False,
        "basis": "CONTRACT",
    }
    assert consents["history"][0] == {
        "purpose": "ANALYTICS",
        "granted": False,
        "channel": "API",
        "noticeVersion": "2026-12",
    }
    assert len(consents["history"]) > 1, "the sign-up grants stay in the ledger"
    mine = await rights.gql(MINE, headers=rights.user(subject))
    withdrawal = [r for r in mine["data"]["myPrivacyRequests"] if r["kind"] == "CONSENT_WITHDRAWAL"]
    assert withdrawal and withdrawal[0]["status"] == "COMPLETED"
    regrant = await rights.gql(
        CONSENT, {"purpose": "ANALYTICS", "granted": True}, rights.user(subject)
    )
    assert regrant["data"]["setConsent"]["consent"]["granted"] is True
    assert (await rights.gql(lookup, headers=analyst))["data"]["user"] is not None


async def test_a_contract_purpose_is_not_withdrawable_and_deletion_is_the_way_out(
    rights: Rights,
) -> None:
    before = await _snapshot(rights.db)
    body = await rights.gql(CONSENT, {"purpose": "FULFILLMENT", "granted": False}, rights.user(1))
    payload = body["data"]["setConsent"]
    assert payload["consent"] is None
    assert payload["notWithdrawable"]["purpose"] == "FULFILLMENT"
    assert payload["notWithdrawable"]["basis"] == "CONTRACT"
    assert payload["notWithdrawable"]["wayOut"] == "requestAccountDeletion"
    assert [e["code"] for e in payload["errors"]] == ["NOT_WITHDRAWABLE"]
    assert "requestAccountDeletion" in payload["errors"][0]["message"]
    assert await _snapshot(rights.db) == before


async def test_concurrent_toggles_end_with_the_state_of_the_last_ledger_row(rights: Rights) -> None:
    subject = DEMO_USERS["seller"]
    headers = rights.user(subject)
    flips = [i % 2 == 0 for i in range(12)]
    bodies = await asyncio.gather(
        *(
            rights.gql(
                CONSENT,
                {"purpose": "ANALYTICS", "granted": granted},
                headers,
                client=rights.http if i % 2 else rights.other,
            )
            for i, granted in enumerate(flips)
        )
    )
    assert all(b["data"]["setConsent"]["errors"] == [] for b in bodies), bodies
    (state,) = await fetch(
        rights.db, "SELECT analytics_consent FROM users WHERE id = :s", s=subject
    )
    (last,) = await fetch(
        rights.db,
        "SELECT granted FROM consents WHERE subject_id = :s AND purpose = 'ANALYTICS' "
        "ORDER BY id DESC LIMIT 1",
        s=subject,
    )
    assert bool(state[0]) == bool(last[0])
    (count,) = await fetch(
        rights.db,
        "SELECT count(*) FROM consents WHERE subject_id = :s AND method = 'API'",
        s=subject,
    )
    assert count[0] == len(flips)
