"""The privacy policy as a pure function of plain data (DESIGN §4).

`Policy.decide` answers, for one field, SHOW, MASK or STRIP with a reason:

1. Gate. An employee naming a purpose outside their role's purposes gets
   nothing (ROLE_NOT_PERMITTED, Art. 3.2); a platform user other than SELF
   naming anything but FULFILLMENT gets nothing (PURPOSE_NOT_PERMITTED); a
   consent-based purpose (ANALYTICS) gets nothing of a subject who withdrew
   consent (CONSENT_WITHDRAWN), nor of one pending erasure or erased: their consent
   ended with the request. SELF passes whatever purpose it names.
2. Base. SELF sees all of their own data (Art. 4.1); employees get their
   (role, purpose) table; platform users their relationship's table.
3. Deletion state, which only ever narrows the base: the stricter decision
   wins, and on a tie the state's decision (its reason, its strategy).
   - ERASURE_PENDING (restriction of processing): the public, former
     counterparties and conversation participants see a "Deleted user" name
     and message bodies only; a counterparty of an order still in progress
     keeps what delivery needs and loses only UGC; employees keep their
     role's view (they handle the request) except analysts.
   - ERASED / PURGED: names and authorship read "Deleted user", message
     bodies stay visible to the other participants (Art. 6.4), the rest is
     gone, for SELF too. On retained records (Art. 6.5) FINANCE/BILLING and
     DPO/LEGAL still read name, billing, card, tax id and company address;
     everyone else gets RETENTION_ONLY. PURGED means the 5-year hold has
     expired, so `retained` unlocks nothing any more.
4. Reasons. A subject's state is personal data: only SELF and the staff in
   `state_aware` read a state's reason. For everyone else, a decision the state
   changed reads NOT_PERMITTED, and one it did not change keeps the reason it has
   for an active, consenting subject: the reason says nothing the value does not.

Where DESIGN is silent: counterparties see the email masked (messaging goes
through the platform) and the account creation date as a month; a company's
tax id is public (register) while its address is shown to the public only as
"city, country" and its contact person not at all; support and security see
addresses as "city, country"; finance sees the card reference because
reconciliation needs it; security sees billing and card masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from directives import rules
from directives.decision import Action, Decision, Reason, show, strip
from directives.masking import Strategy
from directives.taxonomy import (
    PURPOSE_BASIS,
    ROLE_PURPOSES,
    Category,
    DeletionState,
    LawfulBasis,
    Purpose,
    Relationship,
    Role,
)

_ERASED_STATES = frozenset({DeletionState.ERASED, DeletionState.PURGED})
_STRICTNESS = {Action.SHOW: 0, Action.MASK: 1, Action.STRIP: 2}
_PLATFORM_RELATIONSHIPS = (
    Relationship.SELF,
    Relationship.COUNTERPARTY,
    Relationship.FORMER_COUNTERPARTY,
    Relationship.PARTICIPANT,
    Relationship.PUBLIC,
)


@dataclass(frozen=True, slots=True)
class SubjectState:
    deletion: DeletionState
    analytics_consent: bool


ACTIVE_CONSENTING = SubjectState(DeletionState.ACTIVE, analytics_consent=True)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who reads: relationship to the subject, the employee's role, the purpose named."""

    relationship: Relationship
    role: Role | None
    purpose: Purpose

    def __post_init__(self) -> None:
        if (self.relationship is Relationship.EMPLOYEE) != (self.role is not None):
            raise ValueError(
                "an Audience has a role exactly when its relationship is EMPLOYEE; "
                "pass role=None for platform users"
            )


Tables = Mapping[Relationship | Role, Mapping[Category, Decision]]


