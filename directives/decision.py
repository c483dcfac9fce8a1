"""What the policy decides for one field: show it, mask it, or strip it, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from directives.masking import Strategy


class Action(StrEnum):
    SHOW = "SHOW"
    MASK = "MASK"
    STRIP = "STRIP"


class Reason(StrEnum):
    """Why a decision was taken; reported to clients in `extensions.privacy`."""

    SELF = "SELF"
    FULFILLMENT_NEEDS = "FULFILLMENT_NEEDS"
    ORDER_HISTORY = "ORDER_HISTORY"
    CONVERSATION = "CONVERSATION"
    PUBLIC_PROFILE = "PUBLIC_PROFILE"
    PUBLIC_REGISTER = "PUBLIC_REGISTER"
    ROLE_PURPOSE_PERMITS = "ROLE_PURPOSE_PERMITS"
    DATA_MINIMISATION = "DATA_MINIMISATION"
    RETAINED_RECORD = "RETAINED_RECORD"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    ERASURE_PENDING = "ERASURE_PENDING"
    ERASED = "ERASED"
    NOT_COUNTERPARTY = "NOT_COUNTERPARTY"
    FULFILLMENT_COMPLETE = "FULFILLMENT_COMPLETE"
    PURPOSE_NOT_PERMITTED = "PURPOSE_NOT_PERMITTED"
    ROLE_NOT_PERMITTED = "ROLE_NOT_PERMITTED"
    PSEUDONYMISED = "PSEUDONYMISED"
    RETENTION_ONLY = "RETENTION_ONLY"
    # Hidden for a reason the viewer may not learn (the subject's deletion or consent state).
    NOT_PERMITTED = "NOT_PERMITTED"


@dataclass(frozen=True, slots=True)
class Decision:
    """`strategy` overrides the field's own strategy when the policy demands one."""

    action: Action
    reason: Reason
    strategy: Strategy | None = None

    def effective_strategy(self, field_strategy: Strategy) -> Strategy | None:
        """The strategy to mask with, or None when the value is shown or stripped."""
        if self.action is not Action.MASK:
            return None
        return self.strategy or field_strategy


# Reasons that say where a subject stands with their privacy choices: only the subject and
# staff whose purpose needs the state may read them (DESIGN 4, "states and reasons").
STATE_REASONS = frozenset(
    {
        Reason.CONSENT_WITHDRAWN,
        Reason.ERASURE_PENDING,
        Reason.ERASED,
        Reason.RETAINED_RECORD,
        Reason.RETENTION_ONLY,
    }
)


def show(reason: Reason) -> Decision:
    return Decision(Action.SHOW, reason)


def mask(reason: Reason, strategy: Strategy | None = None) -> Decision:
    return Decision(Action.MASK, reason, strategy)


def strip(reason: Reason) -> Decision:
    return Decision(Action.STRIP, reason)
