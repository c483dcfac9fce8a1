"""Invariants over every combination the policy can be asked about."""

from collections.abc import Iterator
from itertools import product

import pytest

from directives.decision import STATE_REASONS, Action, Decision, Reason
from directives.masking import Strategy
from directives.policy import DEFAULT_POLICY, Audience, SubjectState
from directives.rules import SUGGESTED_STRATEGY
from directives.taxonomy import (
    ROLE_PURPOSES,
    Category,
    DeletionState,
    Purpose,
    Relationship,
    Role,
)

C = Category
ERASED_STATES = {DeletionState.ERASED, DeletionState.PURGED}
CONTACT = {C.USER_CONTACT_EMAIL, C.USER_CONTACT_PHONE, C.USER_CONTACT_ADDRESS}
PUBLIC_NEVER = CONTACT | {
    C.USER_FINANCIAL_BILLING,
    C.USER_FINANCIAL_INSTRUMENT,
    C.USER_MESSAGE_CONTENT,
    C.USER_MESSAGE_AUTHORSHIP,
    C.COMPANY_CONTACT_PERSON,
}
PERMIT_REASONS = {
    Reason.SELF,
    Reason.FULFILLMENT_NEEDS,
    Reason.ORDER_HISTORY,
    Reason.CONVERSATION,
    Reason.PUBLIC_PROFILE,
    Reason.PUBLIC_REGISTER,
    Reason.ROLE_PURPOSE_PERMITS,
    Reason.RETAINED_RECORD,
}
ANALYST_MASKS = {Strategy.PSEUDONYM, Strategy.GENERALIZE, Strategy.TOMBSTONE}
STRICTNESS = {Action.SHOW: 0, Action.MASK: 1, Action.STRIP: 2}

Row = tuple[Audience, Category, SubjectState, bool, Decision]


def every_audience() -> Iterator[Audience]:
    for relationship, purpose in product(Relationship, Purpose):
        if relationship is Relationship.EMPLOYEE:
            for role in Role:
                yield Audience(relationship, role, purpose)
        else:
            yield Audience(relationship, None, purpose)


def every_row() -> Iterator[Row]:
    for audience, category, deletion, consent, retained in product(
        every_audience(), Category, DeletionState, (True, False), (True, False)
    ):
        state = SubjectState(deletion, consent)
        yield (
            audience,
            category,
            state,
            retained,
            DEFAULT_POLICY.decide(audience, category, state, retained=retained),
        )


ROWS = list(every_row())


def test_the_table_is_complete() -> None:
    audiences = 5 * len(Purpose) + len(Role) * len(Purpose)
    assert len(ROWS) == audiences * len(Category) * len(DeletionState) * 2 * 2


def test_every_decision_is_typed_and_has_a_reason() -> None:
    for *_, decision in ROWS:
        assert isinstance(decision.action, Action)
        assert isinstance(decision.reason, Reason)


def test_reasons_agree_with_actions() -> None:
    for *_, decision in ROWS:
        if decision.action is Action.SHOW:
            assert decision.reason in PERMIT_REASONS
            assert decision.strategy is None
        if decision.action is Action.STRIP:
            assert decision.reason not in PERMIT_REASONS
            assert decision.strategy is None


def test_mask_decisions_have_a_resolvable_strategy() -> None:
    for _, category, _, _, decision in ROWS:
        if decision.action is Action.MASK:
            resolved = decision.effective_strategy(SUGGESTED_STRATEGY[category])
            assert resolved is not None and resolved is not Strategy.REDACT


def test_self_sees_everything_while_the_account_exists() -> None:
    for audience, _, state, _, decision in ROWS:
        if audience.relationship is Relationship.SELF and state.deletion not in ERASED_STATES:
            assert decision == Decision(Action.SHOW, Reason.SELF)


def test_role_not_permitted_always_strips() -> None:
    for audience, _, _, _, decision in ROWS:
        if audience.role is not None and audience.purpose not in ROLE_PURPOSES[audience.role]:
            assert decision == Decision(Action.STRIP, Reason.ROLE_NOT_PERMITTED)