@dataclass(frozen=True)
class Policy:
    version: str
    relationship_rules: Mapping[Relationship, Mapping[Category, Decision]]
    role_rules: Mapping[tuple[Role, Purpose], Mapping[Category, Decision]]
    pending_overlays: Tables
    erased: Mapping[Category, Decision]
    erased_overrides: Tables
    legal_hold: Mapping[Category, frozenset[tuple[Role, Purpose]]]
    retention_only: Mapping[Category, Decision]
    legal_hold_states: frozenset[DeletionState] = rules.LEGAL_HOLD_STATES
    state_aware: frozenset[tuple[Role, Purpose]] = rules.STATE_AWARE
    role_purposes: Mapping[Role, frozenset[Purpose]] = field(default_factory=lambda: ROLE_PURPOSES)
    purpose_basis: Mapping[Purpose, LawfulBasis] = field(default_factory=lambda: PURPOSE_BASIS)
    platform_purposes: frozenset[Purpose] = frozenset({Purpose.FULFILLMENT})
    # `decide` is a pure function of its arguments and the tables above, which nothing
    # changes once built: its answers are remembered per policy (a few hundred keys: viewer
    # classes x categories x states), never a subject's, only a class's.
    _decided: dict[tuple[object, ...], Decision] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        complete = {
            **{r.value: t for r, t in self.relationship_rules.items()},
            **{f"{r.value}/{p.value}": t for (r, p), t in self.role_rules.items()},
            "erased": self.erased,
        }
        for name, table in complete.items():
            if missing := set(Category) - set(table):
                raise ValueError(f"policy table {name} lacks {sorted(c.value for c in missing)}")
        needed = {r for r in Relationship if r not in (Relationship.SELF, Relationship.EMPLOYEE)}
        if lacking := needed - set(self.relationship_rules):
            raise ValueError(f"no policy table for {sorted(r.value for r in lacking)}")
        pairs = {(r, p) for r, ps in self.role_purposes.items() for p in ps}
        if lacking_pairs := pairs - set(self.role_rules):
            raise ValueError(f"no policy table for {sorted(f'{r}/{p}' for r, p in lacking_pairs)}")
        if missing_retained := set(self.legal_hold) - set(self.retention_only):
            raise ValueError(f"retention_only lacks {sorted(c.value for c in missing_retained)}")

    def decide(
        self,
        audience: Audience,
        category: Category,
        state: SubjectState,
        *,
        retained: bool = False,
        strategy: Strategy | None = None,
    ) -> Decision:
        """The decision for one field. `strategy` is the field's own mask, given for a
        value (not a link): a mask that produces nothing with it (REDACT) is then the STRIP
        it is, before reasons are compared, so the reason follows what the viewer gets."""
        key = (audience, category, state, retained, strategy)
        decided = self._decided
        found = decided.get(key)
        if found is None:
            found = decided[key] = self._decision(audience, category, state, retained, strategy)
        return found

    def _decision(
        self,
        audience: Audience,
        category: Category,
        state: SubjectState,
        retained: bool,
        strategy: Strategy | None,
    ) -> Decision:
        decision = _answered(self._decide(audience, category, state, retained), strategy)
        if state == ACTIVE_CONSENTING or self.knows_state(audience):
            return decision
        baseline = _answered(
            self._decide(audience, category, ACTIVE_CONSENTING, retained), strategy
        )
        if (decision.action, decision.strategy) == (baseline.action, baseline.strategy):
            return baseline
        return Decision(decision.action, Reason.NOT_PERMITTED, decision.strategy)

    def knows_state(self, audience: Audience) -> bool:
        """Whether the audience may learn a subject's deletion and consent state."""
        if audience.relationship is Relationship.SELF:
            return True
        return audience.role is not None and (audience.role, audience.purpose) in self.state_aware

    def _decide(
        self, audience: Audience, category: Category, state: SubjectState, retained: bool
    ) -> Decision:
        if audience.relationship is Relationship.SELF:
            base = show(Reason.SELF)
        elif gate := self._gate(audience, state):
            return gate
        elif audience.role is not None:
            base = self.role_rules[(audience.role, audience.purpose)][category]
        else:
            base = self.relationship_rules[audience.relationship][category]
        return _stricter(self._by_state(audience, category, state, retained), base)

    def _by_state(
        self, audience: Audience, category: Category, state: SubjectState, retained: bool
    ) -> Decision | None:
        key = _key(audience)
        if state.deletion is DeletionState.ERASURE_PENDING:
            return self.pending_overlays.get(key, {}).get(category)
        if state.deletion not in _ERASED_STATES:
            return None
        holders = self.legal_hold.get(category)
        if retained and holders is not None and state.deletion in self.legal_hold_states:
            if (audience.role, audience.purpose) in holders:
                return show(Reason.RETAINED_RECORD)
            return self.retention_only[category]
        return self.erased_overrides.get(key, {}).get(category) or self.erased[category]

    def decide_all(
        self, audience: Audience, state: SubjectState, *, retained: bool = False
    ) -> dict[Category, Decision]:
        """Every category at once: decide once per (subject, request)."""
        return {c: self.decide(audience, c, state, retained=retained) for c in Category}

    def explain(
        self, category: Category, state: SubjectState, *, retained: bool = False
    ) -> list[tuple[Audience, Decision]]:
        """The decision for every viewer class, for catalogs and `redactionStatus`."""
        return [(a, self.decide(a, category, state, retained=retained)) for a in audiences()]

    def permitted(self, category: Category) -> list[Audience]:
        """Audiences that see the category, shown or masked, of an active consenting subject."""
        return [
            audience
            for audience, decision in self.explain(category, ACTIVE_CONSENTING)
            if decision.action is not Action.STRIP
        ]

    def _gate(self, audience: Audience, state: SubjectState) -> Decision | None:
        if audience.role is not None:
            if audience.purpose not in self.role_purposes.get(audience.role, frozenset()):
                return strip(Reason.ROLE_NOT_PERMITTED)
        elif audience.purpose not in self.platform_purposes:
            return strip(Reason.PURPOSE_NOT_PERMITTED)
        if self.purpose_basis[audience.purpose] is LawfulBasis.CONSENT:
            if not state.analytics_consent:
                return strip(Reason.CONSENT_WITHDRAWN)
            if state.deletion is DeletionState.ERASURE_PENDING:
                return strip(Reason.ERASURE_PENDING)
            if state.deletion in _ERASED_STATES:
                return strip(Reason.ERASED)
        return None


