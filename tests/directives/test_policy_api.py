import dataclasses
import re
from types import MappingProxyType

import pytest

from directives import rules
from directives.decision import Action, Decision, Reason, show, strip
from directives.masking import Strategy
from directives.policy import (
    ACTIVE_CONSENTING,
    DEFAULT_POLICY,
    Audience,
    SubjectState,
    audiences,
)
from directives.taxonomy import Category, DeletionState, Purpose, Relationship, Role


def test_version_is_dated() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", DEFAULT_POLICY.version)


def test_audience_needs_a_role_exactly_when_employee() -> None:
    with pytest.raises(ValueError, match="EMPLOYEE"):
        Audience(Relationship.EMPLOYEE, None, Purpose.SUPPORT)
    with pytest.raises(ValueError, match="EMPLOYEE"):
        Audience(Relationship.PUBLIC, Role.DPO, Purpose.LEGAL)


def test_explain_covers_every_viewer_class_in_order() -> None:
    rows = DEFAULT_POLICY.explain(Category.USER_CONTACT_EMAIL, ACTIVE_CONSENTING)
    viewers = [audience for audience, _ in rows]
    assert viewers == audiences()
    assert len(viewers) == 5 + len(Role) * len(Purpose)
    assert [a.relationship for a in viewers[:5]] == [
        Relationship.SELF,
        Relationship.COUNTERPARTY,
        Relationship.FORMER_COUNTERPARTY,
        Relationship.PARTICIPANT,
        Relationship.PUBLIC,
    ]
    assert all(a.purpose is Purpose.FULFILLMENT for a in viewers[:5])
    assert {(a.role, a.purpose) for a in viewers[5:]} == {(r, p) for r in Role for p in Purpose}


def test_explain_reflects_the_subject_state() -> None:
    erased = SubjectState(DeletionState.ERASED, analytics_consent=False)
    rows = dict(DEFAULT_POLICY.explain(Category.USER_FINANCIAL_BILLING, erased, retained=True))
    finance = Audience(Relationship.EMPLOYEE, Role.FINANCE, Purpose.BILLING)
    assert rows[finance] == show(Reason.RETAINED_RECORD)
    public = Audience(Relationship.PUBLIC, None, Purpose.FULFILLMENT)
    # The public may not learn that the subject is erased: the reason an active
    # subject's billing data gets from it, not RETENTION_ONLY.
    assert rows[public] == strip(Reason.NOT_COUNTERPARTY)


def test_permitted_lists_who_sees_an_email() -> None:
    permitted = DEFAULT_POLICY.permitted(Category.USER_CONTACT_EMAIL)
    described = {(a.relationship, a.role, a.purpose) for a in permitted}
    employee = Relationship.EMPLOYEE
    assert described == {
        (Relationship.SELF, None, Purpose.FULFILLMENT),
        (Relationship.COUNTERPARTY, None, Purpose.FULFILLMENT),
        (employee, Role.SUPPORT, Purpose.SUPPORT),
        (employee, Role.SUPPORT, Purpose.FULFILLMENT),
        (employee, Role.FINANCE, Purpose.BILLING),
        (employee, Role.ANALYST, Purpose.ANALYTICS),
        (employee, Role.DPO, Purpose.SUPPORT),
        (employee, Role.DPO, Purpose.LEGAL),
        (employee, Role.SECURITY, Purpose.SECURITY),
        (employee, Role.SECURITY, Purpose.LEGAL),
    }


def test_decide_all_matches_decide() -> None:
    audience = Audience(Relationship.PUBLIC, None, Purpose.FULFILLMENT)
    decided = DEFAULT_POLICY.decide_all(audience, ACTIVE_CONSENTING)
    assert set(decided) == set(Category)
    for category, decision in decided.items():
        assert decision == DEFAULT_POLICY.decide(audience, category, ACTIVE_CONSENTING)