def test_platform_users_act_only_for_fulfillment() -> None:
    for audience, _, _, _, decision in ROWS:
        user = audience.relationship not in (Relationship.SELF, Relationship.EMPLOYEE)
        if user and audience.purpose is not Purpose.FULFILLMENT:
            assert decision == Decision(Action.STRIP, Reason.PURPOSE_NOT_PERMITTED)


def test_withdrawn_analytics_consent_hides_everything_from_analytics() -> None:
    for audience, _, state, _, decision in ROWS:
        if state.analytics_consent or audience.purpose is not Purpose.ANALYTICS:
            continue
        if audience.relationship is not Relationship.SELF:
            assert decision.action is Action.STRIP
        if audience.role is Role.ANALYST:
            # The analyst may not learn the subject's choice: NOT_PERMITTED, or the reason
            # the field has for a consenting subject where that strips it too.
            assert decision.action is Action.STRIP
            assert decision.reason in (Reason.NOT_PERMITTED, Reason.PURPOSE_NOT_PERMITTED)


def test_consent_based_purposes_get_nothing_of_pending_or_erased_subjects() -> None:
    for audience, _, state, _, decision in ROWS:
        consent_based = audience.purpose is Purpose.ANALYTICS
        others = audience.relationship is not Relationship.SELF
        if consent_based and others and state.deletion is not DeletionState.ACTIVE:
            assert decision.action is Action.STRIP


def test_reasons_never_name_a_state_to_a_viewer_who_may_not_know_it() -> None:
    for audience, _, _, _, decision in ROWS:
        if not DEFAULT_POLICY.knows_state(audience):
            assert decision.reason not in STATE_REASONS, (audience, decision)


def test_a_reason_says_nothing_the_outcome_does_not_to_the_unaware() -> None:
    """For a viewer who may not know states, the reason is a function of what they get
    (action and strategy): two subject states with the same outcome give the same reason."""
    reasons: dict[tuple[object, ...], set[Reason]] = {}
    for audience, category, _, retained, decision in ROWS:
        if DEFAULT_POLICY.knows_state(audience):
            continue
        key = (audience, category, retained, decision.action, decision.strategy)
        reasons.setdefault(key, set()).add(decision.reason)
    varying = {key: found for key, found in reasons.items() if len(found) > 1}
    assert not varying
    # The check can fail: aware viewers do get state reasons that vary with the state.
    support = Audience(Relationship.EMPLOYEE, Role.SUPPORT, Purpose.SUPPORT)
    pending = SubjectState(DeletionState.ERASURE_PENDING, True)
    erased = SubjectState(DeletionState.ERASED, False)
    email = C.USER_CONTACT_EMAIL
    assert DEFAULT_POLICY.decide(support, email, erased).reason is Reason.ERASED
    assert DEFAULT_POLICY.decide(support, email, pending).action is Action.SHOW


def test_reasons_follow_the_answer_for_fields_whose_mask_produces_nothing() -> None:
    """The same invariance for a REDACT field, where the policy resolves a mask to STRIP:
    a state that changes nothing the viewer gets changes no reason either."""
    reasons: dict[tuple[object, ...], set[Reason]] = {}
    for audience, category, deletion, consent, retained in product(
        every_audience(), Category, DeletionState, (True, False), (True, False)
    ):
        if DEFAULT_POLICY.knows_state(audience):
            continue
        state = SubjectState(deletion, consent)
        decision = DEFAULT_POLICY.decide(
            audience, category, state, retained=retained, strategy=Strategy.REDACT
        )
        assert decision.action is not Action.MASK or decision.strategy not in (
            None,
            Strategy.REDACT,
        )
        key = (audience, category, retained, decision.action, decision.strategy)
        reasons.setdefault(key, set()).add(decision.reason)
    assert not {key: found for key, found in reasons.items() if len(found) > 1}


def test_only_the_subject_and_state_aware_staff_read_a_state() -> None:
    for audience, category, _, _, decision in ROWS:
        if category is C.USER_PRIVACY_STATE and decision.action is not Action.STRIP:
            assert DEFAULT_POLICY.knows_state(audience)


