"""The erasure plan (Art. 6.4-6.5): what erasing a subject does to every column that holds
their personal data, as data counsel can read row by row.

    ANONYMIZE  the value is wiped (null; `to` when the column needs a value)
    DELETE     the rows are deleted (the subject's addresses, reviews, videos, comments)
    DETACH     the link to the subject is cut (a chat message keeps its body, not its sender)
    HOLD       kept under a legal hold until the hold ends, then `after_hold` applies
    KEEP       kept as it is: evidence of compliance, or not the subject's once detached

Rows are found through `owner`: the column naming the subject (`orders.buyer_id`), or a
path to it (a shipment's recipient is its order's buyer). `fields` names the GraphQL
fields a column backs, so the plan is checked against the schema's `@personal`
declarations and the models' personal columns (`check`): a personal column or field the
plan does not cover is refused, and a column added tomorrow cannot be forgotten.

Where DESIGN is silent: comments by others on an erased person's videos stay, detached from
the video (they are the other people's data); a conversation left with no participant has
nothing to preserve and is deleted with its messages; a company keeps its tax id and
registered address (the legal entity's data) and loses its contact person; a seller's
products stay listed, their seller reading as a deleted user; the subject's privacy
requests, consent ledger and correction history are kept as evidence, the request texts
written by the subject wiped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from directives.taxonomy import LawfulBasis


class Action(StrEnum):
    ANONYMIZE = "ANONYMIZE"
    DELETE = "DELETE"
    DETACH = "DETACH"
    HOLD = "HOLD"
    KEEP = "KEEP"


@dataclass(frozen=True, slots=True)
class Owner:
    """How a table's rows name the subject: `column`, or `column` into `via` (table,
    key column, the column there naming the subject)."""

    column: str
    via: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    table: str
    columns: tuple[str, ...]  # ("*",) for whole rows (DELETE)
    action: Action
    owner: Owner
    fields: tuple[str, ...] = ()  # "Type.field" of the schema backed by these columns
    to: object = None  # what ANONYMIZE writes (None: null)
    after_hold: Action = Action.KEEP  # HOLD only: what happens when the hold ends
    why: str = ""


@dataclass(frozen=True, slots=True)
class Hold:
    """A record type kept after erasure: its table, the date its hold counts from, and
    for how long after the end of that date's calendar year (Art. 6.1, 6.5)."""

    record_type: str
    table: str
    owner: Owner
    dated_by: str
    years: int = 5
    basis: LawfulBasis = LawfulBasis.LEGAL_OBLIGATION


A = Action
_BUYER = Owner("buyer_id")
_ORDER_BUYER = Owner("order_id", via=("orders", "id", "buyer_id"))

