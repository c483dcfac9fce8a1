"""Vocabulary of the privacy policy: data categories, purposes, roles, states.

Member names double as GraphQL enum names, so they are uppercase and stable;
values are what logs, audits and the redaction report carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Category(StrEnum):
    """Kind of personal data a field holds (Art. 2.1)."""

    USER_IDENTITY_NAME = "user.identity.name"
    USER_CONTACT_EMAIL = "user.contact.email"
    USER_CONTACT_PHONE = "user.contact.phone"
    USER_CONTACT_ADDRESS = "user.contact.address"
    USER_ACCOUNT_CREATED = "user.account.created"
    USER_UGC_AUTHORSHIP = "user.ugc.authorship"
    USER_UGC_CONTENT = "user.ugc.content"
    USER_MESSAGE_AUTHORSHIP = "user.message.authorship"
    USER_MESSAGE_CONTENT = "user.message.content"
    USER_FINANCIAL_BILLING = "user.financial.billing"
    USER_FINANCIAL_INSTRUMENT = "user.financial.instrument"
    COMPANY_IDENTITY_TAX_ID = "company.identity.tax_id"
    COMPANY_CONTACT_PERSON = "company.contact.person"
    COMPANY_CONTACT_ADDRESS = "company.contact.address"
    # Links and states are personal data too (DESIGN 4): that X bought, sold, carried or
    # paid for an order; offers a product; belongs to a company; takes part in a chat; and
    # where X stands with their privacy choices.
    USER_COMMERCE_PARTY = "user.commerce.party"
    USER_LISTING_OWNER = "user.listing.owner"
    USER_COMPANY_MEMBERSHIP = "user.company.membership"
    USER_CONVERSATION_PARTICIPATION = "user.conversation.participation"
    USER_PRIVACY_STATE = "user.privacy.state"

    @property
    def domain(self) -> str:
        """First segment: "user" or "company"."""
        return self.value.split(".", 1)[0]

    @property
    def parent(self) -> str:
        """Everything but the last segment, e.g. "user.contact"."""
        return self.value.rsplit(".", 1)[0]


class Purpose(StrEnum):
    """Why a request reads personal data (Art. 2.2, 3.3, 4.4, 6.4)."""

    IDENTIFICATION = "IDENTIFICATION"
    FULFILLMENT = "FULFILLMENT"
    BILLING = "BILLING"
    ANALYTICS = "ANALYTICS"
    SUPPORT = "SUPPORT"
    SECURITY = "SECURITY"
    LEGAL = "LEGAL"


class LawfulBasis(StrEnum):
    CONSENT = "CONSENT"
    CONTRACT = "CONTRACT"
    LEGAL_OBLIGATION = "LEGAL_OBLIGATION"
    LEGITIMATE_INTEREST = "LEGITIMATE_INTEREST"


PURPOSE_BASIS: Mapping[Purpose, LawfulBasis] = MappingProxyType(
    {
        Purpose.IDENTIFICATION: LawfulBasis.CONTRACT,
        Purpose.FULFILLMENT: LawfulBasis.CONTRACT,
        Purpose.BILLING: LawfulBasis.LEGAL_OBLIGATION,
        Purpose.ANALYTICS: LawfulBasis.CONSENT,
        Purpose.SUPPORT: LawfulBasis.CONTRACT,
        Purpose.SECURITY: LawfulBasis.LEGITIMATE_INTEREST,
        Purpose.LEGAL: LawfulBasis.LEGAL_OBLIGATION,
    }
)


def withdrawable(purpose: Purpose) -> bool:
    """Only consent can be withdrawn without closing the account (Art. 4.3)."""
    return PURPOSE_BASIS[purpose] is LawfulBasis.CONSENT


class Role(StrEnum):
    """Employee roles; each may only act for its own purposes (Art. 3.2)."""

    SUPPORT = "SUPPORT"
    FINANCE = "FINANCE"
    ANALYST = "ANALYST"
    DPO = "DPO"
    SECURITY = "SECURITY"


ROLE_PURPOSES: Mapping[Role, frozenset[Purpose]] = MappingProxyType(
    {
        Role.SUPPORT: frozenset({Purpose.SUPPORT, Purpose.FULFILLMENT}),
        Role.FINANCE: frozenset({Purpose.BILLING}),
        Role.ANALYST: frozenset({Purpose.ANALYTICS}),
        Role.DPO: frozenset({Purpose.LEGAL, Purpose.SUPPORT}),
        Role.SECURITY: frozenset({Purpose.SECURITY, Purpose.LEGAL}),
    }
)


class Relationship(StrEnum):
    """How the viewer relates to the data subject of a field."""

    SELF = "SELF"
    # Shares an order or shipment still in progress: fulfilment needs the data.
    COUNTERPARTY = "COUNTERPARTY"
    # Shared only completed or cancelled orders.
    FORMER_COUNTERPARTY = "FORMER_COUNTERPARTY"
    # Shares only a conversation.
    PARTICIPANT = "PARTICIPANT"
    # Anyone else, anonymous viewers included.
    PUBLIC = "PUBLIC"
    EMPLOYEE = "EMPLOYEE"


class DeletionState(StrEnum):
    ACTIVE = "ACTIVE"
    ERASURE_PENDING = "ERASURE_PENDING"
    ERASED = "ERASED"
    PURGED = "PURGED"
