"""The personal-data catalog and redactionStatus come from the schema's directives alone."""

from __future__ import annotations

import httpx
import strawberry

from directives.masking import Strategy
from directives.policy import DEFAULT_POLICY
from directives.taxonomy import Category
from gateway.seed import DEMO_USERS
from schema.build import OBJECT_TYPES, build_schema
from schema.catalog import as_json, as_markdown, catalog
from schema.types.common import personal
from tests.conftest import Database, employee_token, gql, user_token


def test_catalog_lists_every_personal_field() -> None:
    entries = {(e.type_name, e.field_name): e for e in catalog(build_schema(), DEFAULT_POLICY)}
    email = entries[("User", "email")]
    assert email.category is Category.USER_CONTACT_EMAIL
    assert email.strategy == "EMAIL"
    assert ("Shipment", "recipientPhone") in entries
    assert entries[("Shipment", "recipientPhone")].subject == "buyer"
    assert entries[("Invoice", "billingName")].retained is not None
    assert entries[("Invoice", "billingName")].retained.years == 5
    assert ("Product", "title") not in entries
    table = as_markdown(list(entries.values()))
    assert "| User | email | user.contact.email |" in table


def test_annotating_a_new_field_puts_it_in_the_catalog() -> None:
    @strawberry.type
    class LoyaltyCard:
        number: str
        holder_birthday: str | None = personal(Category.USER_ACCOUNT_CREATED, Strategy.GENERALIZE)

    before = {(e.type_name, e.field_name) for e in catalog(build_schema(), DEFAULT_POLICY)}
    extended = build_schema(types=(*OBJECT_TYPES, LoyaltyCard))
    after = {(e["type"], e["field"]) for e in as_json(catalog(extended, DEFAULT_POLICY))}
    assert after - before == {("LoyaltyCard", "holderBirthday")}


async def test_privacy_catalog_over_graphql(client: httpx.AsyncClient, db: Database) -> None:
    query = (
        "{ privacyCatalog { typeName fieldName category seenBy { label } lawfulBases "
        "retention { years } } }"
    )
    body = await gql(client, query, token=employee_token(db, "dpo"), purpose="LEGAL")
    rows = {(r["typeName"], r["fieldName"]): r for r in body["data"]["privacyCatalog"]}
    assert rows[("User", "email")]["category"] == "user.contact.email"
    assert "SELF" in {v["label"] for v in rows[("User", "email")]["seenBy"]}
    assert rows[("Payment", "cardLast4")]["retention"] == {"years": 5}
    # The privacy notice in machine-readable form: anyone reads it, anonymous included,
    # and gets the same catalog.
    for token in (user_token(db, "buyer"), None):
        public = await gql(client, query, token=token)
        assert public["data"]["privacyCatalog"] == body["data"]["privacyCatalog"]
    # A refusal elsewhere nulls only its own field, with a typed code.
    mixed = await gql(
        client,
        '{ privacyCatalog { fieldName } redactionStatus(subjectId: "1") { subjectId } }',
        expect_errors=True,
    )
    assert mixed["data"]["privacyCatalog"] and mixed["data"]["redactionStatus"] is None
    assert [e["extensions"]["code"] for e in mixed["errors"]] == ["FORBIDDEN"]


async def test_redaction_status_reflects_the_subjects_state(
    client: httpx.AsyncClient, db: Database
) -> None:
    query = """query($id: ID!) { redactionStatus(subjectId: $id) {
        deletionState analyticsConsent policyVersion
        fields { typeName fieldName outcomes { viewer { label } action reason } } } }"""

    def outcome(body: dict, type_name: str, field: str, label: str) -> tuple[str, str]:  # type: ignore[type-arg]
        for f in body["data"]["redactionStatus"]["fields"]:
            if (f["typeName"], f["fieldName"]) == (type_name, field):
                for o in f["outcomes"]:
                    if o["viewer"]["label"] == label:
                        return o["action"], o["reason"]
        raise AssertionError(f"{type_name}.{field} for {label} missing")

    token = employee_token(db, "dpo")
    analyst = "EMPLOYEE:ANALYST/ANALYTICS"
    active = await gql(
        client, query, {"id": str(DEMO_USERS["buyer"])}, token=token, purpose="LEGAL"
    )
    assert outcome(active, "User", "email", analyst) == ("MASK", "PSEUDONYMISED")
    assert outcome(active, "User", "email", "SELF") == ("SHOW", "SELF")
    withdrawn = await gql(
        client, query, {"id": str(DEMO_USERS["buyer_withdrawn"])}, token=token, purpose="LEGAL"
    )
    assert withdrawn["data"]["redactionStatus"]["analyticsConsent"] is False
    assert outcome(withdrawn, "User", "email", analyst) == ("STRIP", "NOT_PERMITTED")
    support_class = "EMPLOYEE:SUPPORT/SUPPORT"
    assert outcome(withdrawn, "User", "email", support_class) == ("SHOW", "ROLE_PURPOSE_PERMITS")
    erased = await gql(
        client, query, {"id": str(DEMO_USERS["buyer_erased"])}, token=token, purpose="LEGAL"
    )
    assert erased["data"]["redactionStatus"]["deletionState"] == "ERASED"
    assert outcome(erased, "User", "fullName", "PUBLIC") == ("MASK", "NOT_PERMITTED")
    assert outcome(erased, "User", "fullName", "EMPLOYEE:DPO/LEGAL") == ("MASK", "ERASED")
    # A whole address masks to nothing: claimed as the STRIP it is, not a MASK.
    assert outcome(active, "Order", "shippingAddress", "EMPLOYEE:SUPPORT/SUPPORT")[0] == "STRIP"
    # Finance cannot reach shipments at all (Art. 3.2): nothing of them, whatever the field.
    assert outcome(active, "Shipment", "recipientName", "EMPLOYEE:FINANCE/BILLING") == (
        "STRIP",
        "ROLE_NOT_PERMITTED",
    )
    support = await gql(
        client,
        query,
        {"id": str(DEMO_USERS["buyer"])},
        token=employee_token(db, "support"),
        purpose="SUPPORT",
    )
    assert support["data"]["redactionStatus"]["fields"]
    finance = await gql(
        client,
        query,
        {"id": str(DEMO_USERS["buyer"])},
        token=employee_token(db, "finance"),
        purpose="BILLING",
        expect_errors=True,
    )
    assert "DPO and support" in finance["errors"][0]["message"]
