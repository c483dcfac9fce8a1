"""How a record's values are written in the export: plain JSON values, references to the
subject, and a row's references to records other than people (a message's conversation)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from strawberry.utils.str_converters import to_camel_case

from resolvers.rights.export.sources import PERSON

Doc = dict[str, Any]


def plain(value: Any) -> Any:
    """A value as JSON has it: datetimes in ISO 8601 (as the GraphQL API writes them), enums
    by their value."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def you(subject_id: int) -> Doc:
    """A link to the subject: `{"type": "User", "id": ...}`."""
    return {"type": PERSON, "id": str(subject_id)}


def refs(row: Any) -> Doc:
    """The row's references to records other than people, by name: {"conversation": "7"}."""
    found: Doc = {}
    model: Any = type(row)
    for key, name in _references(model):
        value = getattr(row, key)
        found[name] = None if value is None else str(value)
    return found


@cache
def _references(model: Any) -> tuple[tuple[str, str], ...]:
    """(attribute, name) of a model's foreign keys to tables other than users."""
    return tuple(
        (column.key, to_camel_case(column.key.removesuffix("_id")))
        for column in model.__table__.columns
        if column.foreign_keys
        and "users" not in {fk.column.table.name for fk in column.foreign_keys}
    )
