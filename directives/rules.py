"""The default rule tables, as plain data counsel can edit row by row.

Reading guide: each table maps a data category to a decision. SHOW shows the
value, MASK applies the decision's strategy (or, when none is given, the
strategy declared on the field), STRIP returns null. `policy.Policy` checks
at construction that every table covers every category.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from directives.decision import Decision, Reason, mask, show, strip
from directives.masking import Strategy
from directives.taxonomy import Category as C
from directives.taxonomy import DeletionState, Purpose, Relationship, Role

Table = Mapping[C, Decision]
R = Reason
S = Strategy


def _table(default: Decision | None = None, **rows: Decision) -> Table:
    table = dict.fromkeys(C, default) if default else {}
    table.update({C[name]: decision for name, decision in rows.items()})
    return MappingProxyType({c: d for c, d in table.items() if d is not None})


COUNTERPARTY = _table(
    USER_IDENTITY_NAME=show(R.FULFILLMENT_NEEDS),
    USER_CONTACT_EMAIL=mask(R.DATA_MINIMISATION),
    USER_CONTACT_PHONE=show(R.FULFILLMENT_NEEDS),
    USER_CONTACT_ADDRESS=show(R.FULFILLMENT_NEEDS),
    USER_ACCOUNT_CREATED=mask(R.DATA_MINIMISATION, S.GENERALIZE),
    USER_UGC_AUTHORSHIP=show(R.PUBLIC_PROFILE),
    USER_UGC_CONTENT=show(R.PUBLIC_PROFILE),
    USER_MESSAGE_AUTHORSHIP=show(R.CONVERSATION),
    USER_MESSAGE_CONTENT=show(R.CONVERSATION),
    USER_FINANCIAL_BILLING=show(R.FULFILLMENT_NEEDS),
    USER_FINANCIAL_INSTRUMENT=strip(R.PURPOSE_NOT_PERMITTED),
    COMPANY_IDENTITY_TAX_ID=show(R.FULFILLMENT_NEEDS),
    COMPANY_CONTACT_PERSON=show(R.FULFILLMENT_NEEDS),
    COMPANY_CONTACT_ADDRESS=show(R.FULFILLMENT_NEEDS),
    USER_COMMERCE_PARTY=show(R.FULFILLMENT_NEEDS),
    USER_LISTING_OWNER=show(R.PUBLIC_PROFILE),
    # Membership follows the contact person: a company's member list names its contact.
    USER_COMPANY_MEMBERSHIP=show(R.FULFILLMENT_NEEDS),
    USER_CONVERSATION_PARTICIPATION=show(R.CONVERSATION),
    USER_PRIVACY_STATE=strip(R.NOT_PERMITTED),
)

FORMER_COUNTERPARTY = _table(
    strip(R.FULFILLMENT_COMPLETE),
    USER_IDENTITY_NAME=show(R.ORDER_HISTORY),
    USER_ACCOUNT_CREATED=mask(R.PUBLIC_PROFILE, S.GENERALIZE),
    USER_UGC_AUTHORSHIP=show(R.PUBLIC_PROFILE),
    USER_UGC_CONTENT=show(R.PUBLIC_PROFILE),
    USER_MESSAGE_AUTHORSHIP=show(R.CONVERSATION),
    USER_MESSAGE_CONTENT=show(R.CONVERSATION),
    COMPANY_IDENTITY_TAX_ID=show(R.ORDER_HISTORY),
    COMPANY_CONTACT_ADDRESS=show(R.ORDER_HISTORY),
    USER_COMMERCE_PARTY=show(R.ORDER_HISTORY),
    USER_LISTING_OWNER=show(R.PUBLIC_PROFILE),
    USER_CONVERSATION_PARTICIPATION=show(R.CONVERSATION),
    USER_PRIVACY_STATE=strip(R.NOT_PERMITTED),
)

PARTICIPANT = _table(
    strip(R.NOT_COUNTERPARTY),
    USER_IDENTITY_NAME=show(R.CONVERSATION),
    USER_ACCOUNT_CREATED=mask(R.PUBLIC_PROFILE, S.GENERALIZE),
    USER_UGC_AUTHORSHIP=show(R.PUBLIC_PROFILE),
    USER_UGC_CONTENT=show(R.PUBLIC_PROFILE),
    USER_MESSAGE_AUTHORSHIP=show(R.CONVERSATION),
    USER_MESSAGE_CONTENT=show(R.CONVERSATION),
    COMPANY_IDENTITY_TAX_ID=show(R.PUBLIC_REGISTER),
    COMPANY_CONTACT_ADDRESS=mask(R.PUBLIC_PROFILE),
    USER_LISTING_OWNER=show(R.PUBLIC_PROFILE),
    USER_CONVERSATION_PARTICIPATION=show(R.CONVERSATION),
    USER_PRIVACY_STATE=strip(R.NOT_PERMITTED),
)

PUBLIC = _table(
    strip(R.NOT_COUNTERPARTY),
    USER_IDENTITY_NAME=mask(R.PUBLIC_PROFILE, S.NAME),
    USER_ACCOUNT_CREATED=mask(R.PUBLIC_PROFILE, S.GENERALIZE),
    USER_UGC_AUTHORSHIP=show(R.PUBLIC_PROFILE),
    USER_UGC_CONTENT=show(R.PUBLIC_PROFILE),
    COMPANY_IDENTITY_TAX_ID=show(R.PUBLIC_REGISTER),
    COMPANY_CONTACT_ADDRESS=mask(R.PUBLIC_PROFILE),
    USER_LISTING_OWNER=show(R.PUBLIC_PROFILE),
    USER_PRIVACY_STATE=strip(R.NOT_PERMITTED),
)

_OK = show(R.ROLE_PURPOSE_PERMITS)
_NO = strip(R.PURPOSE_NOT_PERMITTED)
_MIN = mask(R.DATA_MINIMISATION)
# Addresses keep the field's own mask (line and postal code REDACT, city GENERALIZE): a
# forced GENERALIZE on a street line let street names through (found by the leak tests).
_AREA = _MIN
_MONTH = mask(R.DATA_MINIMISATION, S.GENERALIZE)
_PSN = mask(R.PSEUDONYMISED, S.PSEUDONYM)

SUPPORT = _table(
    _OK,
    USER_CONTACT_PHONE=_MIN,
    USER_CONTACT_ADDRESS=_AREA,
    USER_MESSAGE_CONTENT=_NO,
    USER_FINANCIAL_BILLING=_NO,
    USER_FINANCIAL_INSTRUMENT=_NO,
    COMPANY_IDENTITY_TAX_ID=_NO,
    COMPANY_CONTACT_ADDRESS=_AREA,
)

FINANCE = _table(
    _NO,
    USER_IDENTITY_NAME=_OK,
    USER_CONTACT_EMAIL=_OK,
    USER_FINANCIAL_BILLING=_OK,
    USER_FINANCIAL_INSTRUMENT=_OK,
    COMPANY_IDENTITY_TAX_ID=_OK,
    COMPANY_CONTACT_PERSON=_OK,
    COMPANY_CONTACT_ADDRESS=_OK,
    USER_COMMERCE_PARTY=_OK,
    USER_LISTING_OWNER=_OK,
    USER_COMPANY_MEMBERSHIP=_OK,
    USER_PRIVACY_STATE=_OK,  # retained records and holds depend on it
)

ANALYST = _table(
    _NO,
    USER_IDENTITY_NAME=_PSN,
    USER_CONTACT_EMAIL=_PSN,
    USER_CONTACT_PHONE=_PSN,
    USER_CONTACT_ADDRESS=_AREA,
    USER_ACCOUNT_CREATED=_MONTH,
    USER_UGC_AUTHORSHIP=_PSN,
    USER_UGC_CONTENT=_OK,
    USER_MESSAGE_AUTHORSHIP=_PSN,
    COMPANY_CONTACT_PERSON=_PSN,
    COMPANY_CONTACT_ADDRESS=_AREA,
    USER_COMMERCE_PARTY=_PSN,
    USER_LISTING_OWNER=_PSN,
    USER_COMPANY_MEMBERSHIP=_PSN,
)

SECURITY = _table(
    _OK,
    USER_CONTACT_ADDRESS=_AREA,
    USER_FINANCIAL_BILLING=_MIN,
    USER_FINANCIAL_INSTRUMENT=_MIN,
    COMPANY_CONTACT_ADDRESS=_AREA,
)

EVERYTHING = _table(_OK)

RELATIONSHIP_RULES: Mapping[Relationship, Table] = MappingProxyType(
    {
        Relationship.COUNTERPARTY: COUNTERPARTY,
        Relationship.FORMER_COUNTERPARTY: FORMER_COUNTERPARTY,
        Relationship.PARTICIPANT: PARTICIPANT,
        Relationship.PUBLIC: PUBLIC,
    }
)

ROLE_RULES: Mapping[tuple[Role, Purpose], Table] = MappingProxyType(
    {
        (Role.SUPPORT, Purpose.SUPPORT): SUPPORT,
        (Role.SUPPORT, Purpose.FULFILLMENT): SUPPORT,
        (Role.FINANCE, Purpose.BILLING): FINANCE,
        (Role.ANALYST, Purpose.ANALYTICS): ANALYST,
        (Role.DPO, Purpose.LEGAL): EVERYTHING,
        (Role.DPO, Purpose.SUPPORT): SUPPORT,
        (Role.SECURITY, Purpose.SECURITY): SECURITY,
        (Role.SECURITY, Purpose.LEGAL): EVERYTHING,
    }
)

# Who may learn where a subject stands (pending erasure, consent withdrawn, records kept
# after erasure): besides the subject, staff whose purpose handles it. Everyone else reads
# NOT_PERMITTED wherever the state changes what they get, and never a state's reason.
STATE_AWARE: frozenset[tuple[Role, Purpose]] = frozenset(
    {
        (Role.SUPPORT, Purpose.SUPPORT),
        (Role.SUPPORT, Purpose.FULFILLMENT),
        (Role.FINANCE, Purpose.BILLING),
        (Role.DPO, Purpose.LEGAL),
        (Role.DPO, Purpose.SUPPORT),
        (Role.SECURITY, Purpose.SECURITY),
        (Role.SECURITY, Purpose.LEGAL),
    }
)

# Restriction of processing while an erasure request is open (Art. 6.4).
# An overlay only narrows: where the base decision is stricter, it stands.
_RESTRICTED = _table(
    strip(R.ERASURE_PENDING),
    USER_IDENTITY_NAME=mask(R.ERASURE_PENDING, S.TOMBSTONE),
    USER_MESSAGE_AUTHORSHIP=mask(R.ERASURE_PENDING, S.TOMBSTONE),
    # Order history keeps the order; the other party reads as a deleted user.
    USER_COMMERCE_PARTY=mask(R.ERASURE_PENDING, S.TOMBSTONE),
)
_RESTRICTED_KEEPING_MESSAGES: Table = MappingProxyType(
    {c: d for c, d in _RESTRICTED.items() if c is not C.USER_MESSAGE_CONTENT}
)
PENDING_OVERLAYS: Mapping[Relationship | Role, Table] = MappingProxyType(
    {
        Relationship.PUBLIC: _RESTRICTED_KEEPING_MESSAGES,
        Relationship.FORMER_COUNTERPARTY: _RESTRICTED_KEEPING_MESSAGES,
        Relationship.PARTICIPANT: _RESTRICTED_KEEPING_MESSAGES,
        # An order in progress still has to be delivered; only UGC is hidden.
        Relationship.COUNTERPARTY: _table(
            USER_UGC_AUTHORSHIP=strip(R.ERASURE_PENDING),
            USER_UGC_CONTENT=strip(R.ERASURE_PENDING),
        ),
        Role.ANALYST: _table(strip(R.ERASURE_PENDING)),
    }
)

# Erasure deletes UGC (no authorship is left to show) and detaches chat senders and
# participants (a message keeps the "Deleted user" name, no link to a profile).
ERASED = _table(
    strip(R.ERASED),
    USER_IDENTITY_NAME=mask(R.ERASED, S.TOMBSTONE),
    USER_MESSAGE_AUTHORSHIP=mask(R.ERASED, S.TOMBSTONE),
)
# Message bodies stay visible to the other participants (Art. 6.4).
_BODIES_STAY = _table(USER_MESSAGE_CONTENT=show(R.CONVERSATION))
# The staff who handle erasure and retained records still read that a subject is erased.
_STATE_STAYS = _table(USER_PRIVACY_STATE=show(R.ROLE_PURPOSE_PERMITS))
ERASED_OVERRIDES: Mapping[Relationship | Role, Table] = MappingProxyType(
    {
        Relationship.COUNTERPARTY: _BODIES_STAY,
        Relationship.FORMER_COUNTERPARTY: _BODIES_STAY,
        Relationship.PARTICIPANT: _BODIES_STAY,
        Role.SUPPORT: _STATE_STAYS,
        Role.FINANCE: _STATE_STAYS,
        Role.DPO: _STATE_STAYS,
        Role.SECURITY: _STATE_STAYS,
    }
)

# Records under the 5-year legal hold (Art. 6.5): who may still read what.
_HOLDERS = frozenset({(Role.FINANCE, Purpose.BILLING), (Role.DPO, Purpose.LEGAL)})
LEGAL_HOLD: Mapping[C, frozenset[tuple[Role, Purpose]]] = MappingProxyType(
    {
        C.USER_IDENTITY_NAME: _HOLDERS,
        C.USER_FINANCIAL_BILLING: _HOLDERS,
        C.USER_FINANCIAL_INSTRUMENT: _HOLDERS,
        C.COMPANY_IDENTITY_TAX_ID: _HOLDERS,
        C.COMPANY_CONTACT_ADDRESS: _HOLDERS,
        C.USER_COMMERCE_PARTY: _HOLDERS,
    }
)
# Once PURGED the hold has expired: nothing is retained any more.
LEGAL_HOLD_STATES = frozenset({DeletionState.ERASED})
RETENTION_ONLY = _table(
    strip(R.RETENTION_ONLY),
    USER_IDENTITY_NAME=mask(R.RETENTION_ONLY, S.TOMBSTONE),
    # A retained order still names its parties, as deleted users.
    USER_COMMERCE_PARTY=mask(R.RETENTION_ONLY, S.TOMBSTONE),
)

# The strategy a field of each category should declare in the SDL.
SUGGESTED_STRATEGY: Mapping[C, Strategy] = MappingProxyType(
    {
        C.USER_IDENTITY_NAME: S.NAME,
        C.USER_CONTACT_EMAIL: S.EMAIL,
        C.USER_CONTACT_PHONE: S.PHONE,
        C.USER_CONTACT_ADDRESS: S.GENERALIZE,
        C.USER_ACCOUNT_CREATED: S.GENERALIZE,
        C.USER_UGC_AUTHORSHIP: S.TOMBSTONE,
        C.USER_UGC_CONTENT: S.REDACT,
        C.USER_MESSAGE_AUTHORSHIP: S.TOMBSTONE,
        C.USER_MESSAGE_CONTENT: S.REDACT,
        C.USER_FINANCIAL_BILLING: S.PARTIAL,
        C.USER_FINANCIAL_INSTRUMENT: S.PARTIAL,
        C.COMPANY_IDENTITY_TAX_ID: S.PARTIAL,
        C.COMPANY_CONTACT_PERSON: S.NAME,
        C.COMPANY_CONTACT_ADDRESS: S.GENERALIZE,
        # Links: a masked link leads to a person who masks themself (a pseudonym, a
        # tombstone); the link's own strategy is never applied to a value.
        C.USER_COMMERCE_PARTY: S.TOMBSTONE,
        C.USER_LISTING_OWNER: S.TOMBSTONE,
        C.USER_COMPANY_MEMBERSHIP: S.TOMBSTONE,
        C.USER_CONVERSATION_PARTICIPATION: S.TOMBSTONE,
        C.USER_PRIVACY_STATE: S.REDACT,
    }
)
