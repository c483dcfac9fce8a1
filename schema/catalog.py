"""The catalog of personal data, read from the schema's `@personal` and `@retained` directives.

Nothing here lists fields by hand: annotate a field and it is in the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType

from directives.decision import Action
from directives.policy import Audience, Policy, SubjectState
from directives.sdl import Personal, Retained
from directives.taxonomy import Category, LawfulBasis


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
    """For one subject's state: each personal field and what every viewer class would get."""
    result = []
    for type_name, field_name, personal, kept in personal_data(schema):
        explained = policy.explain(personal.category, state, retained=kept is not None)
        result.append(
            (
                type_name,
                field_name,
                personal.category,
                [(a, d.action, d.reason.value) for a, d in explained],
            )
        )
    return result
