"""Access and portability (Art. 4.1; GDPR Art. 15, 20): `requestDataExport` and `GET
/exports/{id}`, end to end on both databases.

The export covers every personal field of the catalog a subject has data in; its JSON
validates against the shipped JSON Schema and its HTML says the same, escaped; every
record in it, other people included, equals what the subject gets through GraphQL; only
the subject downloads it; no copy of it is stored; it is streamed from one consistent read
with memory that does not grow with the subject's messages.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
import strawberry
from sqlalchemy import func, insert, select, update
from starlette.responses import StreamingResponse

from bench.export_memory import Sent, add_messages, asgi_get
from directives.deadlines import RequestKind, due, load_rules
from directives.masking import Strategy
from directives.taxonomy import Category, Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db import models as m
from gateway.db.engine import create_engine, session_factory
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from resolvers.audit.index import update_index
from resolvers.rights.export import links, sources
from resolvers.rights.export.download import ExportResponse
from resolvers.rights.export.writers import json_schema
from schema.build import OBJECT_TYPES, build_schema
from schema.catalog import personal_data
from schema.privacy import Kind, SchemaPrivacyError, project
from schema.rights import export as exporter
from schema.types.common import gid, personal
from tests.conftest import BACKENDS, Database, fetch, make_database

EXPORT = """mutation($format: ExportFormat!) { requestDataExport(format: $format) {
  created
  request { id kind status target receivedAt dueAt completedAt outcome
            history { event fromStatus toStatus note actor } }
  download { url expiresAt format mediaType }
  errors { code message }
} }"""
COVERING = ("buyer", "seller", "logistics")  # between them, every personal field has data
PERSON = "id kind jurisdiction deletionState fullName email phone createdAt"


@dataclass
class Exports:
    db: Database
    app: Any
    http: httpx.AsyncClient

    def token(self, who: str | int) -> str:
        user_id = DEMO_USERS[who] if isinstance(who, str) else who
        return issue_token(self.db.settings, user_id=user_id)

    def bearer(self, who: str | int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}"}

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def ask(self, who: str | int, fmt: str = "JSON") -> dict[str, Any]:
        data = await self.gql(EXPORT, {"format": fmt}, **self.bearer(who))
        payload: dict[str, Any] = data["requestDataExport"]
        assert payload["errors"] == [], payload["errors"]
        return payload

    async def get(self, target: str, headers: dict[str, str] | None = None, **kw: Any) -> Sent:
        return await asgi_get(self.app, target, headers=headers, **kw)

    async def document(self, who: str | int) -> dict[str, Any]:
        sent = await self.get((await self.ask(who))["download"]["url"])
        assert sent.status == 200, bytes(sent.body)
        doc: dict[str, Any] = json.loads(sent.body)
        return doc


@pytest.fixture(scope="module", params=BACKENDS)
def export_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("export")))
    yield database
    drop()


@pytest.fixture(scope="module")
async def exports(export_db: Database) -> AsyncIterator[Exports]:
    app = create_app(export_db.settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Exports(export_db, app, http)
    await app.state.gateway.aclose()


async def _execute(db: Database, *statements: Any) -> None:
    engine = create_engine(db.settings)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(statement)
    finally:
        await engine.dispose()


async def _rows_in(db: Database, source: sources.Source, subject: int) -> int:
    engine = create_engine(db.settings)
    try:
        async with engine.connect() as conn:
            statement = select(func.count()).select_from(source.model)
            return int(await conn.scalar(statement.where(source.names(subject))) or 0)
    finally:
        await engine.dispose()


def _holdings(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for category in doc["categories"]:
        for holding in category["holdings"]:
            yield category["category"], holding


# -- what is in it ---------------------------------------------------------------------------


async def test_every_personal_field_of_the_subject_is_in_the_export(exports: Exports) -> None:
    """Walk the catalog: each field of each (type, role) a subject has rows in is exported
    for them, in its own category; between them the covering users hold every field."""
    entries = personal_data(build_schema())
    category_of = {(t, f): p.category.value for t, f, p, _ in entries}
    everywhere: set[tuple[str, str]] = set()
    problems = []
    for who in COVERING:
        subject = DEMO_USERS[who]
        doc = await exports.document(who)
        exported = set()
        for category, holding in _holdings(doc):
            assert holding["count"] == len(holding["records"]) > 0
            for name in holding["fields"]:
                assert category_of[(holding["type"], name)] == category, (holding["type"], name)
                assert all(name in record["values"] for record in holding["records"])
                exported.add((holding["type"], name))
        everywhere |= exported
        for type_name, field_name, directive, _ in entries:
            source = sources.SOURCES[(type_name, directive.subject)]
            held = await _rows_in(exports.db, source, subject)
            if held and (type_name, field_name) not in exported:
                problems.append(f"{who}: {type_name}.{field_name} ({held} rows)")
        sent = await fetch(
            exports.db, "SELECT count(*) FROM messages WHERE sender_id = :s", s=subject
        )
        messages = [h for _, h in _holdings(doc) if h["type"] == "Message"]
        assert {h["count"] for h in messages} <= {sent[0][0]}
    assert not problems, "missing from the export: " + ", ".join(problems)
    never = sorted(f"{t}.{f}" for t, f in category_of if (t, f) not in everywhere)
    assert not never, f"no covering user's export holds {never}: pick users who have them"


async def test_the_json_validates_against_its_schema(exports: Exports) -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for who in (*COVERING, "buyer_withdrawn", "buyer_erasure_pending", "other_buyer"):
        doc = await exports.document(who)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, (who, errors[:5])
        assert doc["subject"]["id"] == str(DEMO_USERS[who])
        assert doc["summary"]["records"] == sum(h["count"] for _, h in _holdings(doc))
    # The schema says something: a record with a field it does not know is refused.
    doc["categories"][0]["holdings"][0]["records"][0]["surprise"] = 1
    assert not validator.is_valid(doc)


async def test_each_category_says_why_who_how_long_and_from_where(exports: Exports) -> None:
    doc = await exports.document("buyer")
    categories = {c["category"]: c for c in doc["categories"]}
    email = categories[Category.USER_CONTACT_EMAIL.value]
    recipients = {r["viewer"]: r for r in email["recipients"]}
    assert recipients["COUNTERPARTY"]["access"] == "MASKED"
    assert recipients["COUNTERPARTY"]["masks"] == ["EMAIL"]
    assert recipients["EMPLOYEE:ANALYST/ANALYTICS"]["masks"] == ["PSEUDONYM"]
    assert "PUBLIC" not in recipients and "SELF" not in recipients
    assert {"purpose": "ANALYTICS", "lawfulBasis": "CONSENT", "withdrawable": True} in email[
        "purposes"
    ]
    assert email["origin"]["code"] == "PROVIDED_BY_YOU"
    billing = categories[Category.USER_FINANCIAL_BILLING.value]
    assert billing["retention"][0]["period"] == "LEGAL_HOLD"
    assert billing["retention"][0]["years"] == 5
    assert {a["viewer"] for a in billing["afterDeletion"]} == {
        "EMPLOYEE:FINANCE/BILLING",
        "EMPLOYEE:DPO/LEGAL",
    }
    bodies = categories[Category.USER_MESSAGE_CONTENT.value]
    assert bodies["retention"][0]["period"] == "KEPT_AFTER_DELETION"
    assert bodies["origin"]["code"] == "PROVIDED_BY_YOU"
    # A subject who withdrew analytics consent is not analysed: analysts are no recipient.
    withdrawn = await exports.document("buyer_withdrawn")
    for category in withdrawn["categories"]:
        assert all(r["role"] != "ANALYST" for r in category["recipients"]), category["category"]
        assert all(p["purpose"] != "ANALYTICS" for p in category["purposes"])
    # Consent history and requests, with their history, come along.
    assert {c["purpose"] for c in doc["consents"]} >= {"ANALYTICS"}
    kinds = {r["kind"] for r in doc["privacyRequests"]}
    assert "EXPORT" in kinds
    exported = next(r for r in doc["privacyRequests"] if r["id"] == doc["request"]["id"])
    assert exported["history"][0]["event"] == "FILED"


# -- the same decisions, the same masks -----------------------------------------------------


def _selection(holding: exporter.Holding, names: list[str]) -> str:
    fields = {f.name: f for f in (*holding.fields, *holding.others)}
    parts = []
    for name in names:
        field = fields[name]
        if field.kind is Kind.VALUE:
            parts.append(name)
        elif field.kind is Kind.EACH or holding.info.targets[field.attr] == "User":
            parts.append(f"{name} {{ {PERSON} }}")
        else:
            parts.append(f"{name} {{ id }}")
    return " ".join(parts)


async def _read(
    exports: Exports, token: dict[str, str], type_name: str, record: dict[str, Any], fields: str
) -> dict[str, Any] | None:
    """One record as the subject reads it through GraphQL: by its root lookup, or (types
    without one) through the route that reaches it."""
    if type_name == "Address":
        data = await exports.gql(f"{{ me {{ addresses {{ id {fields} }} }} }}", **token)
        items = data["me"]["addresses"]
    elif type_name == "Message":
        query = f"query($id: ID!) {{ conversation(id: $id) {{ messages {{ id {fields} }} }} }}"
        data = await exports.gql(query, {"id": record["refs"]["conversation"]}, **token)
        items = data["conversation"]["messages"]
    else:
        root = type_name[0].lower() + type_name[1:]
        query = f"query($id: ID!) {{ {root}(id: $id) {{ {fields} }} }}"
        found: dict[str, Any] | None = (await exports.gql(query, {"id": record["id"]}, **token))[
            root
        ]
        return found
    return next((item for item in items if item["id"] == record["id"]), None)


async def test_every_record_equals_what_the_subject_gets_through_graphql(
    exports: Exports,
) -> None:
    """Own values, edges and other people (chat partners, counterparties), record by
    record, against a real GraphQL read by the subject: same decisions, same masks."""
    plan = {
        (h.info.name, h.role, h.fields[0].category.value): h
        for category, holdings in exporter.plan(build_schema())
        for h in holdings
    }
    compared = {"values": 0, "people": 0}
    for who in COVERING:
        me = str(DEMO_USERS[who])
        token = exports.bearer(who)
        doc = await exports.document(who)
        for category, head in _holdings(doc):
            holding = plan[(head["type"], head["subject"], category)]
            names = [*head["fields"], *(o["field"] for o in head["others"])]
            selection = _selection(holding, names)
            for record in head["records"]:
                seen = await _read(exports, token, head["type"], record, selection)
                assert seen is not None, (who, head["type"], record["id"])
                for name, value in record["values"].items():
                    compared["values"] += 1
                    expected = seen[name]
                    if isinstance(value, dict) and "count" in value:
                        got = (
                            0
                            if expected is None
                            else len(expected)
                            if isinstance(expected, list)
                            else 1
                        )
                        assert value["count"] == got, (who, head["type"], name)
                    elif isinstance(value, dict):
                        assert value == {"type": "User", "id": me}
                        ids = (
                            [p["id"] for p in expected]
                            if isinstance(expected, list)
                            else [expected["id"]]
                        )
                        assert me in ids, (who, head["type"], name)
                    else:
                        assert value == expected, (who, head["type"], record["id"], name)
                for name, value in record.get("others", {}).items():
                    compared["people"] += 1
                    expected = seen[name]
                    if isinstance(expected, list):
                        expected = [p for p in expected if p["id"] != me]
                    assert value == expected, (who, head["type"], record["id"], name)
    assert compared["values"] > 100 and compared["people"] > 50, compared


async def test_a_chat_partner_is_what_the_subject_sees_of_them(exports: Exports) -> None:
    doc = await exports.document("buyer")
    partners: dict[str, dict[str, Any]] = {}
    for _, holding in _holdings(doc):
        if holding["type"] == "Conversation":
            for record in holding["records"]:
                for person in record["others"]["participants"]:
                    partners[person["id"]] = person
    assert str(DEMO_USERS["seller"]) in partners
    for partner_id, person in partners.items():
        data = await exports.gql(
            f"query($id: ID!) {{ user(id: $id) {{ {PERSON} }} }}",
            {"id": partner_id},
            **exports.bearer("buyer"),
        )
        assert person == data["user"]
    seller = partners[str(DEMO_USERS["seller"])]
    assert seller["email"] is not None and "***" in seller["email"]  # masked, as in GraphQL


# -- formats ----------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


async def test_the_html_page_says_the_same_escaped(exports: Exports) -> None:
    doc = await exports.document("buyer")
    payload = await exports.ask("buyer", "HTML")
    assert payload["download"]["mediaType"] == "text/html"
    sent = await exports.get(payload["download"]["url"])
    assert sent.status == 200
    assert sent.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in sent.headers["content-security-policy"]
    page = sent.body.decode()
    # No script, no external asset: nothing loads from anywhere.
    assert not re.search(r"<script|<link|<img|<iframe|\s(src|href)\s*=", page)
    for category in doc["categories"]:
        said = [category["title"], category["category"], category["origin"]["text"]]
        said += [p[key] for p in category["purposes"] for key in ("purpose", "lawfulBasis")]
        said += [r[key] for r in category["recipients"] for key in ("who", "viewer")]
        said += [r["who"] for r in category["afterDeletion"]]
        said += [r["why"] or "" for r in category["retention"]]
        said += [name for r in category["retention"] for name in r["fields"]]
        for text in said:
            assert html.escape(text) in page, text
        for holding in category["holdings"]:
            for record in holding["records"]:
                for part in ("details", "values", "others"):
                    for text in _strings(record.get(part, {})):
                        if text not in ("User",):  # a reference to the subject reads "you"
                            assert html.escape(text) in page, (part, text)
    for consent in doc["consents"]:
        assert html.escape(consent["recordedAt"]) in page


async def test_a_planted_script_is_escaped(exports: Exports) -> None:
    subject = DEMO_USERS["other_buyer"]
    planted = '<script>alert("pwned")</script> <img src=x onerror=alert(1)>'
    [(original,)] = await fetch(exports.db, "SELECT full_name FROM users WHERE id = :s", s=subject)
    await _execute(exports.db, update(m.User).where(m.User.id == subject).values(full_name=planted))
    try:
        payload = await exports.ask(subject, "HTML")
        page = (await exports.get(payload["download"]["url"])).body.decode()
        assert "<script" not in page and "<img" not in page
        assert html.escape(planted) in page
        as_json = await exports.document(subject)
        names = [
            r["values"]["fullName"]
            for _, h in _holdings(as_json)
            if h["type"] == "User" and "fullName" in h["fields"]
            for r in h["records"]
        ]
        assert names == [planted]
    finally:
        await _execute(
            exports.db, update(m.User).where(m.User.id == subject).values(full_name=original)
        )


# -- who may download ------------------------------------------------------------------------


def _refusal(sent: Sent, status: int, code: str) -> None:
    assert sent.status == status, (sent.status, bytes(sent.body))
    assert sent.headers["content-type"].startswith("application/json")
    body = json.loads(sent.body)
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    error = body["errors"][0]
    assert isinstance(error["message"], str) and error["extensions"] == {"code": code}


async def test_only_the_subject_downloads(exports: Exports) -> None:
    db = exports.db
    payload = await exports.ask("buyer")
    request_id = int(payload["request"]["id"])
    url = payload["download"]["url"]
    path = f"/exports/{request_id}"
    assert re.fullmatch(rf"/exports/{request_id}\?token=[\w-]+\.[\w-]+\.[\w-]+", url)
    expires = datetime.fromisoformat(payload["download"]["expiresAt"])
    ttl = db.settings.export_ttl_seconds
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=ttl)

    assert (await exports.get(url)).status == 200  # the signed link
    assert (await exports.get(path, exports.bearer("buyer"))).status == 200  # own token
    _refusal(await exports.get(path), 401, "UNAUTHENTICATED")
    _refusal(await exports.get(path, exports.bearer("seller")), 404, "NOT_FOUND")
    for role, purpose in (("dpo", "LEGAL"), ("support", "SUPPORT"), ("dpo", "")):
        employee_id, role_name = DEMO_EMPLOYEES[role]
        staff = issue_token(db.settings, employee_id=employee_id, role=Role(role_name))
        headers = {"Authorization": f"Bearer {staff}", "X-Processing-Purpose": purpose}
        _refusal(await exports.get(path, headers), 403, "FORBIDDEN")
    _refusal(await exports.get(path, {"Authorization": "Bearer nonsense"}), 401, "UNAUTHENTICATED")

    token = url.split("token=", 1)[1]
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _refusal(await exports.get(f"{path}?token={head}.{body}.{flipped}"), 401, "UNAUTHENTICATED")
    _refusal(await exports.get(f"{path}?token=garbage"), 401, "UNAUTHENTICATED")
    # A bearer token is no link, and a link of one export opens no other.
    _refusal(await exports.get(f"{path}?token={exports.token('buyer')}"), 401, "UNAUTHENTICATED")
    other = await exports.ask("seller")
    _refusal(
        await exports.get(f"{other['download']['url'].split('?')[0]}?token={token}"),
        404,
        "NOT_FOUND",
    )
    # Expired: signed as if the link had been asked for just over the TTL ago.
    past = datetime.now(UTC) - timedelta(seconds=ttl + 1)
    expired, _ = links.sign(db.settings, request_id, DEMO_USERS["buyer"], past)
    _refusal(await exports.get(f"{path}?token={expired}"), 401, "UNAUTHENTICATED")
    # Signed for someone else's subject id: the request is not theirs.
    forged, _ = links.sign(db.settings, request_id, DEMO_USERS["seller"], datetime.now(UTC))
    _refusal(await exports.get(f"{path}?token={forged}"), 404, "NOT_FOUND")
    # Not an export, not an id, not GET.
    [(inquiry,)] = await fetch(
        db,
        "SELECT min(id) FROM privacy_requests WHERE kind = 'INQUIRY' AND subject_id = :s",
        s=DEMO_USERS["buyer"],
    )
    _refusal(await exports.get(f"/exports/{inquiry}", exports.bearer("buyer")), 404, "NOT_FOUND")
    for bad in ("abc", "01", "0", "-1", "99999999999"):
        _refusal(await exports.get(f"/exports/{bad}", exports.bearer("buyer")), 404, "NOT_FOUND")
    _refusal(await exports.get(url, method="POST"), 405, "METHOD_NOT_ALLOWED")


async def test_an_erased_subject_has_no_export(exports: Exports) -> None:
    subject = DEMO_USERS["buyer_withdrawn"]
    payload = await exports.ask(subject)
    [(state,)] = await fetch(
        exports.db, "SELECT deletion_state FROM users WHERE id = :s", s=subject
    )
    await _execute(
        exports.db, update(m.User).where(m.User.id == subject).values(deletion_state="ERASED")
    )
    try:
        _refusal(await exports.get(payload["download"]["url"]), 404, "NOT_FOUND")
        path = f"/exports/{payload['request']['id']}"
        _refusal(await exports.get(path, exports.bearer(subject)), 401, "UNAUTHENTICATED")
    finally:
        await _execute(
            exports.db, update(m.User).where(m.User.id == subject).values(deletion_state=state)
        )


async def test_only_a_platform_user_asks_for_their_export(exports: Exports) -> None:
    refused = await exports.gql(EXPORT, {"format": "JSON"})
    assert [e["code"] for e in refused["requestDataExport"]["errors"]] == ["UNAUTHENTICATED"]
    employee_id, role_name = DEMO_EMPLOYEES["dpo"]
    staff = issue_token(exports.db.settings, employee_id=employee_id, role=Role(role_name))
    refused = await exports.gql(
        EXPORT,
        {"format": "JSON"},
        Authorization=f"Bearer {staff}",
        **{"X-Processing-Purpose": "LEGAL"},
    )
    assert [e["code"] for e in refused["requestDataExport"]["errors"]] == ["FORBIDDEN"]
    assert refused["requestDataExport"]["download"] is None


# -- lifecycle; no copy -------------------------------------------------------------------


async def _tables(db: Database) -> dict[str, int]:
    """Rows per table, the audit trail's subject index brought up to date first."""
    engine = create_engine(db.settings)
    try:
        await update_index(session_factory(engine))
    finally:
        await engine.dispose()
    counts = {}
    for table in sorted(m.Base.metadata.tables):
        [(n,)] = await fetch(db, f"SELECT count(*) FROM {table}")
        counts[table] = n
    return counts


