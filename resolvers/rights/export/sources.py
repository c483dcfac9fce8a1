"""Where a subject's records are, as data: one row per (type, role) of the `@personal`
declarations, and where each category of data comes from.

`SOURCES[(type, role)]` says how to find the rows of a GraphQL type in which the exporting
subject is the data subject of the fields declared with that role (`subject: "buyer"`,
none for the record's own subject, `each` for one of a list of people). The export checks
at start that every (type, role) of the schema's `@personal` fields has a row here, so a
new personal field with no row source is an error, never silently missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from directives.sdl import EACH
from directives.taxonomy import Category as C
from directives.taxonomy import Relationship, Role
from gateway.db import models as m

# The GraphQL type of people: a link whose target is this type points to a person.
PERSON = "User"


@dataclass(frozen=True, slots=True)
class Source:
    """The rows of one type in which the subject plays one role.

    `column` names the subject on the row (and, for a link to a person, the person);
    `where` is for roles no single column names. `edge` is the field of the person that
    lists these records (`User.orders`); `people` lists, for `each`, who is in each row's
    list: a statement of (row id, user id) for some row ids.
    """

    model: type[m.Base]
    label: str  # what the subject is to these records, in words
    column: str | None = None
    where: Callable[[int], ColumnElement[bool]] | None = None
    edge: str | None = None
    people: Callable[[list[int]], Select[Any, Any]] | None = None

    def names(self, subject_id: int) -> ColumnElement[bool]:
        if self.where is not None:
            return self.where(subject_id)
        assert self.column is not None
        column: ColumnElement[bool] = getattr(self.model, self.column) == subject_id
        return column


def _shipped_to(subject_id: int) -> ColumnElement[bool]:
    return m.Shipment.order_id.in_(select(m.Order.id).where(m.Order.buyer_id == subject_id))


def _member_of(subject_id: int) -> ColumnElement[bool]:
    return m.Company.id.in_(select(m.User.company_id).where(m.User.id == subject_id))


def _participant_in(subject_id: int) -> ColumnElement[bool]:
    taking_part = select(m.ConversationParticipant.conversation_id).where(
        m.ConversationParticipant.user_id == subject_id
    )
    return m.Conversation.id.in_(taking_part)


def _members(company_ids: list[int]) -> Select[Any, Any]:
    return (
        select(m.User.company_id, m.User.id)
        .where(m.User.company_id.in_(company_ids))
        .order_by(m.User.company_id, m.User.id)
    )


def _participants(conversation_ids: list[int]) -> Select[Any, Any]:
    cp = m.ConversationParticipant
    return (
        select(cp.conversation_id, cp.user_id)
        .where(cp.conversation_id.in_(conversation_ids))
        .order_by(cp.conversation_id, cp.user_id)
    )


S = Source
SOURCES: Mapping[tuple[str, str | None], Source] = MappingProxyType(
    {
        ("User", None): S(m.User, "account holder", column="id"),
        ("Address", None): S(m.Address, "owner", column="user_id", edge="User.addresses"),
        ("Company", None): S(m.Company, "contact person", column="contact_person_id"),
        ("Company", EACH): S(
            m.Company, "member", where=_member_of, edge="User.company", people=_members
        ),
        ("Conversation", EACH): S(
            m.Conversation,
            "participant",
            where=_participant_in,
            edge="User.conversations",
            people=_participants,
        ),
        ("Message", None): S(m.Message, "sender", column="sender_id"),
        ("Order", "buyer"): S(m.Order, "buyer", column="buyer_id", edge="User.orders"),
        ("Order", "seller"): S(m.Order, "seller", column="seller_id", edge="User.sales"),
        ("Shipment", "buyer"): S(m.Shipment, "recipient", where=_shipped_to),
        ("Shipment", "logistics"): S(
            m.Shipment, "carrier", column="logistics_id", edge="User.shipments"
        ),
        ("Payment", "payer"): S(m.Payment, "payer", column="payer_id"),
        ("Invoice", "buyer"): S(m.Invoice, "billed", column="buyer_id"),
        ("Invoice", "seller"): S(m.Invoice, "issuer", column="seller_id"),
        ("Product", None): S(m.Product, "seller", column="seller_id", edge="User.products"),
        ("Review", None): S(m.Review, "author", column="author_id", edge="User.reviews"),
        ("Video", None): S(m.Video, "author", column="author_id", edge="User.videos"),
        ("Comment", None): S(m.Comment, "author", column="author_id", edge="User.comments"),
    }
)


class Origin(StrEnum):
    """Where a category of personal data comes from (GDPR Art. 15(1)(g))."""

    PROVIDED_BY_YOU = "PROVIDED_BY_YOU"
    GENERATED_BY_PLATFORM = "GENERATED_BY_PLATFORM"
    FROM_PAYMENT_PROVIDER = "FROM_PAYMENT_PROVIDER"


ORIGIN_TEXT: Mapping[Origin, str] = MappingProxyType(
    {
        Origin.PROVIDED_BY_YOU: "provided by you: at sign-up, in your settings, at checkout "
        "or when you post",
        Origin.GENERATED_BY_PLATFORM: "generated by the platform as you use it",
        Origin.FROM_PAYMENT_PROVIDER: "from the payment provider when you pay (only the "
        "last four digits of a card)",
    }
)


@dataclass(frozen=True, slots=True)
class About:
    title: str
    origin: Origin


_YOU, _US, _PSP = Origin.PROVIDED_BY_YOU, Origin.GENERATED_BY_PLATFORM, Origin.FROM_PAYMENT_PROVIDER
A = About
# Read row by row: each category's name for people and where its data comes from. The
# export refuses to start if a category lacks a row.
CATEGORIES: Mapping[C, About] = MappingProxyType(
    {
        C.USER_IDENTITY_NAME: A("Your name", _YOU),
        C.USER_CONTACT_EMAIL: A("Your email address", _YOU),
        C.USER_CONTACT_PHONE: A("Your phone number", _YOU),
        C.USER_CONTACT_ADDRESS: A("Your addresses", _YOU),
        C.USER_ACCOUNT_CREATED: A("When you joined", _US),
        C.USER_UGC_AUTHORSHIP: A("What you posted: reviews, videos, comments", _US),
        C.USER_UGC_CONTENT: A("The contents of your posts", _YOU),
        C.USER_MESSAGE_AUTHORSHIP: A("The messages you sent", _US),
        C.USER_MESSAGE_CONTENT: A("The contents of your messages", _YOU),
        C.USER_FINANCIAL_BILLING: A("Your billing details", _YOU),
        C.USER_FINANCIAL_INSTRUMENT: A("Your payment cards", _PSP),
        C.COMPANY_IDENTITY_TAX_ID: A("Your company's tax id", _YOU),
        C.COMPANY_CONTACT_PERSON: A("Your company's contact person", _YOU),
        C.COMPANY_CONTACT_ADDRESS: A("Your company's registered address", _YOU),
        C.USER_COMMERCE_PARTY: A("What you bought, sold, paid for and delivered", _US),
        C.USER_LISTING_OWNER: A("The products you offer", _US),
        C.USER_COMPANY_MEMBERSHIP: A("The company you trade as", _YOU),
        C.USER_CONVERSATION_PARTICIPATION: A("The conversations you take part in", _US),
        C.USER_PRIVACY_STATE: A("Your account's privacy state", _US),
    }
)

# Who the viewer classes of the policy are, in words, for the recipients of each category.
RELATIONSHIP_TEXT: Mapping[Relationship, str] = MappingProxyType(
    {
        Relationship.COUNTERPARTY: "the other parties of an order or shipment in progress: "
        "buyer, seller and logistics operator",
        Relationship.FORMER_COUNTERPARTY: "the other parties of your completed or cancelled orders",
        Relationship.PARTICIPANT: "people you share only a conversation with",
        Relationship.PUBLIC: "anyone else, signed in or not",
    }
)
ROLE_TEXT: Mapping[Role, str] = MappingProxyType(
    {
        Role.SUPPORT: "support staff",
        Role.FINANCE: "finance staff",
        Role.ANALYST: "analysts",
        Role.DPO: "the data protection officer",
        Role.SECURITY: "security staff",
    }
)
