"""Introspection for internal tools: the personal-data catalog and a subject's redaction status."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from directives.policy import Audience, SubjectState
from directives.taxonomy import Category, DeletionState, Role
from resolvers.audit.reads import Read
from resolvers.context import Context
from resolvers.errors import ForbiddenError
from schema import catalog as cat
from schema.types.common import parse_id


@strawberry.type(description="A viewer class: a relationship, or an employee role with a purpose.")
class ViewerClass:
    relationship: str
    role: str | None
    purpose: str
    label: str


@strawberry.type(description="Retention of a type that outlives erasure.")
class Retention:
    basis: str
    years: int


@strawberry.type(description="One personal field of the schema and who may see it.")
class CatalogEntry:
    type_name: str
    field_name: str
    category: str
    subject: str | None
    strategy: str
    seen_by: list[ViewerClass]
    lawful_bases: list[str]
    retention: Retention | None


@strawberry.type(description="What one viewer class gets of one field, and why.")
class FieldOutcome:
    viewer: ViewerClass
    action: str
    reason: str


@strawberry.type(description="A personal field of one subject and every viewer class's outcome.")
class FieldStatus:
    type_name: str
    field_name: str
    category: str
    outcomes: list[FieldOutcome]


@strawberry.type(description="What each kind of viewer would see of a person right now.")
class RedactionStatus:
    subject_id: strawberry.ID
    deletion_state: str
    analytics_consent: bool
    policy_version: str
    fields: list[FieldStatus]


# What `redactionStatus` tells staff of the subject (no value of theirs beyond these).
STATUS_READS = (
    Read("analyticsConsent", "SHOW", Category.USER_PRIVACY_STATE.value),
    Read("deletionState", "SHOW", Category.USER_PRIVACY_STATE.value),
)


def _viewer(audience: Audience) -> ViewerClass:
    return ViewerClass(
        relationship=audience.relationship.value,
        role=audience.role.value if audience.role else None,
        purpose=audience.purpose.value,
        label=cat.audience_label(audience),
    )


def privacy_catalog(info: Info[Context, None]) -> list[CatalogEntry]:
    """Readable by anyone, anonymous included: the privacy notice in machine-readable form."""
    return [
        CatalogEntry(
            type_name=e.type_name,
            field_name=e.field_name,
            category=e.category.value,
            subject=e.subject,
            strategy=e.strategy,
            seen_by=[_viewer(a) for a in e.permitted],
            lawful_bases=[b.value for b in e.lawful_bases],
            retention=Retention(basis=e.retained.basis.value, years=e.retained.years)
            if e.retained
            else None,
        )
        for e in cat.catalog(info.schema, info.context.privacy.policy)
    ]


async def redaction_status(
    info: Info[Context, None], subject_id: strawberry.ID
) -> RedactionStatus | None:
    viewer = info.context.viewer
    if viewer.role not in (Role.DPO, Role.SUPPORT):
        raise ForbiddenError("redactionStatus is for the DPO and support staff")
    row_id = parse_id(subject_id)
    row = None if row_id is None else await info.context.loaders.user_by_id.load(row_id)
    if row is None:
        return None
    state = SubjectState(DeletionState(row.deletion_state), analytics_consent=row.analytics_consent)
    audit = info.context.privacy.audit
    if audit is not None:  # the subject's deletion and consent state, read by staff
        audit.saw("RedactionStatus", STATUS_READS, {row.id})
    policy = info.context.privacy.policy
    return RedactionStatus(
        subject_id=strawberry.ID(str(row.id)),
        deletion_state=row.deletion_state,
        analytics_consent=row.analytics_consent,
        policy_version=policy.version,
        fields=[
            FieldStatus(
                type_name=type_name,
                field_name=field_name,
                category=category.value,
                outcomes=[
                    FieldOutcome(viewer=_viewer(a), action=action.value, reason=reason)
                    for a, action, reason in results
                ],
            )
            for type_name, field_name, category, results in cat.outcomes(info.schema, policy, state)
        ],
    )