PLAN: tuple[Rule, ...] = (
    # The profile is anonymized; the account row stays, so records held point at someone.
    Rule(
        "users", ("full_name",), A.ANONYMIZE, Owner("id"), ("User.fullName", "Message.senderName")
    ),
    Rule("users", ("email",), A.ANONYMIZE, Owner("id"), ("User.email",), why="frees the email"),
    Rule("users", ("phone",), A.ANONYMIZE, Owner("id"), ("User.phone",)),
    Rule("users", ("created_at",), A.ANONYMIZE, Owner("id"), ("User.createdAt",)),
    Rule("users", ("analytics_consent",), A.ANONYMIZE, Owner("id"), (), to=False),
    Rule(
        "users",
        ("company_id",),
        A.DETACH,
        Owner("id"),
        ("User.company", "Company.members"),
    ),
    Rule(
        "users",
        ("deletion_state", "erasure_requested_at", "erased_at"),
        A.KEEP,
        Owner("id"),
        ("User.deletionState",),
        why="ERASED, then PURGED: what the gateway decides by, and evidence",
    ),
    Rule(
        "addresses",
        ("*",),
        A.DELETE,
        Owner("user_id"),
        ("Address.line1", "Address.city", "Address.postalCode", "User.addresses"),
    ),
    Rule(
        "reviews",
        ("*",),
        A.DELETE,
        Owner("author_id"),
        ("Review.rating", "Review.text", "Review.author", "User.reviews"),
        why="product ratings are recomputed without them",
    ),
    Rule(
        "comments",
        ("video_id",),
        A.DETACH,
        Owner("video_id", via=("videos", "id", "author_id")),
        why="other people's comments on the subject's videos stay, without the video",
    ),
    Rule(
        "videos",
        ("*",),
        A.DELETE,
        Owner("author_id"),
        ("Video.url", "Video.caption", "Video.author", "User.videos"),
    ),
    Rule(
        "comments",
        ("*",),
        A.DELETE,
        Owner("author_id"),
        ("Comment.text", "Comment.author", "User.comments"),
    ),
    Rule(
        "messages",
        ("sender_id",),
        A.DETACH,
        Owner("sender_id"),
        ("Message.sender",),
        why="the sender shows as 'Deleted user'",
    ),
    Rule(
        "messages",
        ("body",),
        A.KEEP,
        Owner("sender_id"),
        ("Message.body",),
        why="stays visible to the other participants (Art. 6.4)",
    ),
    Rule(
        "conversation_participants",
        ("*",),
        A.DELETE,
        Owner("user_id"),
        ("Conversation.participants", "User.conversations"),
        why="a conversation left with nobody is deleted with its messages",
    ),
    Rule(
        "companies",
        ("contact_person_id",),
        A.DETACH,
        Owner("contact_person_id"),
        ("Company.contactPerson",),
    ),
    Rule(
        "companies",
        ("tax_id", "registered_address"),
        A.KEEP,
        Owner("contact_person_id"),
        ("Company.taxId", "Company.registeredAddress"),
        why="the legal entity's, not the person's, once the contact is detached",
    ),
    Rule(
        "orders",
        ("shipping_address",),
        A.ANONYMIZE,
        _BUYER,
        ("Order.shippingAddress",),
        why="no legal basis keeps it: the invoice holds the billing address",
    ),
    Rule("orders", ("buyer_id",), A.HOLD, _BUYER, ("Order.buyer", "User.orders")),
    Rule("orders", ("seller_id",), A.HOLD, Owner("seller_id"), ("Order.seller", "User.sales")),
    Rule(
        "shipments",
        ("recipient_name", "recipient_phone", "recipient_address"),
        A.ANONYMIZE,
        _ORDER_BUYER,
        ("Shipment.recipientName", "Shipment.recipientPhone", "Shipment.recipientAddress"),
        why="copies of the profile; status, dates and tracking stay with the order",
    ),
    Rule(
        "shipments",
        ("logistics_id",),
        A.HOLD,
        Owner("logistics_id"),
        ("Shipment.logisticsOperator", "User.shipments"),
    ),
    Rule("payments", ("payer_id",), A.HOLD, Owner("payer_id"), ("Payment.payer",)),
    Rule(
        "payments",
        ("card_last4",),
        A.HOLD,
        Owner("payer_id"),
        ("Payment.cardLast4",),
        after_hold=A.ANONYMIZE,
    ),
    Rule("invoices", ("buyer_id",), A.HOLD, _BUYER, ("Invoice.buyer",)),
    Rule("invoices", ("seller_id",), A.HOLD, Owner("seller_id"), ("Invoice.seller",)),
    Rule(
        "invoices",
        ("billing_name", "billing_address"),
        A.HOLD,
        _BUYER,
        ("Invoice.billingName", "Invoice.billingAddress"),
        after_hold=A.ANONYMIZE,
    ),
    Rule(
        "invoices",
        ("tax_id",),
        A.HOLD,
        Owner("seller_id"),
        ("Invoice.sellerTaxId",),
        after_hold=A.ANONYMIZE,
    ),
    Rule(
        "products",
        ("seller_id",),
        A.KEEP,
        Owner("seller_id"),
        ("Product.seller", "User.products"),
        why="listings stay; their seller reads as a deleted user",
    ),
    Rule(
        "privacy_requests",
        ("details", "proposed_value"),
        A.ANONYMIZE,
        Owner("subject_id"),
        why="the subject's own words; the requests themselves are evidence",
    ),
    Rule(
        "privacy_requests",
        ("subject_id", "kind", "status", "received_at", "due_at", "outcome"),
        A.KEEP,
        Owner("subject_id"),
        why="evidence of compliance",
    ),
    Rule(
        "consents",
        ("*",),
        A.KEEP,
        Owner("subject_id"),
        why="evidence of consent; erasure appends the withdrawal it amounts to",
    ),
    Rule("correction_events", ("*",), A.KEEP, Owner("subject_id"), why="field names only"),
    Rule("legal_holds", ("*",), A.KEEP, Owner("subject_id"), why="what is held, until when"),
    Rule("notifications", ("subject_id",), A.KEEP, Owner("subject_id"), why="evidence (Art. 3.4)"),
    Rule(
        "audit_events",
        ("subject_id", "subjects"),
        A.KEEP,
        Owner("id", via=("audit_event_subjects", "event_id", "subject_id")),
        why="evidence of who read what; events name fields, never values",
    ),
    Rule(
        "audit_event_subjects",
        ("subject_id",),
        A.KEEP,
        Owner("subject_id"),
        why="the audit events' index by subject: kept with them (the chain verifies it)",
    ),
)