def test_analysts_never_see_identity_or_contact_in_the_clear() -> None:
    raw = {C.USER_IDENTITY_NAME, C.COMPANY_CONTACT_PERSON} | CONTACT
    for audience, category, _, _, decision in ROWS:
        if audience.role is Role.ANALYST and category in raw:
            assert decision.action is not Action.SHOW
            if decision.action is Action.MASK and category is not C.USER_CONTACT_ADDRESS:
                assert decision.strategy in ANALYST_MASKS
            if decision.action is Action.MASK and category is C.USER_CONTACT_ADDRESS:
                # The field's own mask: street and postal code REDACT, city GENERALIZE.
                assert decision.strategy is None


def test_erased_subjects_leak_no_contact_data() -> None:
    for audience, category, state, retained, decision in ROWS:
        if state.deletion not in ERASED_STATES:
            continue
        if category in CONTACT:
            assert decision.action is Action.STRIP
        if decision.action is Action.MASK:
            assert decision.strategy is Strategy.TOMBSTONE
        if decision.action is Action.SHOW:
            holder = (audience.role, audience.purpose) in {
                (Role.FINANCE, Purpose.BILLING),
                (Role.DPO, Purpose.LEGAL),
            }
            retained_show = retained and holder and state.deletion is DeletionState.ERASED
            state_shown = category is C.USER_PRIVACY_STATE and DEFAULT_POLICY.knows_state(audience)
            bodies = category is C.USER_MESSAGE_CONTENT and audience.relationship in (
                Relationship.COUNTERPARTY,
                Relationship.FORMER_COUNTERPARTY,
                Relationship.PARTICIPANT,
            )
            assert retained_show or bodies or state_shown


def test_the_public_never_sees_contact_financial_or_messages() -> None:
    for audience, category, _, _, decision in ROWS:
        if audience.relationship is Relationship.PUBLIC and category in PUBLIC_NEVER:
            assert decision.action is Action.STRIP


def test_erasure_pending_restricts_processing() -> None:
    restricted = (
        Relationship.PUBLIC,
        Relationship.FORMER_COUNTERPARTY,
        Relationship.PARTICIPANT,
    )
    for audience, category, state, _, decision in ROWS:
        if state.deletion is not DeletionState.ERASURE_PENDING:
            continue
        if audience.relationship in restricted and category is not C.USER_MESSAGE_CONTENT:
            assert decision.action is not Action.SHOW
            if decision.action is Action.MASK:
                assert decision.strategy is Strategy.TOMBSTONE
        ugc = category in (C.USER_UGC_CONTENT, C.USER_UGC_AUTHORSHIP)
        if ugc and audience.relationship not in (Relationship.SELF, Relationship.EMPLOYEE):
            assert decision.action is Action.STRIP
        if audience.role is Role.ANALYST:
            assert decision.action is Action.STRIP


def test_deletion_never_widens_access() -> None:
    decisions = {(a, c, s, r): d for a, c, s, r, d in ROWS}
    for (audience, category, state, retained), decision in decisions.items():
        active_state = SubjectState(DeletionState.ACTIVE, state.analytics_consent)
        active = decisions[(audience, category, active_state, retained)]
        assert STRICTNESS[decision.action] >= STRICTNESS[active.action]


@pytest.mark.parametrize("deletion", [d for d in DeletionState if d is not DeletionState.ERASED])
def test_retention_matters_only_while_erased(deletion: DeletionState) -> None:
    for audience, category in product(every_audience(), Category):
        state = SubjectState(deletion, analytics_consent=True)
        assert DEFAULT_POLICY.decide(audience, category, state, retained=True) == (
            DEFAULT_POLICY.decide(audience, category, state, retained=False)
        )


def test_consent_matters_only_for_consent_based_purposes() -> None:
    for audience, category, deletion in product(every_audience(), Category, DeletionState):
        if audience.purpose is Purpose.ANALYTICS:
            continue
        given, withdrawn = (SubjectState(deletion, consent) for consent in (True, False))
        assert DEFAULT_POLICY.decide(audience, category, given) == (
            DEFAULT_POLICY.decide(audience, category, withdrawn)
        )
