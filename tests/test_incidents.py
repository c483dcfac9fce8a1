"""Security incidents (Art. 3.4) over HTTP, on both backends: deadlines per affected
jurisdiction from the jurisdiction table (`incident_deadlines`), subjects told where the
rule says so and reading it in `myNotifications` (others do not), notices recorded, overdue
and late flags under an injected clock, the timeline, refusals, audit events, and who may
call what. Each module works on a private database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from directives.deadlines import IncidentNotice, incident_deadlines, load_rules
from directives.taxonomy import Purpose, Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from tests.conftest import BACKENDS, Database, fetch, make_database

RULES = load_rules()
DETECTED = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
AWARE = DETECTED + timedelta(hours=2)
REPORTED = DETECTED + timedelta(hours=3)
MESSAGE = "Parcel labels of some orders were visible to other couriers; rotate nothing."
STAFF_IDS = {Role(role): employee_id for employee_id, role in DEMO_EMPLOYEES.values()}
RESPONDERS = {
    (Role.SECURITY, Purpose.SECURITY),
    (Role.SECURITY, Purpose.LEGAL),
    (Role.DPO, Purpose.LEGAL),
}

INCIDENT = """id title severity status detectedAt awareAt reportedAt reportedBy affected
    affectedCounts { jurisdiction count } subjectMessage overdue
    authorityNotifications { id jurisdiction stage dueAt rule internalSla sentAt sentBy
        reference overdue late }
    subjectNotifications { jurisdiction count sent dueAt overdue lastSentAt }
    timeline { at kind jurisdiction stage count overdue }"""
REPORT = f"""mutation($input: SecurityIncidentInput!) {{ reportSecurityIncident(input: $input) {{
    incident {{ {INCIDENT} }} errors {{ code field message }} }} }}"""
RECORD = f"""mutation($id: ID!, $sentAt: DateTime, $reference: String) {{
    recordIncidentNotification(id: $id, sentAt: $sentAt, reference: $reference) {{
        incident {{ {INCIDENT} }} errors {{ code field message }} }} }}"""
LIST = f"""query($first: Int!, $after: String) {{ securityIncidents(first: $first, after: $after) {{
    nodes {{ {INCIDENT} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
ONE = f"""query($id: ID!) {{ securityIncident(id: $id) {{ {INCIDENT} }} }}"""
MINE = """query($first: Int!) { myNotifications(first: $first) {
    nodes { id kind message incidentDetectedAt sentAt } pageInfo { hasNextPage endCursor } } }"""


@dataclass
class Clock:
    now: datetime = REPORTED

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Incidents:
    db: Database
    http: httpx.AsyncClient
    clock: Clock

    def user(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.db.settings, user_id=user_id)}"}

    def staff(self, role: Role, purpose: Purpose) -> dict[str, str]:
        token = issue_token(self.db.settings, employee_id=STAFF_IDS[role], role=role)
        return {"Authorization": f"Bearer {token}", "X-Processing-Purpose": purpose.value}

    @property
    def security(self) -> dict[str, str]:
        return self.staff(Role.SECURITY, Purpose.SECURITY)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, headers: Any = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def report(self, **given: Any) -> dict[str, Any]:
        body = await self.gql(REPORT, {"input": incident_input(**given)}, self.security)
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["reportSecurityIncident"]
        return payload


def incident_input(**given: Any) -> dict[str, Any]:
    return {
        "title": "Courier API returned other parcels' labels",
        "description": "A misconfigured integration; fixed the same day.",
        "detectedAt": _iso(DETECTED),
        "awareAt": _iso(AWARE),
        "severity": "HIGH",
        "subjectMessage": MESSAGE,
        **given,
    }


@pytest.fixture(scope="module", params=BACKENDS)
def incidents_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("incidents")))
    yield database
    drop()


@pytest.fixture(scope="module")
async def incidents(incidents_db: Database) -> AsyncIterator[Incidents]:
    clock = Clock()
    app = create_app(incidents_db.settings, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield Incidents(incidents_db, http, clock)
    await app.state.gateway.aclose()


@pytest.fixture(autouse=True)
def _known_time(incidents: Incidents) -> None:
    incidents.clock.now = REPORTED


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


async def one_per_jurisdiction(db: Database) -> dict[str, int]:
    """An active, generated user of each jurisdiction (no demo account)."""
    rows = await fetch(
        db,
        "SELECT id, jurisdiction FROM users WHERE deletion_state = 'ACTIVE' AND id > 7 ORDER BY id",
    )
    found: dict[str, int] = {}
    for user_id, jurisdiction in rows:
        found.setdefault(jurisdiction, user_id)
    assert set(found) == {"EU", "KZ", "RU", "CN"}
    return found


def authority_due(jurisdiction: str) -> set[tuple[str, str | None, datetime]]:
    return {
        (jurisdiction, deadline.stage or None, deadline.due_at)
        for deadline in incident_deadlines(RULES, jurisdiction, DETECTED, AWARE)
        if deadline.rule.kind is IncidentNotice.BREACH_AUTHORITY
    }


async def test_deadlines_per_jurisdiction_come_from_the_table(incidents: Incidents) -> None:
    users = await one_per_jurisdiction(incidents.db)
    erased = DEMO_USERS["buyer_erased"]
    (row,) = await fetch(incidents.db, "SELECT jurisdiction FROM users WHERE id = :i", i=erased)
    payload = await incidents.report(
        affected={"subjectIds": [str(i) for i in [*users.values(), erased]]}
    )
    assert payload["errors"] == []
    incident = payload["incident"]
    notices = incident["authorityNotifications"]
    got = {(n["jurisdiction"], n["stage"], _at(n["dueAt"])) for n in notices}
    assert got == set().union(*(authority_due(j) for j in users))
    # The figures of jurisdictions.md, spelled out once.
    due = {(n["jurisdiction"], n["stage"]): _at(n["dueAt"]) for n in notices}
    assert due["EU", None] == AWARE + timedelta(hours=72)
    assert due["RU", "initial"] == DETECTED + timedelta(hours=24)
    assert due["RU", "results"] == DETECTED + timedelta(hours=72)
    assert due["CN", None] == AWARE + timedelta(hours=24)
    assert due["KZ", None] == datetime(2026, 12, 8, 18, 59, 59, 999999, tzinfo=UTC)  # Tue, Almaty
    assert all(n["rule"] and not n["overdue"] and n["sentAt"] is None for n in notices)
    counts = {c["jurisdiction"]: c["count"] for c in incident["affectedCounts"]}
    assert counts == {"EU": 1, "KZ": 1, "RU": 1, "CN": 1, row[0]: counts.get(row[0], 0)}
    assert sum(counts.values()) == 5  # the erased subject counts for the authority
    told = {s["jurisdiction"]: s for s in incident["subjectNotifications"]}
    assert {j: s["count"] for j, s in told.items()} == {"EU": 1, "KZ": 1, "RU": 1, "CN": 1}
    assert all(s["sent"] == s["count"] for s in told.values())  # delivered in the gateway
    for jurisdiction, summary in told.items():
        (subjects,) = [
            d
            for d in incident_deadlines(RULES, jurisdiction, DETECTED, AWARE)
            if d.rule.kind is IncidentNotice.BREACH_SUBJECTS
        ]
        assert _at(summary["dueAt"]) == subjects.due_at
    assert incident["reportedBy"] == f"employee:{STAFF_IDS[Role.SECURITY]}"
    assert json.loads(incident["affected"]) == {"kind": "ids", "count": 5}
    assert not incident["overdue"]


async def test_subjects_are_told_where_the_rule_says_so(incidents: Incidents) -> None:
    users = await one_per_jurisdiction(incidents.db)
    ids = [str(i) for i in users.values()]
    low = await incidents.report(severity="LOW", affected={"subjectIds": ids})
    assert {s["jurisdiction"] for s in low["incident"]["subjectNotifications"]} == {
        "KZ",
        "RU",
        "CN",
    }  # EU only for a likely high risk (GDPR Art. 34)
    avoided = await incidents.report(severity="LOW", harmAvoided=True, affected={"subjectIds": ids})
    assert {s["jurisdiction"] for s in avoided["incident"]["subjectNotifications"]} == {
        "KZ",
        "RU",
    }  # CN not when the measures avoid harm (PIPL Art. 57)
    # Authorities hear of it whatever the subjects are told.
    notices = avoided["incident"]["authorityNotifications"]
    assert {n["jurisdiction"] for n in notices} == {"EU", "KZ", "RU", "CN"}


async def test_subjects_read_their_notification_and_others_do_not(incidents: Incidents) -> None:
    users = await one_per_jurisdiction(incidents.db)
    eu, ru = users["EU"], users["RU"]
    detected = DETECTED + timedelta(minutes=5)
    payload = await incidents.report(
        detectedAt=_iso(detected),
        awareAt=_iso(detected),
        affected={"subjectIds": [str(eu), str(ru)]},
        subjectMessage=f"{MESSAGE} (second)",
    )
    assert payload["errors"] == []
    for subject in (eu, ru):
        body = await incidents.gql(MINE, {"first": 50}, incidents.user(subject))
        assert "errors" not in body, body
        nodes = body["data"]["myNotifications"]["nodes"]
        newest = nodes[0]
        assert newest["message"] == f"{MESSAGE} (second)"
        assert _at(newest["incidentDetectedAt"]) == detected
        assert _at(newest["sentAt"]) == REPORTED
        assert set(newest) == {"id", "kind", "message", "incidentDetectedAt", "sentAt"}
        other = ru if subject == eu else eu
        (name,) = await fetch(incidents.db, "SELECT full_name FROM users WHERE id = :i", i=other)
        assert name[0] not in json.dumps(body)
    mine = await fetch(
        incidents.db,
        "SELECT count(*) FROM notifications WHERE subject_id = :s AND sent_at IS NOT NULL",
        s=eu,
    )
    body = await incidents.gql(MINE, {"first": 50}, incidents.user(eu))
    assert len(body["data"]["myNotifications"]["nodes"]) == mine[0][0]
    # Someone not affected sees nothing of it.
    outsider = DEMO_USERS["seller"]
    before = await fetch(
        incidents.db, "SELECT count(*) FROM notifications WHERE subject_id = :s", s=outsider
    )
    body = await incidents.gql(MINE, {"first": 50}, incidents.user(outsider))
    assert len(body["data"]["myNotifications"]["nodes"]) == before[0][0] == 0
    # Staff and anonymous viewers have no notifications of their own.
    body = await incidents.gql(MINE, {"first": 5}, incidents.security)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await incidents.gql(MINE, {"first": 5})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_overdue_and_late_flags_follow_the_clock(incidents: Incidents) -> None:
    users = await one_per_jurisdiction(incidents.db)
    payload = await incidents.report(affected={"subjectIds": [str(users["RU"]), str(users["EU"])]})
    incident_id = payload["incident"]["id"]
    ru_initial = next(
        n
        for n in payload["incident"]["authorityNotifications"]
        if (n["jurisdiction"], n["stage"]) == ("RU", "initial")
    )

    async def flags() -> dict[tuple[str, str | None], tuple[bool, bool]]:
        body = await incidents.gql(ONE, {"id": incident_id}, incidents.security)
        found = body["data"]["securityIncident"]
        return {
            (n["jurisdiction"], n["stage"]): (n["overdue"], n["late"])
            for n in found["authorityNotifications"]
        }

    assert set((await flags()).values()) == {(False, False)}
    incidents.clock.now = DETECTED + timedelta(hours=25)
    assert await flags() == {
        ("EU", None): (False, False),
        ("RU", "initial"): (True, False),
        ("RU", "results"): (False, False),
    }
    body = await incidents.gql(ONE, {"id": incident_id}, incidents.security)
    assert body["data"]["securityIncident"]["overdue"]
    sent = DETECTED + timedelta(hours=24, minutes=30)
    recorded = await incidents.gql(
        RECORD,
        {"id": ru_initial["id"], "sentAt": _iso(sent), "reference": "RKN-2026-0042"},
        incidents.security,
    )
    assert recorded["data"]["recordIncidentNotification"]["errors"] == []
    notice = next(
        n
        for n in recorded["data"]["recordIncidentNotification"]["incident"][
            "authorityNotifications"
        ]
        if n["id"] == ru_initial["id"]
    )
    assert _at(notice["sentAt"]) == sent and notice["reference"] == "RKN-2026-0042"
    assert notice["sentBy"] == f"employee:{STAFF_IDS[Role.SECURITY]}"
    assert await flags() == {
        ("EU", None): (False, False),
        ("RU", "initial"): (False, True),
        ("RU", "results"): (False, False),
    }
    incidents.clock.now = AWARE + timedelta(hours=73)
    flagged = await flags()
    assert flagged["EU", None] == (True, False) and flagged["RU", "results"] == (True, False)
    again = await incidents.gql(RECORD, {"id": ru_initial["id"]}, incidents.security)
    assert [e["code"] for e in again["data"]["recordIncidentNotification"]["errors"]] == ["CLOSED"]
    body = await incidents.gql(ONE, {"id": incident_id}, incidents.security)
    kinds = [
        (e["kind"], e["jurisdiction"], e["stage"])
        for e in body["data"]["securityIncident"]["timeline"]
    ]
    assert kinds[:3] == [("DETECTED", None, None), ("AWARE", None, None), ("REPORTED", None, None)]
    assert ("NOTIFICATION_SENT", "RU", "initial") in kinds
    assert kinds.index(("NOTIFICATION_DUE", "RU", "initial")) < kinds.index(
        ("NOTIFICATION_SENT", "RU", "initial")
    )
    times = [_at(e["at"]) for e in body["data"]["securityIncident"]["timeline"]]
    assert times == sorted(times)


async def test_a_selector_names_the_users_of_a_window(incidents: Incidents) -> None:
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    payload = await incidents.report(
        severity="MEDIUM",
        affected={
            "jurisdictions": ["RU", "KZ"],
            "activeFrom": _iso(start),
            "activeUntil": _iso(end),
        },
    )
    assert payload["errors"] == []
    rows = await fetch(
        incidents.db,
        "SELECT jurisdiction, count(*) FROM users WHERE jurisdiction IN ('RU', 'KZ') "
        "AND (created_at IS NULL OR created_at <= :end) "
        "AND (erased_at IS NULL OR erased_at >= :start) GROUP BY jurisdiction",
        start=start.replace(tzinfo=None),
        end=end.replace(tzinfo=None),
    )
    counts = {c["jurisdiction"]: c["count"] for c in payload["incident"]["affectedCounts"]}
    assert counts == {jurisdiction: n for jurisdiction, n in rows}
    assert json.loads(payload["incident"]["affected"])["kind"] == "selector"
    assert {n["jurisdiction"] for n in payload["incident"]["authorityNotifications"]} == set(counts)


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        ({"affected": {}}, "INVALID", "affected"),
        ({"affected": {"subjectIds": ["8"], "jurisdictions": ["EU"]}}, "INVALID", "affected"),
        ({"affected": {"subjectIds": ["999999"]}}, "INVALID", "affected.subjectIds"),
        ({"affected": {"subjectIds": ["8", "8"]}}, "INVALID", "affected.subjectIds"),
        ({"affected": {"jurisdictions": []}}, "INVALID", "affected.jurisdictions"),
        ({"affected": {"subjectIds": ["8"]}, "subjectMessage": None}, "INVALID", "subjectMessage"),
        ({"affected": {"subjectIds": ["8"]}, "title": "  "}, "INVALID", "title"),
        (
            {"affected": {"subjectIds": ["8"]}, "detectedAt": _iso(REPORTED + timedelta(1))},
            "INVALID",
            "detectedAt",
        ),
        (
            {"affected": {"subjectIds": ["8"]}, "awareAt": _iso(DETECTED - timedelta(1))},
            "INVALID",
            "awareAt",
        ),
    ],
)
async def test_refusals_change_nothing(
    incidents: Incidents, given: dict[str, Any], code: str, field: str
) -> None:
    before = await fetch(incidents.db, "SELECT count(*) FROM security_incidents")
    body = await incidents.gql(REPORT, {"input": incident_input(**given)}, incidents.security)
    errors = body["data"]["reportSecurityIncident"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)]
    assert await fetch(incidents.db, "SELECT count(*) FROM security_incidents") == before
    missing = await incidents.gql(RECORD, {"id": "999999"}, incidents.security)
    assert [e["code"] for e in missing["data"]["recordIncidentNotification"]["errors"]] == [
        "NOT_FOUND"
    ]


async def test_reporting_and_recording_are_audited(incidents: Incidents) -> None:
    users = await one_per_jurisdiction(incidents.db)
    payload = await incidents.report(affected={"subjectIds": [str(users["CN"])]})
    incident_id = int(payload["incident"]["id"])
    notice = payload["incident"]["authorityNotifications"][0]
    dpo = incidents.staff(Role.DPO, Purpose.LEGAL)
    recorded = await incidents.gql(RECORD, {"id": notice["id"]}, dpo)
    assert recorded["data"]["recordIncidentNotification"]["errors"] == []
    rows = await fetch(
        incidents.db,
        "SELECT action, actor, actor_role, purpose, detail FROM audit_events "
        "WHERE entity IN ('SecurityIncident', 'Notification') ORDER BY id",
    )
    mine = [r for r in rows if json.loads(r.detail)["incident"] == incident_id]
    assert [(r.action, r.actor_role, r.purpose) for r in mine] == [
        ("INCIDENT_REPORTED", "SECURITY", "SECURITY"),
        ("INCIDENT_NOTIFIED", "DPO", "LEGAL"),
    ]
    assert json.loads(mine[0].detail)["affected"] == {"CN": 1}
    assert MESSAGE not in json.dumps([tuple(r) for r in rows])


async def test_pages_of_incidents_newest_first(incidents: Incidents) -> None:
    seen: list[int] = []
    after = None
    while True:
        body = await incidents.gql(LIST, {"first": 2, "after": after}, incidents.security)
        page = body["data"]["securityIncidents"]
        seen += [int(node["id"]) for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    rows = await fetch(incidents.db, "SELECT id FROM security_incidents ORDER BY id DESC")
    assert seen == [row[0] for row in rows]
    # Incidents recorded before the gateway (seeded) read at detection, reported by nobody.
    seeded = await incidents.gql(ONE, {"id": "1"}, incidents.security)
    assert (
        seeded["data"]["securityIncident"]["awareAt"]
        == seeded["data"]["securityIncident"]["detectedAt"]
    )


async def test_only_the_incident_team_reads_and_reports(incidents: Incidents) -> None:
    body = await incidents.gql(LIST, {"first": 5})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = await incidents.gql(LIST, {"first": 5}, incidents.user(DEMO_USERS["buyer"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    report = await incidents.gql(
        REPORT, {"input": incident_input(affected={})}, incidents.user(DEMO_USERS["buyer"])
    )
    assert [e["code"] for e in report["data"]["reportSecurityIncident"]["errors"]] == ["FORBIDDEN"]
    for role in Role:
        for purpose in Purpose:
            headers = incidents.staff(role, purpose)
            listed = await incidents.gql(LIST, {"first": 5}, headers)
            one = await incidents.gql(ONE, {"id": "1"}, headers)
            report = await incidents.gql(REPORT, {"input": incident_input(affected={})}, headers)
            codes = [e["code"] for e in report["data"]["reportSecurityIncident"]["errors"]]
            if (role, purpose) in RESPONDERS:
                assert "errors" not in listed and "errors" not in one, (role, purpose)
                assert codes == ["INVALID"], (role, purpose)  # allowed; refused for its input
            else:
                assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN", (role, purpose)
                assert one["errors"][0]["extensions"]["code"] == "FORBIDDEN", (role, purpose)
                assert codes == ["FORBIDDEN"], (role, purpose)
