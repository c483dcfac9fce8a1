"""Shared pieces of the object types: enums, pages, the `personal()` field helper."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from directives.masking import Strategy
from directives.sdl import EACH, Personal
from directives.taxonomy import Category
from resolvers import ids
from resolvers.context import Context
from resolvers.errors import InputError
from schema.privacy import report

T = TypeVar("T")


def personal(
    category: Category,
    strategy: Strategy = Strategy.REDACT,
    *,
    subject: str | None = None,
    description: str | None = None,
) -> Any:
    """A plain field that holds personal data; the directive drives enforcement and catalog."""
    return strawberry.field(
        default=None,
        description=description,
        directives=[Personal(category=category, subject=subject, strategy=strategy)],
    )


def personal_link(
    category: Category, *, subject: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
    """Declare a resolver field that ties a person to something: a link to a person
    (authorship, a buyer, a sender) or an edge from a person to their records (their
    reviews, their orders). Both are decided like any personal field of `subject`: where
    projection withholds the link, the field answers null without running the resolver.
    """

    def declare(resolver: Callable[..., Awaitable[Any]]) -> Any:
        name = resolver.__name__

        @functools.wraps(resolver)
        async def decided(self: Any, info: Info[Context, None]) -> Any:
            if name in self.withheld:
                return None
            return await resolver(self, info)

        return strawberry.field(
            decided,
            description=description,
            directives=[Personal(category=category, subject=subject, strategy=Strategy.REDACT)],
        )

    return declare


def personal_people(category: Category, *, description: str | None = None) -> Any:
    """Decorator args for a list of people (members, participants): each person is listed
    only where the viewer may learn that link of theirs (`listed` in schema/privacy.py)."""
    return strawberry.field(
        description=description,
        directives=[Personal(category=category, subject=EACH, strategy=Strategy.REDACT)],
    )


@strawberry.enum(description="What a platform user does on the marketplace.")
class UserKind(Enum):
    BUYER = "BUYER"
    SELLER = "SELLER"
    LOGISTICS = "LOGISTICS"


@strawberry.enum(description="The legal regime a user's data falls under.")
class Jurisdiction(Enum):
    EU = "EU"
    KZ = "KZ"
    RU = "RU"
    CN = "CN"


@strawberry.enum(name="DeletionState", description="Where a subject is in the erasure lifecycle.")
class DeletionStateEnum(Enum):
    ACTIVE = "ACTIVE"
    ERASURE_PENDING = "ERASURE_PENDING"
    ERASED = "ERASED"
    PURGED = "PURGED"


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="One page of a list, in id order.")
class Page(Generic[T]):
    nodes: list[T]
    page_info: PageInfo


async def present(
    info: Info[Context, None],
    build: Callable[[Context, Sequence[Any]], Awaitable[list[T]]],
    row: Any | None,
) -> T | None:
    """Build one object from a row (or None) and record what it hides under this path.

    None too where the viewer may see nothing of a `@personalRecord`: not found."""
    if row is None:
        return None
    built = await build(info.context, [row])
    if not built:
        return None
    report(info, built[0])
    return built[0]


def encode_cursor(row_id: int) -> str:
    return ids.encode_cursor(row_id)


def decode_cursor(cursor: str | None) -> int | None:
    """The id after which a page starts; a malformed cursor is a clear input error."""
    if cursor is None:
        return None
    row_id = ids.decode_cursor(cursor)
    if row_id is None:
        raise InputError("'after' is not a cursor this gateway issued")
    return row_id


def gid(row_id: int) -> strawberry.ID:
    return strawberry.ID(str(row_id))


def parse_id(value: strawberry.ID | str) -> int | None:
    """An id from the client, strictly (see resolvers/ids.py): malformed is BAD_USER_INPUT."""
    return ids.parse_id(str(value))
