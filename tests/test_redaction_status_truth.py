"""`redactionStatus` is true: every outcome it claims for a viewer class is what a real
viewer of that class receives, field by field, on the demo subjects' own records.

The viewers are real: anonymous, each demo user (their relationship to the subject read
from plain SQL by `tests/leakcheck.World`), and every employee role naming every purpose.
What they receive is compared with the raw database value: SHOW gives the raw value, MASK
a value that is not null and differs from it (a link: the person, who masks themself),
STRIP null or nothing at all. Records a platform viewer cannot reach (an order they are
no party to) are not compared; records a viewer class cannot reach at all are claimed STRIP.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from directives.policy import Audience
from directives.taxonomy import Purpose, Relationship, Role
from gateway.db.engine import create_engine
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from resolvers.visibility import ROLE_ENTITIES
from schema.catalog import audience_label
from tests.conftest import Database, employee_token, gql
from tests.leakcheck import ViewerClass, World

STATUS = """query($id: ID!) { redactionStatus(subjectId: $id) {
    fields { typeName fieldName outcomes { viewer { label } action reason } } } }"""

# Per type: the root lookup, the SQL of the subject's rows (:s), and per field how to read
# it (GraphQL selection) and its raw value (SQL column, or a link to the subject).
LINK = "LINK"
EDGE = "EDGE"
EACH = "EACH"
RECORDS: dict[str, tuple[str, str, dict[str, str]]] = {
    "User": (
        "user",
        "SELECT * FROM users WHERE id = :s",
        {
            "fullName": "full_name",
            "email": "email",
            "phone": "phone",
            "createdAt": "created_at",
            "deletionState": "deletion_state",
            "company": "LINK:company_id",  # a link only where the user has a company
            **dict.fromkeys(
                [
                    "addresses",
                    "orders",
                    "sales",
                    "shipments",
                    "products",
                    "reviews",
                    "videos",
                    "comments",
                    "conversations",
                ],
                EDGE,
            ),
        },
    ),
    "Order.buyer": (
        "order",
        "SELECT * FROM orders WHERE buyer_id = :s",
        {"shippingAddress": "shipping_address", "buyer": LINK},
    ),
    "Order.seller": ("order", "SELECT * FROM orders WHERE seller_id = :s", {"seller": LINK}),
    "Shipment.buyer": (
        "shipment",
        "SELECT s.* FROM shipments s JOIN orders o ON o.id = s.order_id WHERE o.buyer_id = :s",
        {
            "recipientName": "recipient_name",
            "recipientPhone": "recipient_phone",
            "recipientAddress": "recipient_address",
        },
    ),
    "Shipment.logistics": (
        "shipment",
        "SELECT * FROM shipments WHERE logistics_id = :s",
        {"logisticsOperator": LINK},
    ),
    "Payment": (
        "payment",
        "SELECT * FROM payments WHERE payer_id = :s",
        {"cardLast4": "card_last4", "payer": LINK},
    ),
    "Invoice.buyer": (
        "invoice",
        "SELECT * FROM invoices WHERE buyer_id = :s",
        {"billingName": "billing_name", "billingAddress": "billing_address", "buyer": LINK},
    ),
    "Invoice.seller": (
        "invoice",
        "SELECT * FROM invoices WHERE seller_id = :s",
        {"sellerTaxId": "tax_id", "seller": LINK},
    ),
    "Company": (
        "company",
        "SELECT * FROM companies WHERE contact_person_id = :s",
        {"taxId": "tax_id", "registeredAddress": "registered_address", "contactPerson": LINK},
    ),
    "Company.members": (
        "company",
        "SELECT c.* FROM companies c JOIN users u ON u.company_id = c.id WHERE u.id = :s",
        {"members": EACH},
    ),
    "Product": ("product", "SELECT * FROM products WHERE seller_id = :s", {"seller": LINK}),
    "Review": (
        "review",
        "SELECT * FROM reviews WHERE author_id = :s",
        {"rating": "rating", "text": "text", "author": LINK},
    ),
    "Video": (
        "video",
        "SELECT * FROM videos WHERE author_id = :s",
        {"url": "url", "caption": "caption", "author": LINK},
    ),
    "Comment": (
        "comment",
        "SELECT * FROM comments WHERE author_id = :s",
        {"text": "text", "author": LINK},
    ),
    "Conversation": (
        "conversation",
        "SELECT c.* FROM conversations c JOIN conversation_participants p "
        "ON p.conversation_id = c.id WHERE p.user_id = :s",
        {"participants": EACH},
    ),
}
SUBJECTS = sorted(DEMO_USERS.values())


def _selection(field: str, how: str) -> str:
    if how in (LINK, EACH) or how.startswith("LINK:"):
        return f"{field} {{ id }}"
    if how == EDGE:
        return f"{field} {{ __typename }}"
    return field


async def _rows(db: Database, subject: int) -> dict[str, list[dict[str, Any]]]:
    from sqlalchemy import text

    engine = create_engine(db.settings)
    try:
        async with engine.connect() as conn:
            found = {
                key: [dict(r) for r in (await conn.execute(text(sql), {"s": subject})).mappings()]
                for key, (_, sql, _) in RECORDS.items()
            }
            found["messages"] = [
                dict(r)
                for r in (
                    await conn.execute(
                        text(
                            "SELECT m.*, u.full_name AS sender_name FROM messages m "
                            "JOIN users u ON u.id = m.sender_id WHERE m.sender_id = :s"
                        ),
                        {"s": subject},
                    )
                ).mappings()
            ]
            found["orders"] = [
                dict(r) for r in (await conn.execute(text("SELECT * FROM orders"))).mappings()
            ]
    finally:
        await engine.dispose()
    return found


def _query(rows: dict[str, list[dict[str, Any]]]) -> str:
    roots = []
    for key, (root, _, fields) in RECORDS.items():
        selection = " ".join(_selection(f, how) for f, how in fields.items())
        for row in rows[key]:
            alias = f"{key.replace('.', '_')}_{row['id']}"
            roots.append(f'{alias}: {root}(id: "{row["id"]}") {{ id {selection} }}')
    for row in rows["messages"]:
        roots.append(
            f'm_{row["id"]}: conversation(id: "{row["conversation_id"]}") '
            "{ messages { id body senderName sender { id } } }"
        )
    return "{ " + "\n".join(roots) + " }"


def _reachable(
    viewer: ViewerClass, key: str, row: dict[str, Any], world: World, orders: dict[int, Any]
) -> bool:
    """Whether this viewer can reach this row at all (row visibility, read independently)."""
    type_name = key.split(".")[0]
    entity = "Conversation" if type_name == "Message" else type_name
    if viewer.role is not None:
        return entity in ROLE_ENTITIES[viewer.role]
    me = viewer.user_id
    if type_name in ("User", "Company", "Product", "Review", "Video", "Comment"):
        return True
    if me is None:
        return False
    if type_name in ("Order", "Shipment", "Payment", "Invoice"):
        order = orders[row["id"] if type_name == "Order" else row["order_id"]]
        carriers = {
            s["logistics_id"]
            for s in world.rows["shipments"].values()
            if s["order_id"] == order["id"]
        }
        if type_name == "Payment":
            return me in (row["payer_id"], order["seller_id"])
        if type_name == "Invoice":
            return me in (row["buyer_id"], row["seller_id"])
        return me in (order["buyer_id"], order["seller_id"]) or me in carriers
    if type_name in ("Conversation", "Message"):
        conversation = row["id"] if type_name == "Conversation" else row["conversation_id"]
        return me in world.participants.get(conversation, set())
    return False


def _verdict(claim: str, received: Any, raw: Any, how: str, subject: int) -> bool:
    if how == EACH:
        listed = received is not None and {"id": str(subject)} in received
        return listed if claim != "STRIP" else not listed
    if claim == "STRIP":
        return received is None
    if how in (LINK, EDGE):
        return received is not None
    if claim == "SHOW":
        return _same(received, raw)
    return received is not None and not _same(received, raw)  # MASK


def _same(received: Any, raw: Any) -> bool:
    if isinstance(raw, str) and raw[:4].isdigit() and raw[4:5] == "-":
        raw = datetime.fromisoformat(raw)  # a timestamp as SQLite returns it to raw SQL
    if isinstance(raw, datetime):
        moment = datetime.fromisoformat(str(received)) if received is not None else None
        expected = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        return moment is not None and moment == expected
    if isinstance(raw, str) and isinstance(received, str):
        return received == raw
    return bool(received == raw)


def _viewers(db: Database, world: World, subject: int) -> list[tuple[ViewerClass, str]]:
    """Real viewers and the viewer-class label redactionStatus uses for them."""
    found: list[tuple[ViewerClass, str]] = [(ViewerClass("anonymous"), "PUBLIC")]
    for uid in SUBJECTS:
        state = world.rows["users"][uid]["deletion_state"]
        if state in ("ERASED", "PURGED"):
            continue  # their tokens are refused
        viewer = ViewerClass(f"user {uid}", user_id=uid)
        relationship = world.relationship(viewer, subject, None)
        found.append((viewer, relationship.value))
    staff = {Role(role): employee_id for employee_id, role in DEMO_EMPLOYEES.values()}
    for role in Role:
        for purpose in Purpose:
            viewer = ViewerClass(f"{role}/{purpose}", employee=(staff[role], role), purpose=purpose)
            label = audience_label(Audience(Relationship.EMPLOYEE, role, purpose))
            found.append((viewer, label))
    return found


@pytest.fixture(scope="module")
async def world(db: Database) -> World:
    engine = create_engine(db.settings)
    try:
        async with engine.connect() as conn:
            return await World.load(conn)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("subject", SUBJECTS)
async def test_every_claim_is_what_the_viewer_receives(
    reader: httpx.AsyncClient, db: Database, world: World, subject: int
) -> None:
    status = await gql(
        reader, STATUS, {"id": str(subject)}, token=employee_token(db, "dpo"), purpose="LEGAL"
    )
    claims = {
        (f["typeName"], f["fieldName"]): {o["viewer"]["label"]: o["action"] for o in f["outcomes"]}
        for f in status["data"]["redactionStatus"]["fields"]
    }
    rows = await _rows(db, subject)
    orders = {o["id"]: o for o in rows["orders"]}
    query = _query(rows)
    compared: Counter[str] = Counter()
    wrong: list[str] = []
    for viewer, label in _viewers(db, world, subject):
        headers = viewer.headers(db.settings)
        response = await reader.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, (viewer.label, body.get("errors"))
        data = body["data"]
        for key, (_, _, fields) in RECORDS.items():
            type_name = key.split(".")[0]
            for row in rows[key]:
                got = data[f"{key.replace('.', '_')}_{row['id']}"]
                reachable = _reachable(viewer, key, row, world, orders)
                for field, how in fields.items():
                    claim = claims[(type_name, field)][label]
                    if not reachable and claim != "STRIP":
                        continue
                    if how.startswith("LINK:"):
                        if row[how.split(":")[1]] is None:
                            continue  # no link stored: nothing to learn
                        how = LINK
                    raw = None if how in (LINK, EDGE, EACH) else row[how]
                    if raw is None and how not in (LINK, EDGE, EACH):
                        continue  # nothing stored: nothing to learn
                    received = None if got is None else got[field]
                    compared[claim] += 1
                    if not _verdict(claim, received, raw, how, subject):
                        wrong.append(
                            f"{viewer.label} ({label}) {type_name}#{row['id']}.{field}: "
                            f"claimed {claim}, received {received!r}"
                        )
        for row in rows["messages"]:
            messages = (data[f"m_{row['id']}"] or {}).get("messages") or []
            got = next((m for m in messages if m["id"] == str(row["id"])), None)
            reachable = _reachable(viewer, "Message", row, world, orders)
            for field, how in (("body", "body"), ("senderName", "sender_name"), ("sender", LINK)):
                claim = claims[("Message", field)][label]
                if not reachable and claim != "STRIP":
                    continue
                raw = None if how == LINK else row[how]
                received = None if got is None else got[field]
                compared[claim] += 1
                if not _verdict(claim, received, raw, how, subject):
                    wrong.append(
                        f"{viewer.label} ({label}) Message#{row['id']}.{field}: "
                        f"claimed {claim}, received {received!r}"
                    )
    print(f"\nsubject {subject}: {dict(compared)} claims compared with what viewers received")
    assert not wrong, "\n".join(wrong[:40])
    assert compared["STRIP"] > 0 and compared["SHOW"] > 0


def test_the_comparison_can_fail() -> None:
    assert not _verdict("MASK", None, "x", "full_name", 1)  # a mask that produced nothing
    assert not _verdict("SHOW", "J. D.", "Jane Doe", "full_name", 1)
    assert not _verdict("STRIP", {"id": "1"}, None, LINK, 1)
    assert not _verdict("STRIP", [{"id": "1"}], None, EACH, 1)
    assert not _verdict("SHOW", [{"id": "2"}], None, EACH, 1)
    assert _verdict("MASK", "J. D.", "Jane Doe", "full_name", 1)
    moment = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert _verdict("SHOW", moment.isoformat(), moment, "created_at", 1)
    assert _verdict("MASK", "2026-03-01T00:00:00+00:00", moment, "created_at", 1)