async def test_an_export_request_lives_and_leaves_no_copy(exports: Exports) -> None:
    db, subject = exports.db, DEMO_USERS["logistics"]
    before = await _tables(db)
    first = await exports.ask(subject, "HTML")
    again = await exports.ask(subject, "HTML")
    request = first["request"]
    assert first["created"] and not again["created"]
    assert again["request"]["id"] == request["id"]
    assert (request["kind"], request["status"], request["target"]) == ("EXPORT", "RECEIVED", "HTML")
    [(jurisdiction,)] = await fetch(db, "SELECT jurisdiction FROM users WHERE id = :s", s=subject)
    received = datetime.fromisoformat(request["receivedAt"])
    assert (
        datetime.fromisoformat(request["dueAt"])
        == due(load_rules(), RequestKind.EXPORT, jurisdiction, received).due_at
    )

    sent = await exports.get(first["download"]["url"])
    assert sent.status == 200
    rows = await fetch(
        db,
        "SELECT status, completed_at, outcome, details, proposed_value, open_key "
        "FROM privacy_requests WHERE id = :r",
        r=int(request["id"]),
    )
    status, completed_at, outcome, details, proposed, open_key = rows[0]
    assert status == "COMPLETED" and completed_at is not None and open_key is None
    assert outcome == f"downloaded {sent.size} bytes (HTML)"
    assert details is None and proposed is None
    events = await fetch(
        db,
        "SELECT event, to_status, note, actor FROM privacy_request_events "
        "WHERE request_id = :r ORDER BY id",
        r=int(request["id"]),
    )
    assert events == [
        ("FILED", "RECEIVED", None, f"user:{subject}"),
        ("STATUS", "COMPLETED", outcome, f"user:{subject}"),
    ]
    # Nothing but the request, its two events and their audit events (each indexed under
    # the subject) was written: no table holds the export, and the audit names no value.
    after = await _tables(db)
    grown = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert grown == {
        "privacy_requests": 1,
        "privacy_request_events": 2,
        "audit_events": 2,
        "audit_event_subjects": 2,
    }
    [(name, email)] = await fetch(db, "SELECT full_name, email FROM users WHERE id = :s", s=subject)
    audited = await fetch(db, "SELECT * FROM audit_events ORDER BY id DESC LIMIT 2")
    assert all(name not in repr(row) and email not in repr(row) for row in audited)

    # The link works until it expires; a second download changes nothing.
    assert (await exports.get(first["download"]["url"])).status == 200
    assert await _tables(db) == after
    # Once closed, asking again files a new request.
    third = await exports.ask(subject, "HTML")
    assert third["created"] and third["request"]["id"] != request["id"]


