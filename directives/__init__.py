"""Privacy policy: pure data and pure functions. SDL directives live in `directives.sdl`."""

from directives.decision import Action, Decision, Reason
from directives.masking import Strategy, apply_mask
from directives.policy import DEFAULT_POLICY, Audience, Policy, SubjectState, audiences
from directives.report import Redaction, RedactionGroup, RedactionReport
from directives.taxonomy import (
    PURPOSE_BASIS,
    ROLE_PURPOSES,
    Category,
    DeletionState,
    LawfulBasis,
    Purpose,
    Relationship,
    Role,
    withdrawable,
)

__all__ = [
    "DEFAULT_POLICY",
    "PURPOSE_BASIS",
    "ROLE_PURPOSES",
    "Action",
    "Audience",
    "Category",
    "Decision",
    "DeletionState",
    "LawfulBasis",
    "Policy",
    "Purpose",
    "Reason",
    "Redaction",
    "RedactionGroup",
    "RedactionReport",
    "Relationship",
    "Role",
    "Strategy",
    "SubjectState",
    "apply_mask",
    "audiences",
    "withdrawable",
]
