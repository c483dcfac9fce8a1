"""Row visibility: each viewer sees only the rows their relationship or role covers."""

from __future__ import annotations

import httpx

from gateway.seed import DEMO_USERS
from tests.conftest import Database, employee_token, fetch, gql, user_token

ORDERS = "{ orders(first: 100) { nodes { id } } }"


def ids(body: dict, root: str) -> set[int]:  # type: ignore[type-arg]
    return {int(node["id"]) for node in body["data"][root]["nodes"]}


async def test_buyer_sees_own_orders(client: httpx.AsyncClient, db: Database) -> None:
    me = DEMO_USERS["buyer"]
    expected = {r[0] for r in await fetch(db, "SELECT id FROM orders WHERE buyer_id = :me", me=me)}
    body = await gql(client, ORDERS, token=user_token(db, "buyer"))
    assert ids(body, "orders") == expected and expected


async def test_seller_sees_own_sales(client: httpx.AsyncClient, db: Database) -> None:
    me = DEMO_USERS["seller"]
    expected = {
        r[0]
        for r in await fetch(
            db, "SELECT id FROM orders WHERE seller_id = :me OR buyer_id = :me", me=me
        )
    }
    body = await gql(client, ORDERS, token=user_token(db, "seller"))
    assert ids(body, "orders") == expected and expected


async def test_logistics_sees_assigned_shipments_and_their_orders(
    client: httpx.AsyncClient, db: Database
) -> None:
    me = DEMO_USERS["logistics"]
    assigned = await fetch(db, "SELECT id, order_id FROM shipments WHERE logistics_id = :me", me=me)
    token = user_token(db, "logistics")
    shipments = await gql(client, "{ shipments(first: 100) { nodes { id } } }", token=token)
    assert ids(shipments, "shipments") == {r[0] for r in assigned} and assigned
    orders = await gql(client, ORDERS, token=token)
    assert ids(orders, "orders") == {r[1] for r in assigned}


async def test_someone_elses_order_is_not_found(client: httpx.AsyncClient, db: Database) -> None:
    (order_id,) = (
        await fetch(db, "SELECT min(id) FROM orders WHERE buyer_id = :b", b=DEMO_USERS["buyer"])
    )[0]
    query = "query($id: ID!) { order(id: $id) { id } }"
    mine = await gql(client, query, {"id": str(order_id)}, token=user_token(db, "buyer"))
    assert mine["data"]["order"]["id"] == str(order_id)
    for token in (user_token(db, "other_buyer"), None):
        theirs = await gql(client, query, {"id": str(order_id)}, token=token)
        assert theirs["data"]["order"] is None
        assert "errors" not in theirs
    absent = await gql(client, query, {"id": "999999999"}, token=user_token(db, "buyer"))
    assert absent["data"]["order"] is None


async def test_conversations_only_for_participants(client: httpx.AsyncClient, db: Database) -> None:
    me = DEMO_USERS["buyer"]
    expected = {
        r[0]
        for r in await fetch(
            db, "SELECT conversation_id FROM conversation_participants WHERE user_id = :me", me=me
        )
    }
    query = "{ conversations(first: 100) { nodes { id } } }"
    body = await gql(client, query, token=user_token(db, "buyer"))
    assert ids(body, "conversations") == expected and expected
    other = await gql(client, query, token=user_token(db, "other_buyer"))
    assert not ids(other, "conversations") & expected
    finance = await gql(client, query, token=employee_token(db, "finance"), purpose="BILLING")
    assert ids(finance, "conversations") == set()


async def test_relationship_lists_are_filtered_too(client: httpx.AsyncClient, db: Database) -> None:
    """`user.orders` of the buyer, read by the seller, lists only that seller's sales."""
    buyer, seller = DEMO_USERS["buyer"], DEMO_USERS["seller"]
    expected = {
        r[0]
        for r in await fetch(
            db, "SELECT id FROM orders WHERE buyer_id = :b AND seller_id = :s", b=buyer, s=seller
        )
    }
    body = await gql(
        client,
        "query($id: ID!) { user(id: $id) { orders { id seller { id } } } }",
        {"id": str(buyer)},
        token=user_token(db, "seller"),
    )
    got = body["data"]["user"]["orders"]
    assert {int(o["id"]) for o in got} == expected and expected


async def test_employees_see_what_their_role_covers(
    client: httpx.AsyncClient, db: Database
) -> None:
    (total,) = (await fetch(db, "SELECT count(*) FROM invoices"))[0]
    finance = await gql(
        client,
        "{ invoices(first: 100) { nodes { id } } }",
        token=employee_token(db, "finance"),
        purpose="BILLING",
    )
    assert len(finance["data"]["invoices"]["nodes"]) == min(total, 100) > 0
    analyst = await gql(
        client,
        "{ invoices(first: 100) { nodes { id } } }",
        token=employee_token(db, "analyst"),
        purpose="ANALYTICS",
    )
    assert analyst["data"]["invoices"]["nodes"] == []


async def test_anonymous_sees_only_public_catalogue(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "{ orders { nodes { id } } users { nodes { id } } products(first: 3) { nodes { id } } }",
    )
    assert body["data"]["orders"]["nodes"] == []
    assert body["data"]["users"]["nodes"] == []
    assert len(body["data"]["products"]["nodes"]) == 3