async def test_json_and_html_are_asked_for_separately(exports: Exports) -> None:
    json_request = await exports.ask("other_buyer", "JSON")
    html_request = await exports.ask("other_buyer", "HTML")
    assert json_request["request"]["id"] != html_request["request"]["id"]
    assert json_request["download"]["format"] == "JSON"
    assert json_request["download"]["mediaType"] == "application/json"


# -- the plan follows the schema ------------------------------------------------------------


def test_a_personal_field_without_a_row_source_stops_the_export() -> None:
    @strawberry.type
    class LoyaltyCard:
        number: str
        holder_birthday: str | None = personal(Category.USER_ACCOUNT_CREATED, Strategy.GENERALIZE)

    extended = build_schema(types=(*OBJECT_TYPES, LoyaltyCard))
    with pytest.raises(SchemaPrivacyError, match="LoyaltyCard"):
        exporter.plan(extended)


@strawberry.type(description="A stand-in for a personal field added tomorrow.")
class Postcard:
    id: strawberry.ID
    country: str
    postal_code: str | None = personal(Category.USER_CONTACT_ADDRESS, Strategy.REDACT)

    @classmethod
    async def build(cls, ctx: Any, rows: Any) -> list[Postcard]:
        views = await ctx.privacy.views([row.user_id for row in rows])
        values = [
            {"id": gid(row.id), "country": row.country, "postal_code": row.postal_code}
            for row in rows
        ]
        return project(ctx, cls, values, views)