def audiences() -> list[Audience]:
    """Every viewer class: platform users acting for FULFILLMENT, then role x purpose."""
    platform = [Audience(r, None, Purpose.FULFILLMENT) for r in _PLATFORM_RELATIONSHIPS]
    staff = [Audience(Relationship.EMPLOYEE, r, p) for r in Role for p in Purpose]
    return platform + staff


def _key(audience: Audience) -> Relationship | Role:
    return audience.role if audience.role is not None else audience.relationship


def _answered(decision: Decision, strategy: Strategy | None) -> Decision:
    if strategy is None or decision.action is not Action.MASK:
        return decision
    if (decision.strategy or strategy) is Strategy.REDACT:
        return strip(decision.reason)
    return decision


def _stricter(by_state: Decision | None, base: Decision) -> Decision:
    # Deletion never widens access; on a tie its reason says more than the base's.
    if by_state is None or _STRICTNESS[by_state.action] < _STRICTNESS[base.action]:
        return base
    return by_state


DEFAULT_POLICY = Policy(
    # 2026-12-01.1: links and states decided like fields; reasons never reveal a state.
    version="2026-12-01.1",
    relationship_rules=rules.RELATIONSHIP_RULES,
    role_rules=rules.ROLE_RULES,
    pending_overlays=rules.PENDING_OVERLAYS,
    erased=rules.ERASED,
    erased_overrides=rules.ERASED_OVERRIDES,
    legal_hold=rules.LEGAL_HOLD,
    retention_only=rules.RETENTION_ONLY,
)
