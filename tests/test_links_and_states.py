"""Links, states and aggregates are personal data too (DESIGN 4): the walk-throughs of the
issue that found them leaking, each as a test, and the storage-limitation check."""

from __future__ import annotations

import graphql
import httpx
import pytest

from directives.decision import STATE_REASONS, Action
from directives.policy import DEFAULT_POLICY, SubjectState, audiences
from directives.taxonomy import DeletionState
from gateway.seed import DEMO_USERS
from schema.build import build_schema
from tests.conftest import Database, employee_token, fetch, gql, user_token
from tests.leakcheck import COLUMNS, personal_fields
from tests.test_route_independence import VIEWERS, route_queries

PENDING = DEMO_USERS["buyer_erasure_pending"]


async def test_a_hidden_authors_reviews_count_for_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    rows = await fetch(
        db,
        "SELECT r.product_id, r.rating, u.deletion_state, u.analytics_consent "
        "FROM reviews r JOIN users u ON u.id = r.author_id "
        "WHERE r.product_id IN (SELECT product_id FROM reviews WHERE author_id = :p)",
        p=PENDING,
    )
    product = rows[0][0]
    ratings = [(rating, state, consent) for pid, rating, state, consent in rows if pid == product]
    query = "query($id: ID!) { product(id: $id) { ratingAvg ratingCount } }"

    def expected(keep: list[int]) -> dict[str, object]:
        return {"ratingAvg": sum(keep) / len(keep) if keep else None, "ratingCount": len(keep)}

    public = await gql(client, query, {"id": str(product)})
    assert public["data"]["product"] == expected([r for r, s, _ in ratings if s == "ACTIVE"])
    dpo = await gql(
        client, query, {"id": str(product)}, token=employee_token(db, "dpo"), purpose="LEGAL"
    )
    assert dpo["data"]["product"] == expected([r for r, _, _ in ratings])
    analyst = await gql(
        client,
        query,
        {"id": str(product)},
        token=employee_token(db, "analyst"),
        purpose="ANALYTICS",
    )
    consenting = [r for r, s, c in ratings if s == "ACTIVE" and c]
    assert analyst["data"]["product"] == expected(consenting)
    # The pending author's review really was left out for the public.
    assert public["data"]["product"]["ratingCount"] < dpo["data"]["product"]["ratingCount"]


async def test_a_pending_users_records_are_not_listed_under_them(
    client: httpx.AsyncClient, db: Database
) -> None:
    query = (
        "query($id: ID!) { user(id: $id) { deletionState reviews { id rating } "
        "videos { id } comments { id } } }"
    )
    anonymous = await gql(client, query, {"id": str(PENDING)})
    assert anonymous["data"]["user"] == {
        "deletionState": None,
        "reviews": None,
        "videos": None,
        "comments": None,
    }
    reasons = {r["reason"] for r in anonymous["extensions"]["privacy"]["redactions"]}
    assert reasons == {"NOT_PERMITTED"}, reasons
    own = await gql(client, query, {"id": str(PENDING)}, token=user_token(db, PENDING))
    assert own["data"]["user"]["deletionState"] == "ERASURE_PENDING"
    assert own["data"]["user"]["reviews"], "the subject still sees their own reviews"
    support = await gql(
        client, query, {"id": str(PENDING)}, token=employee_token(db, "support"), purpose="SUPPORT"
    )
    assert support["data"]["user"]["deletionState"] == "ERASURE_PENDING"


async def test_a_companys_members_follow_its_contact_person(
    client: httpx.AsyncClient, db: Database
) -> None:
    (company, contact), *_ = await fetch(
        db,
        "SELECT c.id, c.contact_person_id FROM companies c JOIN users u ON u.company_id = c.id "
        "WHERE c.contact_person_id = :s",
        s=DEMO_USERS["seller"],
    )
    query = "query($id: ID!) { company(id: $id) { contactPerson { id } members { id } } }"
    anonymous = await gql(client, query, {"id": str(company)})
    assert anonymous["data"]["company"] == {"contactPerson": None, "members": []}
    user = await gql(client, f'{{ user(id: "{contact}") {{ company {{ id }} }} }}')
    assert user["data"]["user"]["company"] is None
    # A buyer with an order in progress deals with the company: both are shown.
    buyer = await gql(client, query, {"id": str(company)}, token=user_token(db, "buyer"))
    assert buyer["data"]["company"]["contactPerson"] == {"id": str(contact)}
    assert {"id": str(contact)} in buyer["data"]["company"]["members"]


@pytest.mark.parametrize(("label", "who", "purpose"), VIEWERS, ids=[v[0] for v in VIEWERS])
async def test_no_reason_names_a_state_to_a_viewer_who_may_not_know_it(
    reader: httpx.AsyncClient, db: Database, label: str, who: str | None, purpose: str | None
) -> None:
    if who is None:
        token = None
    elif purpose is None:
        token = user_token(db, who)
    else:
        token = employee_token(db, who)
    reasons: set[str] = set()
    for query in route_queries().values():
        body = await gql(reader, query, token=token, purpose=purpose, expect_errors=True)
        reasons |= {r["reason"] for r in body["extensions"]["privacy"]["redactions"]}
        reasons |= {e["message"] for e in body.get("errors", ())}
    named = {reason for reason in STATE_REASONS if any(reason in r for r in reasons)}
    if label in ("support", "finance", "dpo", "security"):
        assert named, f"{label} handles these states and reads their reasons"
    else:
        assert not named, (label, named)


async def test_no_stored_personal_value_is_one_nobody_may_read(db: Database) -> None:
    """Storage limitation: every personal value kept of an erased subject is one some viewer
    class may still read (a retained record, a message body in a chat); anything else must
    be gone from the database."""
    schema = graphql.build_schema(build_schema().as_str())
    fields = personal_fields(schema)
    erased = [
        row[0] for row in await fetch(db, "SELECT id FROM users WHERE deletion_state = 'ERASED'")
    ]
    assert DEMO_USERS["buyer_erased"] in erased and len(erased) > 1
    unreadable: list[str] = []
    kept = 0
    for column in COLUMNS:
        table, subject = column.table, f"{column.table}.{column.subject_column or 'id'}"
        source = table
        if table == "shipments":  # the recipient is the order's buyer
            source, subject = "shipments JOIN orders ON orders.id = shipments.order_id", "buyer_id"
        rows = await fetch(
            db,
            f"SELECT {table}.id, {subject} FROM {source} WHERE {table}.{column.column} "
            f"IS NOT NULL AND {subject} IN ({', '.join(map(str, erased))})",
        )
        for row_id, subject_id in rows:
            readable = False
            for type_name, field_name in column.fields:
                pf = fields[(type_name, field_name)]
                state = _erased_state()
                for _, decision in DEFAULT_POLICY.explain(pf.category, state, retained=pf.retained):
                    readable |= decision.action is Action.SHOW
            kept += 1
            if not readable:
                unreadable.append(f"{column.table}[{row_id}].{column.column} of user {subject_id}")
    assert not unreadable, unreadable[:20]
    assert kept > 0, "the erased subjects keep their retained records (invoices, payments)"
    # The check can fail: an erased subject's shipping address is readable by nobody.
    state = _erased_state()
    address = fields[("Order", "shippingAddress")]
    assert all(
        d.action is not Action.SHOW
        for _, d in DEFAULT_POLICY.explain(address.category, state, retained=True)
    )
    assert len(audiences()) > 30


def _erased_state() -> SubjectState:
    return SubjectState(DeletionState.ERASED, analytics_consent=False)
