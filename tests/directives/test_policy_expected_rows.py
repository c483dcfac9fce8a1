"""Important rows of the policy, written out by hand from DESIGN §4 and the spec.

Not computed from the policy: a change here is a change counsel signed off.
Viewer: a relationship ("public"), optionally with the purpose a platform
user names ("self/IDENTIFICATION"), or an employee's "role/PURPOSE".
State: ACTIVE, PENDING, ERASED or PURGED; "-consent" means analytics consent
withdrawn; "+retained" means a record under legal hold.
"""

import pytest

from directives.decision import Action, Decision, Reason
from directives.masking import Strategy
from directives.policy import DEFAULT_POLICY, Audience, SubjectState
from directives.taxonomy import Category, DeletionState, Purpose, Relationship, Role

EXPECTED = [
    # viewer,               category,                   state,               decision
    ("self", "USER_IDENTITY_NAME", "ACTIVE", "SHOW SELF"),
    ("self/IDENTIFICATION", "USER_CONTACT_EMAIL", "ACTIVE-consent", "SHOW SELF"),
    ("self", "USER_CONTACT_EMAIL", "PENDING", "SHOW SELF"),
    ("self", "USER_IDENTITY_NAME", "ERASED", "MASK ERASED TOMBSTONE"),
    ("self", "USER_CONTACT_EMAIL", "ERASED", "STRIP ERASED"),
    ("counterparty", "USER_IDENTITY_NAME", "ACTIVE", "SHOW FULFILLMENT_NEEDS"),
    ("counterparty", "USER_CONTACT_PHONE", "ACTIVE", "SHOW FULFILLMENT_NEEDS"),
    ("counterparty", "USER_CONTACT_ADDRESS", "ACTIVE", "SHOW FULFILLMENT_NEEDS"),
    ("counterparty", "USER_FINANCIAL_BILLING", "ACTIVE", "SHOW FULFILLMENT_NEEDS"),
    ("counterparty", "USER_CONTACT_EMAIL", "ACTIVE", "MASK DATA_MINIMISATION"),
    ("counterparty", "USER_ACCOUNT_CREATED", "ACTIVE", "MASK DATA_MINIMISATION GENERALIZE"),
    ("counterparty", "USER_MESSAGE_CONTENT", "ACTIVE", "SHOW CONVERSATION"),
    ("counterparty", "COMPANY_IDENTITY_TAX_ID", "ACTIVE", "SHOW FULFILLMENT_NEEDS"),
    ("counterparty", "USER_UGC_CONTENT", "PENDING", "STRIP NOT_PERMITTED"),
    ("counterparty", "USER_CONTACT_ADDRESS", "PENDING", "SHOW FULFILLMENT_NEEDS"),
    ("counterparty", "USER_IDENTITY_NAME", "ERASED+retained", "MASK NOT_PERMITTED TOMBSTONE"),
    ("counterparty", "USER_FINANCIAL_BILLING", "ERASED+retained", "STRIP NOT_PERMITTED"),
    ("former", "USER_IDENTITY_NAME", "ACTIVE", "SHOW ORDER_HISTORY"),
    ("former", "USER_CONTACT_PHONE", "ACTIVE", "STRIP FULFILLMENT_COMPLETE"),
    ("former", "USER_CONTACT_EMAIL", "ACTIVE", "STRIP FULFILLMENT_COMPLETE"),
    ("former", "USER_MESSAGE_AUTHORSHIP", "ACTIVE", "SHOW CONVERSATION"),
    ("former", "USER_IDENTITY_NAME", "PENDING", "MASK NOT_PERMITTED TOMBSTONE"),
    ("participant", "USER_IDENTITY_NAME", "ACTIVE", "SHOW CONVERSATION"),
    ("participant", "USER_CONTACT_EMAIL", "ACTIVE", "STRIP NOT_COUNTERPARTY"),
    ("participant", "USER_MESSAGE_CONTENT", "PENDING", "SHOW CONVERSATION"),
    ("participant", "USER_MESSAGE_AUTHORSHIP", "PENDING", "MASK NOT_PERMITTED TOMBSTONE"),
    ("participant", "USER_MESSAGE_CONTENT", "ERASED", "SHOW CONVERSATION"),
    ("participant", "USER_MESSAGE_AUTHORSHIP", "ERASED", "MASK NOT_PERMITTED TOMBSTONE"),
    ("public", "USER_IDENTITY_NAME", "ACTIVE", "MASK PUBLIC_PROFILE NAME"),
    ("public", "USER_CONTACT_EMAIL", "ACTIVE", "STRIP NOT_COUNTERPARTY"),
    ("public", "USER_CONTACT_PHONE", "ACTIVE", "STRIP NOT_COUNTERPARTY"),
    ("public", "USER_UGC_CONTENT", "ACTIVE", "SHOW PUBLIC_PROFILE"),
    ("public", "USER_UGC_AUTHORSHIP", "ACTIVE", "SHOW PUBLIC_PROFILE"),
    ("public", "USER_ACCOUNT_CREATED", "ACTIVE", "MASK PUBLIC_PROFILE GENERALIZE"),
    ("public", "COMPANY_IDENTITY_TAX_ID", "ACTIVE", "SHOW PUBLIC_REGISTER"),
    ("public", "COMPANY_CONTACT_PERSON", "ACTIVE", "STRIP NOT_COUNTERPARTY"),
    ("public", "COMPANY_CONTACT_ADDRESS", "ACTIVE", "MASK PUBLIC_PROFILE"),
    ("public", "USER_MESSAGE_CONTENT", "ACTIVE", "STRIP NOT_COUNTERPARTY"),
    ("public", "USER_UGC_CONTENT", "PENDING", "STRIP NOT_PERMITTED"),
    ("public", "USER_IDENTITY_NAME", "PENDING", "MASK NOT_PERMITTED TOMBSTONE"),
    ("public", "USER_IDENTITY_NAME", "ERASED", "MASK NOT_PERMITTED TOMBSTONE"),
    ("public", "USER_UGC_CONTENT", "ERASED", "STRIP NOT_PERMITTED"),
    ("public", "USER_MESSAGE_AUTHORSHIP", "ERASED", "STRIP NOT_COUNTERPARTY"),
    ("public/ANALYTICS", "USER_IDENTITY_NAME", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_IDENTITY_NAME", "ACTIVE", "MASK PSEUDONYMISED PSEUDONYM"),
    ("analyst/ANALYTICS", "USER_CONTACT_EMAIL", "ACTIVE", "MASK PSEUDONYMISED PSEUDONYM"),
    ("analyst/ANALYTICS", "USER_UGC_AUTHORSHIP", "ACTIVE", "MASK PSEUDONYMISED PSEUDONYM"),
    ("analyst/ANALYTICS", "USER_CONTACT_ADDRESS", "ACTIVE", "MASK DATA_MINIMISATION"),
    ("analyst/ANALYTICS", "USER_ACCOUNT_CREATED", "ACTIVE", "MASK DATA_MINIMISATION GENERALIZE"),
    ("analyst/ANALYTICS", "USER_UGC_CONTENT", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("analyst/ANALYTICS", "USER_MESSAGE_CONTENT", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_FINANCIAL_BILLING", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("analyst/ANALYTICS", "COMPANY_IDENTITY_TAX_ID", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_IDENTITY_NAME", "ACTIVE-consent", "STRIP NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_UGC_CONTENT", "ACTIVE-consent", "STRIP NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_IDENTITY_NAME", "PENDING", "STRIP NOT_PERMITTED"),
    ("analyst/BILLING", "USER_IDENTITY_NAME", "ACTIVE", "STRIP ROLE_NOT_PERMITTED"),
    ("support/SUPPORT", "USER_IDENTITY_NAME", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("support/FULFILLMENT", "USER_CONTACT_EMAIL", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("support/SUPPORT", "USER_CONTACT_PHONE", "ACTIVE", "MASK DATA_MINIMISATION"),
    ("support/SUPPORT", "USER_CONTACT_ADDRESS", "ACTIVE", "MASK DATA_MINIMISATION"),
    ("support/SUPPORT", "USER_UGC_CONTENT", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("support/SUPPORT", "USER_MESSAGE_CONTENT", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("support/SUPPORT", "USER_FINANCIAL_BILLING", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("support/LEGAL", "USER_IDENTITY_NAME", "ACTIVE", "STRIP ROLE_NOT_PERMITTED"),
    ("support/SUPPORT", "USER_CONTACT_EMAIL", "PENDING", "SHOW ROLE_PURPOSE_PERMITS"),
    ("support/SUPPORT", "USER_FINANCIAL_BILLING", "ERASED+retained", "STRIP RETENTION_ONLY"),
    ("finance/BILLING", "USER_FINANCIAL_BILLING", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("finance/BILLING", "USER_CONTACT_EMAIL", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("finance/BILLING", "COMPANY_IDENTITY_TAX_ID", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("finance/BILLING", "COMPANY_CONTACT_ADDRESS", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("finance/BILLING", "USER_CONTACT_PHONE", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("finance/BILLING", "USER_CONTACT_ADDRESS", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("finance/BILLING", "USER_UGC_CONTENT", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("finance/BILLING", "USER_MESSAGE_CONTENT", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("finance/BILLING", "USER_FINANCIAL_BILLING", "ERASED+retained", "SHOW RETAINED_RECORD"),
    ("finance/BILLING", "USER_IDENTITY_NAME", "ERASED+retained", "SHOW RETAINED_RECORD"),
    ("finance/BILLING", "USER_CONTACT_EMAIL", "ERASED+retained", "STRIP ERASED"),
    ("finance/BILLING", "USER_FINANCIAL_BILLING", "ERASED", "STRIP ERASED"),
    ("finance/BILLING", "USER_FINANCIAL_BILLING", "PURGED+retained", "STRIP ERASED"),
    ("finance/SUPPORT", "USER_FINANCIAL_BILLING", "ACTIVE", "STRIP ROLE_NOT_PERMITTED"),
    ("dpo/LEGAL", "USER_MESSAGE_CONTENT", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("dpo/LEGAL", "USER_FINANCIAL_BILLING", "ERASED+retained", "SHOW RETAINED_RECORD"),
    ("dpo/SUPPORT", "USER_MESSAGE_CONTENT", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("dpo/SUPPORT", "USER_CONTACT_EMAIL", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("dpo/BILLING", "USER_IDENTITY_NAME", "ACTIVE", "STRIP ROLE_NOT_PERMITTED"),
    ("security/SECURITY", "USER_MESSAGE_CONTENT", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("security/SECURITY", "USER_CONTACT_PHONE", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("security/SECURITY", "USER_CONTACT_ADDRESS", "ACTIVE", "MASK DATA_MINIMISATION"),
    ("security/SECURITY", "USER_FINANCIAL_INSTRUMENT", "ACTIVE", "MASK DATA_MINIMISATION"),
    ("security/LEGAL", "USER_FINANCIAL_INSTRUMENT", "ACTIVE", "SHOW ROLE_PURPOSE_PERMITS"),
    ("security/SECURITY", "USER_MESSAGE_CONTENT", "ERASED", "STRIP ERASED"),
    ("security/ANALYTICS", "USER_IDENTITY_NAME", "ACTIVE", "STRIP ROLE_NOT_PERMITTED"),
    # Links and states (2026-12-01.1): decided like fields; reasons never name a state
    # to a viewer who may not know it.
    ("self", "USER_PRIVACY_STATE", "PENDING", "SHOW SELF"),
    ("public", "USER_PRIVACY_STATE", "ACTIVE", "STRIP NOT_PERMITTED"),
    ("counterparty", "USER_PRIVACY_STATE", "PENDING", "STRIP NOT_PERMITTED"),
    ("support/SUPPORT", "USER_PRIVACY_STATE", "PENDING", "SHOW ROLE_PURPOSE_PERMITS"),
    ("dpo/LEGAL", "USER_PRIVACY_STATE", "ERASED", "SHOW ROLE_PURPOSE_PERMITS"),
    ("analyst/ANALYTICS", "USER_PRIVACY_STATE", "ACTIVE", "STRIP PURPOSE_NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_COMMERCE_PARTY", "ACTIVE", "MASK PSEUDONYMISED PSEUDONYM"),
    ("analyst/ANALYTICS", "USER_COMMERCE_PARTY", "ACTIVE-consent", "STRIP NOT_PERMITTED"),
    ("analyst/ANALYTICS", "USER_UGC_CONTENT", "ERASED", "STRIP NOT_PERMITTED"),
    ("public", "USER_UGC_AUTHORSHIP", "PENDING", "STRIP NOT_PERMITTED"),
    ("public", "USER_COMPANY_MEMBERSHIP", "ACTIVE", "STRIP NOT_COUNTERPARTY"),
    ("counterparty", "USER_COMPANY_MEMBERSHIP", "ACTIVE", "SHOW FULFILLMENT_NEEDS"),
    ("public", "USER_LISTING_OWNER", "ACTIVE", "SHOW PUBLIC_PROFILE"),
    ("public", "USER_LISTING_OWNER", "PENDING", "STRIP NOT_PERMITTED"),
    ("former", "USER_COMMERCE_PARTY", "PENDING", "MASK NOT_PERMITTED TOMBSTONE"),
    ("former", "USER_COMMERCE_PARTY", "ERASED+retained", "MASK NOT_PERMITTED TOMBSTONE"),
    ("finance/BILLING", "USER_COMMERCE_PARTY", "ERASED+retained", "SHOW RETAINED_RECORD"),
    ("participant", "USER_CONVERSATION_PARTICIPATION", "ACTIVE", "SHOW CONVERSATION"),
    ("participant", "USER_CONVERSATION_PARTICIPATION", "ERASED", "STRIP NOT_PERMITTED"),
    ("support/SUPPORT", "USER_UGC_AUTHORSHIP", "ERASED", "STRIP ERASED"),
]

_RELATIONSHIPS = {
    "self": Relationship.SELF,
    "counterparty": Relationship.COUNTERPARTY,
    "former": Relationship.FORMER_COUNTERPARTY,
    "participant": Relationship.PARTICIPANT,
    "public": Relationship.PUBLIC,
}
_DELETION = {
    "ACTIVE": DeletionState.ACTIVE,
    "PENDING": DeletionState.ERASURE_PENDING,
    "ERASED": DeletionState.ERASED,
    "PURGED": DeletionState.PURGED,
}


def parse_viewer(text: str) -> Audience:
    who, _, purpose = text.partition("/")
    if who in _RELATIONSHIPS:
        return Audience(_RELATIONSHIPS[who], None, Purpose[purpose or "FULFILLMENT"])
    return Audience(Relationship.EMPLOYEE, Role[who.upper()], Purpose[purpose])


def parse_state(text: str) -> tuple[SubjectState, bool]:
    deletion = text.split("+")[0].split("-")[0]
    state = SubjectState(_DELETION[deletion], analytics_consent="-consent" not in text)
    return state, "+retained" in text


def parse_decision(text: str) -> Decision:
    action, reason, *strategy = text.split()
    return Decision(Action[action], Reason[reason], Strategy[strategy[0]] if strategy else None)


@pytest.mark.parametrize(("viewer", "category", "state", "expected"), EXPECTED)
def test_expected_row(viewer: str, category: str, state: str, expected: str) -> None:
    subject, retained = parse_state(state)
    decision = DEFAULT_POLICY.decide(
        parse_viewer(viewer), Category[category], subject, retained=retained
    )
    assert decision == parse_decision(expected)


def test_rows_are_unique() -> None:
    keys = [(viewer, category, state) for viewer, category, state, _ in EXPECTED]
    assert len(keys) == len(set(keys))
