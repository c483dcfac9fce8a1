"""The catalog of personal data, read from the schema's `@personal` and `@retained` directives.

Nothing here lists fields by hand: annotate a field and it is in the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType

from directives.decision import Action, Reason
from directives.policy import Audience, Policy, SubjectState, audiences
from directives.sdl import Personal, Retained, is_personal_record, retained
from directives.taxonomy import Category, LawfulBasis
from resolvers import visibility
from schema.privacy import Kind, PersonalField, outcome, personal_fields


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    type_name: str
    field_name: str
    category: Category
    subject: str | None
    strategy: str
    retained: Retained | None
    permitted: tuple[Audience, ...]
    lawful_bases: tuple[LawfulBasis, ...]


def personal_data(schema: Any) -> list[tuple[str, str, Personal, Retained | None]]:
    """(type, field, @personal, the type's @retained) for every personal field of the schema."""
    found = []
    for name, gql_type in sorted(schema._schema.type_map.items()):
        if not isinstance(gql_type, GraphQLObjectType) or name.startswith("__"):
            continue
        definition = (gql_type.extensions or {}).get("strawberry-definition")
        kept = next(
            (d for d in getattr(definition, "directives", ()) or () if isinstance(d, Retained)),
            None,
        )
        for field_name, gql_field in gql_type.fields.items():
            field = (gql_field.extensions or {}).get("strawberry-definition")
            for directive in getattr(field, "directives", ()) or ():
                if isinstance(directive, Personal):
                    found.append((name, field_name, directive, kept))
    return found


def catalog(schema: Any, policy: Policy) -> list[CatalogEntry]:
    entries = []
    for type_name, field_name, personal, kept in personal_data(schema):
        permitted = tuple(policy.permitted(personal.category))
        bases = sorted({policy.purpose_basis[a.purpose] for a in permitted}, key=str)
        entries.append(
            CatalogEntry(
                type_name=type_name,
                field_name=field_name,
                category=personal.category,
                subject=personal.subject,
                strategy=personal.strategy.value,
                retained=kept,
                permitted=permitted,
                lawful_bases=tuple(bases),
            )
        )
    return entries


def audience_label(audience: Audience) -> str:
    if audience.role is not None:
        return f"EMPLOYEE:{audience.role.value}/{audience.purpose.value}"
    return audience.relationship.value


def as_markdown(entries: list[CatalogEntry]) -> str:
    lines = [
        "| type | field | category | subject | strategy | seen by (shown or masked) "
        "| lawful basis | retention |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        seen = ", ".join(audience_label(a) for a in e.permitted) or "nobody but the subject"
        kept = f"{e.retained.basis.value}, {e.retained.years} years" if e.retained else "-"
        bases = ", ".join(b.value for b in e.lawful_bases) or "-"
        lines.append(
            f"| {e.type_name} | {e.field_name} | {e.category.value} | {e.subject or 'self'} "
            f"| {e.strategy} | {seen} | {bases} | {kept} |"
        )
    return "\n".join(lines)


def as_json(entries: list[CatalogEntry]) -> list[dict[str, Any]]:
    return [
        {
            "type": e.type_name,
            "field": e.field_name,
            "category": e.category.value,
            "subject": e.subject,
            "strategy": e.strategy,
            "seenBy": [audience_label(a) for a in e.permitted],
            "lawfulBases": [b.value for b in e.lawful_bases],
            "retention": (
                {"basis": e.retained.basis.value, "years": e.retained.years} if e.retained else None
            ),
        }
        for e in entries
    ]


def outcomes(
    schema: Any, policy: Policy, state: SubjectState
) -> list[tuple[str, str, Category, list[tuple[Audience, Action, str]]]]:
    """For one subject's state: each personal field and what every viewer class gets.

    Built from what shapes real answers: the rows a viewer class may reach at all
    (`visibility.audience_sees`), the policy's decision, and `outcome()`, which turns a
    mask that produces nothing into the STRIP it is. A `@personalRecord` of which a class
    may see nothing is not found, so every field of it is STRIP for that class.
    """
    everyone = audiences()
    result = []
    for type_name, cls, fields, kept in _personal_types(schema):
        entity = visibility.ENTITY_OF.get(type_name, type_name)
        decided = {
            field.attr: [
                _outcome(policy, audience, field, state, kept, entity) for audience in everyone
            ]
            for field in fields
        }
        if is_personal_record(cls):
            whole = [f for f in fields if f.kind is not Kind.EACH]
            for index in range(len(everyone)):
                if all(decided[f.attr][index][0] is Action.STRIP for f in whole):
                    for f in fields:
                        decided[f.attr][index] = (Action.STRIP, decided[f.attr][index][1])
        for field in fields:
            result.append(
                (
                    type_name,
                    field.name,
                    field.category,
                    [
                        (audience, action, reason.value)
                        for audience, (action, reason) in zip(
                            everyone, decided[field.attr], strict=True
                        )
                    ],
                )
            )
    return result


def _outcome(
    policy: Policy,
    audience: Audience,
    field: PersonalField,
    state: SubjectState,
    retained: bool,
    entity: str,
) -> tuple[Action, Reason]:
    if not visibility.audience_sees(audience, entity):
        reason = Reason.NOT_COUNTERPARTY if audience.role is None else Reason.ROLE_NOT_PERMITTED
        return Action.STRIP, reason
    decision = policy.decide(
        audience,
        field.category,
        state,
        retained=field.retained(retained),
        strategy=field.own_strategy,
    )
    action, reason, _ = outcome(decision, field)
    return action, reason


def _personal_types(
    schema: Any,
) -> list[tuple[str, type, tuple[PersonalField, ...], bool]]:
    """(GraphQL name, strawberry class, personal fields, retained) per type with any."""
    found = []
    for name, gql_type in sorted(schema._schema.type_map.items()):
        if not isinstance(gql_type, GraphQLObjectType) or name.startswith("__"):
            continue
        definition = (gql_type.extensions or {}).get("strawberry-definition")
        cls = getattr(definition, "origin", None)
        if cls is None:
            continue
        fields = personal_fields(cls)
        if fields:
            found.append((name, cls, fields, retained(cls) is not None))
    return found
