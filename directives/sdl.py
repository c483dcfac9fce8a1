"""SDL directives that tag personal fields and retained types.

`@personal(category, subject, strategy)` marks a field, a link to a person or an edge
from a person to their records; `@personalRecord` marks a type that is wholly its
subject's data; `@retained(basis, years)` marks a type kept under legal hold. The
Python enums are registered as GraphQL enums here, so their member names are what the
SDL prints.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.schema_directive import Location
from strawberry.utils.str_converters import to_camel_case

from directives.masking import Strategy
from directives.taxonomy import Category, LawfulBasis

strawberry.enum(Category, description="Kind of personal data a field holds.")
strawberry.enum(Strategy, description="How a personal field is masked.")
strawberry.enum(LawfulBasis, description="Lawful basis for keeping a record.")


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="Personal data: decided per viewer by the privacy policy.",
)
class Personal:
    category: Category
    # Whose data this is on types naming several people ("buyer", "seller");
    # None means the object's own subject.
    subject: str | None = None
    strategy: Strategy = Strategy.REDACT


# The `subject` of a list of people (a company's members, a chat's participants): each
# listed person's own decision says whether they are listed.
EACH = "each"


@strawberry.schema_directive(
    locations=[Location.OBJECT],
    description="Wholly its subject's data: not found by a viewer who may see none of it.",
)
class PersonalRecord:
    pass


@strawberry.schema_directive(
    locations=[Location.OBJECT],
    description="Kept under legal hold after erasure (Art. 6.5).",
)
class Retained:
    basis: LawfulBasis
    years: int


def personal_fields(
    type_class: Any, *, auto_camel_case: bool = True
) -> list[tuple[str, str, Personal]]:
    """(python name, GraphQL name, directive) for each `@personal` field of a strawberry type."""
    found: list[tuple[str, str, Personal]] = []
    for field in type_class.__strawberry_definition__.fields:
        graphql_name = field.graphql_name or (
            to_camel_case(field.python_name) if auto_camel_case else field.python_name
        )
        found.extend(
            (field.python_name, graphql_name, directive)
            for directive in field.directives
            if isinstance(directive, Personal)
        )
    return found


def retained(type_class: Any) -> Retained | None:
    """The `@retained` directive of a strawberry type, if any."""
    for directive in type_class.__strawberry_definition__.directives or ():
        if isinstance(directive, Retained):
            return directive
    return None


def is_personal_record(type_class: Any) -> bool:
    """Whether a strawberry type carries `@personalRecord`."""
    directives = type_class.__strawberry_definition__.directives or ()
    return any(isinstance(directive, PersonalRecord) for directive in directives)
