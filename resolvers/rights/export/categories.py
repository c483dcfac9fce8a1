"""What the export says of each data category: where it comes from, why it is processed and
on what basis, who sees it and how, and what deleting the account does to it.

Pure functions of the policy's viewer classes and what each gets of each field (worked out
by the schema's own `outcome()`, see schema/rights/export.py), the erasure plan
(directives/erasure.py) and the tables in `sources`. Nothing here is written by hand per
category but its title and origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from directives import erasure
from directives.decision import Action
from directives.masking import Strategy
from directives.policy import Audience, Policy, audiences
from directives.sdl import Retained
from directives.taxonomy import Category, LawfulBasis, Purpose, Relationship
from resolvers.rights.export.sources import CATEGORIES, ORIGIN_TEXT, RELATIONSHIP_TEXT, ROLE_TEXT

Doc = dict[str, Any]
Result = tuple[Action, Strategy | None]  # what a viewer class gets of a field, and its mask
_RULES = {name: rule for rule in erasure.PLAN for name in rule.fields}
_PERIODS = {
    erasure.Action.ANONYMIZE: "UNTIL_ACCOUNT_DELETION",
    erasure.Action.DELETE: "UNTIL_ACCOUNT_DELETION",
    erasure.Action.DETACH: "DETACHED_AT_DELETION",
    erasure.Action.KEEP: "KEPT_AFTER_DELETION",
}


@dataclass(frozen=True, slots=True)
class FieldFacts:
    """One field of the category: "Type.field", its type's @retained, and what every
    viewer class of `audiences()` gets of it now and once the subject is erased."""

    name: str
    retained: Retained | None
    now: Sequence[Result]
    after: Sequence[Result]


def describe(category: Category, policy: Policy, fields: Sequence[FieldFacts]) -> Doc:
    about = CATEGORIES[category]
    others = [
        (index, audience)
        for index, audience in enumerate(audiences())
        if audience.relationship is not Relationship.SELF
    ]
    recipients = [
        found
        for index, audience in others
        if (found := recipient(audience, [f.now[index] for f in fields])) is not None
    ]
    purposes = sorted({Purpose(r["purpose"]) for r in recipients}, key=list(Purpose).index)
    return {
        "category": category.value,
        "name": category.name,
        "title": about.title,
        "origin": {"code": about.origin.value, "text": ORIGIN_TEXT[about.origin]},
        "purposes": [
            {
                "purpose": p.value,
                "lawfulBasis": policy.purpose_basis[p].value,
                "withdrawable": policy.purpose_basis[p] is LawfulBasis.CONSENT,
            }
            for p in purposes
        ],
        "lawfulBases": sorted({policy.purpose_basis[p].value for p in purposes}),
        "recipients": recipients,
        "retention": retention(category, policy, fields),
        "afterDeletion": [
            who(audience) for index, audience in others if any(kept(f.after[index]) for f in fields)
        ],
    }


def recipient(audience: Audience, results: Sequence[Result]) -> Doc | None:
    """How a viewer class sees the category: all of it, masked, or part; None: not at all."""
    actions = {action for action, _ in results}
    if actions <= {Action.STRIP}:
        return None
    access = (
        "SHOWN" if actions == {Action.SHOW} else "PARTLY" if Action.STRIP in actions else "MASKED"
    )
    masks = sorted({s.value for a, s in results if a is Action.MASK and s is not None})
    return {**who(audience), "access": access, "masks": masks}


def who(audience: Audience) -> Doc:
    role = audience.role
    label = f"EMPLOYEE:{role.value}/{audience.purpose.value}" if role else None
    return {
        "viewer": label or audience.relationship.value,
        "relationship": audience.relationship.value,
        "role": role.value if role else None,
        "purpose": audience.purpose.value,
        "who": f"{ROLE_TEXT[role]}, for {audience.purpose.value}"
        if role
        else RELATIONSHIP_TEXT[audience.relationship],
    }


def kept(result: Result) -> bool:
    """Still there after erasure: shown, or masked to something other than a tombstone."""
    action, strategy = result
    return action is Action.SHOW or (
        action is Action.MASK and strategy not in (None, Strategy.TOMBSTONE)
    )


def retention(category: Category, policy: Policy, fields: Sequence[FieldFacts]) -> list[Doc]:
    """What erasure does to each field (the erasure plan), fields treated alike together."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for field in fields:
        groups.setdefault(_kept_how(category, policy, field), []).append(field.name)
    return [
        {"period": key[0], "fields": names, "why": key[1]}
        | ({"basis": key[2], "years": key[3], "afterHold": key[4]} if len(key) > 2 else {})
        for key, names in groups.items()
    ]


def _kept_how(category: Category, policy: Policy, field: FieldFacts) -> tuple[Any, ...]:
    rule = _RULES.get(field.name)
    if rule is not None and rule.action is not erasure.Action.HOLD:
        return (_PERIODS[rule.action], rule.why or None)
    hold = next((h for h in erasure.HOLDS if rule is not None and h.table == rule.table), None)
    if hold is not None and rule is not None:
        return ("LEGAL_HOLD", rule.why or None, hold.basis.value, hold.years, rule.after_hold.value)
    # Not in the erasure plan: what the declarations say (@retained, the policy's holds).
    if field.retained is not None and category in policy.legal_hold:
        kept_for = field.retained
        return ("LEGAL_HOLD", None, kept_for.basis.value, kept_for.years, "KEEP")
    return ("UNTIL_ACCOUNT_DELETION", None)
