"""What each viewer sees of a person, end to end over HTTP, with the report saying why."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.seed import DEMO_USERS
from tests.conftest import Database, employee_token, fetch, gql, user_token

ORDER_BUYER = """
query($id: ID!) { order(id: $id) { status buyer { fullName email phone }
  shipment { recipientName recipientPhone recipientAddress } } }
"""


async def _active_order(db: Database) -> tuple[int, Any]:
    rows = await fetch(
        db,
        "SELECT o.id, u.full_name, u.phone, u.email "
        "FROM orders o JOIN users u ON u.id = o.buyer_id "
        "WHERE o.buyer_id = :b AND o.seller_id = :s AND o.status IN ('PLACED','PAID','SHIPPED') "
        "ORDER BY o.id",
        b=DEMO_USERS["buyer"],
        s=DEMO_USERS["seller"],
    )
    assert rows, "the demo data has an order in progress between the demo buyer and seller"
    return rows[0][0], rows[0]


async def test_seller_of_an_order_in_progress_sees_name_and_phone(
    client: httpx.AsyncClient, db: Database
) -> None:
    order_id, raw = await _active_order(db)
    body = await gql(client, ORDER_BUYER, {"id": str(order_id)}, token=user_token(db, "seller"))
    buyer = body["data"]["order"]["buyer"]
    assert buyer["fullName"] == raw.full_name
    assert buyer["phone"] == raw.phone
    assert buyer["email"] != raw.email  # fulfilment does not need the email: masked
    assert buyer["email"] is not None and "@" in buyer["email"]


async def test_another_buyer_sees_nothing_of_it(client: httpx.AsyncClient, db: Database) -> None:
    order_id, _ = await _active_order(db)
    body = await gql(
        client, ORDER_BUYER, {"id": str(order_id)}, token=user_token(db, "other_buyer")
    )
    assert body["data"]["order"] is None


async def test_analyst_sees_pseudonyms_and_nothing_of_the_withdrawn(
    client: httpx.AsyncClient, db: Database
) -> None:
    query = "query($id: ID!) { user(id: $id) { fullName email phone } }"
    token = employee_token(db, "analyst")
    active = await gql(
        client, query, {"id": str(DEMO_USERS["buyer"])}, token=token, purpose="ANALYTICS"
    )
    assert active["data"]["user"]["fullName"].startswith("psn_")
    again = await gql(
        client, query, {"id": str(DEMO_USERS["buyer"])}, token=token, purpose="ANALYTICS"
    )
    assert again["data"]["user"] == active["data"]["user"], "pseudonyms are stable"
    withdrawn = await gql(
        client, query, {"id": str(DEMO_USERS["buyer_withdrawn"])}, token=token, purpose="ANALYTICS"
    )
    # A person who withdrew consent contributes nothing to analytics: not found at all,
    # and nothing in the report says why.
    assert withdrawn["data"]["user"] is None
    assert withdrawn["extensions"]["privacy"]["redactions"] == []


async def test_everyone_sees_an_erased_user_as_deleted_user(
    client: httpx.AsyncClient, db: Database
) -> None:
    query = "query($id: ID!) { user(id: $id) { fullName email phone } }"
    erased = {"id": str(DEMO_USERS["buyer_erased"])}
    viewers = [
        (None, None),
        (user_token(db, "seller"), None),
        (employee_token(db, "support"), "SUPPORT"),
        (employee_token(db, "dpo"), "LEGAL"),
        (employee_token(db, "analyst"), "ANALYTICS"),
    ]
    for token, purpose in viewers:
        body = await gql(client, query, erased, token=token, purpose=purpose)
        user = body["data"]["user"]
        if purpose == "ANALYTICS":  # erased subjects have no consent left: not found
            assert user is None
            continue
        assert user["email"] is None and user["phone"] is None, purpose
        assert user["fullName"] == "Deleted user", purpose


async def test_erased_buyers_invoices_are_kept_for_finance_only(
    client: httpx.AsyncClient, db: Database
) -> None:
    rows = await fetch(
        db,
        "SELECT id, billing_name FROM invoices WHERE buyer_id = :b ORDER BY id",
        b=DEMO_USERS["buyer_erased"],
    )
    assert rows, "the erased demo buyer still has invoices (Art. 6.5)"
    query = "query($id: ID!) { invoice(id: $id) { billingName number } }"
    finance = await gql(
        client,
        query,
        {"id": str(rows[0][0])},
        token=employee_token(db, "finance"),
        purpose="BILLING",
    )
    assert finance["data"]["invoice"]["billingName"] == rows[0][1]
    support = await gql(
        client, query, {"id": str(rows[0][0])}, token=employee_token(db, "dpo"), purpose="SUPPORT"
    )
    assert support["data"]["invoice"]["billingName"] != rows[0][1]


async def test_report_groups_by_path_with_indices_collapsed(
    client: httpx.AsyncClient, db: Database
) -> None:
    states = dict(
        await fetch(
            db,
            "SELECT CASE WHEN deletion_state != 'ACTIVE' THEN deletion_state "
            "WHEN NOT analytics_consent THEN 'WITHDRAWN' ELSE 'ACTIVE' END, "
            "count(*) FROM users WHERE id <= 100 GROUP BY 1",
        )
    )
    assert states["WITHDRAWN"] and states["ERASED"] and states["ERASURE_PENDING"]
    body = await gql(
        client,
        "{ people: users(first: 100) { nodes { mail: email fullName } } }",
        token=employee_token(db, "analyst"),
        purpose="ANALYTICS",
    )
    privacy = body["extensions"]["privacy"]
    assert privacy["purpose"] == "ANALYTICS" and privacy["policyVersion"]
    groups = {(g["path"], g["action"], g["reason"]): g["count"] for g in privacy["redactions"]}
    mail = "people.nodes[*].mail"
    # People who withdrew consent, or are pending erasure or erased, are not listed to
    # analysts at all: the page and the report count only consenting, active people.
    assert groups == {
        (mail, "MASK", "PSEUDONYMISED"): states["ACTIVE"],
        ("people.nodes[*].fullName", "MASK", "PSEUDONYMISED"): states["ACTIVE"],
    }
    assert len(body["data"]["people"]["nodes"]) == states["ACTIVE"] > 0
    assert "paths" not in privacy


async def test_full_report_on_request(client: httpx.AsyncClient, db: Database) -> None:
    body = await gql(
        client,
        "{ users(first: 3) { nodes { email } } }",
        token=employee_token(db, "analyst"),
        purpose="ANALYTICS",
        headers={"X-Privacy-Report": "full"},
    )
    paths = body["extensions"]["privacy"]["paths"]
    assert {p["path"] for p in paths} == {f"users.nodes[{i}].email" for i in range(3)}


async def test_a_field_not_asked_for_is_not_reported(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = await gql(
        client,
        "{ users(first: 5) { nodes { id } } }",
        token=employee_token(db, "analyst"),
        purpose="ANALYTICS",
    )
    assert body["extensions"]["privacy"]["redactions"] == []


async def test_role_without_the_purpose_gets_nothing_personal(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = await gql(
        client,
        "{ users(first: 5) { nodes { fullName email } pageInfo { hasNextPage } } }",
        token=employee_token(db, "analyst"),
        purpose="BILLING",
    )
    # Everyone's every field is stripped, so nobody is found: an empty page, no report.
    assert body["data"]["users"]["nodes"] == []
    assert body["data"]["users"]["pageInfo"]["hasNextPage"] is True
    assert body["extensions"]["privacy"]["redactions"] == []


async def test_erased_senders_messages_stay_visible_to_the_other_participants(
    client: httpx.AsyncClient, db: Database
) -> None:
    rows = await fetch(
        db,
        "SELECT m.conversation_id, m.body, p.user_id FROM messages m "
        "JOIN conversation_participants p ON p.conversation_id = m.conversation_id "
        "JOIN users u ON u.id = p.user_id "
        "WHERE m.sender_id IS NULL AND u.deletion_state = 'ACTIVE' ORDER BY m.id",
    )
    assert rows, "the demo data has a chat with an erased sender"
    conversation_id, body, reader = rows[0]
    query = (
        "query($id: ID!) { conversation(id: $id) { messages { body senderName sender { id } } } }"
    )
    got = await gql(client, query, {"id": str(conversation_id)}, token=user_token(db, reader))
    detached = [
        m for m in got["data"]["conversation"]["messages"] if m["sender"] is None and m["body"]
    ]
    assert body in {m["body"] for m in detached}
    assert {m["senderName"] for m in detached} == {"Deleted user"}