def test_counsel_changes_a_row_without_touching_logic() -> None:
    public = dict(rules.PUBLIC)
    public[Category.USER_IDENTITY_NAME] = show(Reason.PUBLIC_PROFILE)
    relationship_rules = {**rules.RELATIONSHIP_RULES, Relationship.PUBLIC: public}
    policy = dataclasses.replace(
        DEFAULT_POLICY, version="2027-01-01.1", relationship_rules=relationship_rules
    )
    audience = Audience(Relationship.PUBLIC, None, Purpose.FULFILLMENT)
    assert policy.decide(audience, Category.USER_IDENTITY_NAME, ACTIVE_CONSENTING).action is (
        Action.SHOW
    )
    assert DEFAULT_POLICY.decide(audience, Category.USER_IDENTITY_NAME, ACTIVE_CONSENTING) == (
        Decision(Action.MASK, Reason.PUBLIC_PROFILE, Strategy.NAME)
    )


def test_an_incomplete_table_is_refused() -> None:
    public: dict[Category, Decision] = dict(rules.PUBLIC)
    del public[Category.USER_CONTACT_EMAIL]
    with pytest.raises(ValueError, match=r"PUBLIC lacks \['user.contact.email'\]"):
        dataclasses.replace(
            DEFAULT_POLICY,
            relationship_rules={**rules.RELATIONSHIP_RULES, Relationship.PUBLIC: public},
        )


def test_a_permitted_role_purpose_without_table_is_refused() -> None:
    role_purposes = MappingProxyType({Role.FINANCE: frozenset({Purpose.BILLING, Purpose.LEGAL})})
    with pytest.raises(ValueError, match="FINANCE/LEGAL"):
        dataclasses.replace(DEFAULT_POLICY, role_purposes=role_purposes)


def test_a_role_without_purposes_sees_nothing() -> None:
    policy = dataclasses.replace(DEFAULT_POLICY, role_purposes={Role.DPO: frozenset()})
    audience = Audience(Relationship.EMPLOYEE, Role.SUPPORT, Purpose.SUPPORT)
    decision = policy.decide(audience, Category.USER_IDENTITY_NAME, ACTIVE_CONSENTING)
    assert decision == strip(Reason.ROLE_NOT_PERMITTED)


def test_default_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        rules.PUBLIC[Category.USER_CONTACT_EMAIL] = show(Reason.PUBLIC_PROFILE)  # type: ignore[index]


def test_effective_strategy() -> None:
    assert show(Reason.SELF).effective_strategy(Strategy.EMAIL) is None
    assert strip(Reason.ERASED).effective_strategy(Strategy.EMAIL) is None
    masked = Decision(Action.MASK, Reason.DATA_MINIMISATION)
    assert masked.effective_strategy(Strategy.EMAIL) is Strategy.EMAIL
    tombstone = Decision(Action.MASK, Reason.ERASED, Strategy.TOMBSTONE)
    assert tombstone.effective_strategy(Strategy.NAME) is Strategy.TOMBSTONE


def test_remembered_decisions_are_the_decisions() -> None:
    """`decide` remembers its answers per process: for every viewer class, category, state,
    retention and strategy the remembered answer is the one computed afresh, asked twice
    (the second from memory), and a policy built anew starts with none of the old ones."""
    policy = dataclasses.replace(DEFAULT_POLICY)
    states = [SubjectState(d, c) for d in DeletionState for c in (True, False)]
    strategies = [None, Strategy.REDACT, Strategy.EMAIL, Strategy.PSEUDONYM]
    assert policy._decided == {}
    checked = 0
    for audience in audiences():
        for category in Category:
            for state in states:
                for retained in (False, True):
                    for strategy in strategies:
                        fresh = policy._decision(audience, category, state, retained, strategy)
                        for _ in range(2):
                            remembered = policy.decide(
                                audience, category, state, retained=retained, strategy=strategy
                            )
                            assert remembered == fresh
                        checked += 1
    assert len(policy._decided) == checked