async def test_a_personal_field_added_to_the_schema_appears_without_export_code(
    export_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new type with a `@personal` field and its row source (data, not export code)."""
    row = sources.Source(m.Address, "sender", column="user_id")
    monkeypatch.setattr(exporter, "SOURCES", {**sources.SOURCES, ("Postcard", None): row})
    app = create_app(export_db.settings, schema=build_schema(types=(*OBJECT_TYPES, Postcard)))
    try:
        token = issue_token(export_db.settings, user_id=DEMO_USERS["buyer"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://g") as http:
            response = await http.post(
                "/graphql",
                json={"query": EXPORT, "variables": {"format": "JSON"}},
                headers={"Authorization": f"Bearer {token}"},
            )
        url = response.json()["data"]["requestDataExport"]["download"]["url"]
        doc = json.loads((await asgi_get(app, url)).body)
    finally:
        await app.state.gateway.aclose()
    address = next(c for c in doc["categories"] if c["category"] == "user.contact.address")
    cards = [h for h in address["holdings"] if h["type"] == "Postcard"]
    assert len(cards) == 1 and cards[0]["fields"] == ["postalCode"]
    assert cards[0]["records"][0]["values"]["postalCode"]


# -- streamed, bounded, consistent ----------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def chat_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("chat")), users=30)
    yield database
    drop()


@pytest.fixture(scope="module")
async def chat(chat_db: Database) -> AsyncIterator[Exports]:
    app = create_app(chat_db.settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Exports(chat_db, app, http)
    await app.state.gateway.aclose()


async def _peak(app: Any, target: str, headers: dict[str, str]) -> tuple[int, int, int]:
    """(peak traced bytes, document bytes, body chunks) of one download."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        sent = await asgi_get(app, target, headers=headers, keep=False)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert sent.status == 200
    return peak, sent.size, sent.chunks


async def test_memory_does_not_grow_with_the_messages(chat: Exports) -> None:
    """Streamed rows, streamed response: ten times the messages, about the same peak (the
    document is never held whole). No timing is asserted."""
    assert issubclass(ExportResponse, StreamingResponse)
    subject = DEMO_USERS["buyer"]
    request_id = (await chat.ask(subject))["request"]["id"]
    target, headers = f"/exports/{request_id}", chat.bearer(subject)
    await asgi_get(chat.app, target, headers=headers, keep=False)  # warm caches
    await add_messages(chat.db.settings, subject, 1_000)
    small, small_size, _ = await _peak(chat.app, target, headers)
    await add_messages(chat.db.settings, subject, 10_000)
    large, large_size, chunks = await _peak(chat.app, target, headers)
    assert large_size > 8 * small_size
    assert chunks > 100  # the body went out as it was written
    assert large < 1.5 * small, (small, large)
    # A document held whole would grow the peak by its own growth; this grows by almost
    # nothing of it.
    assert large - small < 0.1 * (large_size - small_size), (small, large, large_size)


async def test_one_consistent_read(chat: Exports) -> None:
    """A message sent while the export streams is not in it: every row comes from the
    snapshot its first read took; the next export has it."""
    subject = DEMO_USERS["seller"]
    request_id = (await chat.ask(subject))["request"]["id"]
    target, headers = f"/exports/{request_id}", chat.bearer(subject)
    [(conversation,)] = await fetch(
        chat.db,
        "SELECT min(conversation_id) FROM conversation_participants WHERE user_id = :s",
        s=subject,
    )
    sent_before = await fetch(
        chat.db, "SELECT count(*) FROM messages WHERE sender_id = :s", s=subject
    )

    async def meanwhile(chunk: int) -> None:
        if chunk == 1:  # the head went out: the snapshot is taken
            await _execute(
                chat.db,
                insert(m.Message).values(
                    conversation_id=conversation,
                    sender_id=subject,
                    body="sent while the export streamed",
                    sent_at=datetime.now(UTC),
                ),
            )

    during = json.loads((await chat.get(target, headers, on_chunk=meanwhile)).body)
    after = json.loads((await chat.get(target, headers)).body)

    def messages(doc: dict[str, Any]) -> set[int]:
        return {h["count"] for _, h in _holdings(doc) if h["type"] == "Message"}

    assert messages(during) == {sent_before[0][0]}
    assert messages(after) == {sent_before[0][0] + 1}


async def test_a_client_that_leaves_ends_the_read(chat: Exports) -> None:
    subject = DEMO_USERS["logistics"]
    payload = await chat.ask(subject)
    await add_messages(chat.db.settings, subject, 3_000)
    app, url = chat.app, payload["download"]["url"]
    path, _, query = url.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 50001),
        "server": ("gateway", 80),
    }
    gone = asyncio.Event()
    chunks = 0
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal chunks
        if message["type"] == "http.response.body" and message.get("body"):
            chunks += 1
            if chunks == 3:
                gone.set()
                await asyncio.sleep(0.05)

    await app(scope, receive, send)
    engine = app.state.gateway.engine
    assert engine.pool.checkedout() == 0  # the read transaction ended with the response
    [(status,)] = await fetch(
        chat.db,
        "SELECT status FROM privacy_requests WHERE id = :r",
        r=int(payload["request"]["id"]),
    )
    assert status == "RECEIVED"  # not downloaded whole: not completed