# Records kept after erasure, one row per record type: 5 years after the end of the
# calendar year of the record's date (Art. 6.1, 6.5).
# A record names several parties (a buyer and a seller), so each party's hold is a record
# type of its own: erasing the seller holds what the seller's rules mark HOLD.
HOLDS: tuple[Hold, ...] = (
    Hold("ORDER", "orders", _BUYER, "placed_at"),
    Hold("SHIPMENT", "shipments", _ORDER_BUYER, "updated_at"),
    Hold("PAYMENT", "payments", Owner("payer_id"), "created_at"),
    Hold("INVOICE", "invoices", _BUYER, "issued_at"),
    Hold("SALE", "orders", Owner("seller_id"), "placed_at"),
    Hold("SALE_INVOICE", "invoices", Owner("seller_id"), "issued_at"),
    Hold("CARRIAGE", "shipments", Owner("logistics_id"), "updated_at"),
)


@dataclass(frozen=True, slots=True)
class Coverage:
    columns: tuple[tuple[str, str], ...]  # personal columns the plan does not cover
    fields: tuple[str, ...]  # personal fields of the schema no rule backs
    unknown: tuple[str, ...]  # fields a rule names that the schema does not have

    def __bool__(self) -> bool:
        return not (self.columns or self.fields or self.unknown)

    def explain(self) -> str:
        parts = []
        if self.columns:
            parts.append("columns " + ", ".join(f"{t}.{c}" for t, c in self.columns))
        if self.fields:
            parts.append("fields " + ", ".join(self.fields))
        if self.unknown:
            parts.append("unknown fields " + ", ".join(self.unknown))
        return "the erasure plan does not cover " + "; ".join(parts)


def check(
    personal_columns: Iterable[tuple[str, str]],
    personal_fields: Iterable[str],
    plan: tuple[Rule, ...] = PLAN,
) -> Coverage:
    """What the plan misses of the models' personal columns and the schema's fields."""
    covered = {(rule.table, column) for rule in plan for column in rule.columns}
    whole = {rule.table for rule in plan if rule.columns == ("*",)}
    fields = set(personal_fields)
    named = {field for rule in plan for field in rule.fields}
    return Coverage(
        columns=tuple(
            sorted(
                (table, column)
                for table, column in set(personal_columns)
                if (table, column) not in covered and table not in whole
            )
        ),
        fields=tuple(sorted(fields - named)),
        unknown=tuple(sorted(named - fields)),
    )
