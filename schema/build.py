"""The one place the GraphQL schema is assembled and checked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.base import StrawberryOptional

from directives.sdl import EACH, Personal
from resolvers.errors import InputError
from schema.extension import PrivacyReportExtension
from schema.privacy import SchemaPrivacyError
from schema.roots import Mutation, Query
from schema.types.chat import Conversation, Message
from schema.types.commerce import Invoice, Order, OrderItem, Payment, Product, Shipment
from schema.types.content import Comment, Review, Video
from schema.types.people import Address, Company, User

logger = logging.getLogger("gateway.graphql")

OBJECT_TYPES: tuple[type, ...] = (
    User,
    Address,
    Company,
    Product,
    Order,
    OrderItem,
    Shipment,
    Payment,
    Invoice,
    Review,
    Video,
    Comment,
    Conversation,
    Message,
)


class GatewaySchema(strawberry.Schema):
    """Logs errors by type and path only: messages and queries can carry personal data."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            original = error.original_error
            kind = type(original).__name__ if original is not None else "GraphQLError"
            path = ".".join(str(p) for p in error.path or ()) or "-"
            if original is not None and _unexpected(error):
                logger.error("unexpected %s at %s", kind, path)
            else:
                logger.info("request error %s at %s", kind, path)


class MaskUnexpectedErrors(MaskErrors):
    """ "Unexpected error." with `extensions.code` INTERNAL_SERVER_ERROR, and nothing else."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked


def build_schema(
    *,
    types: Iterable[type] = OBJECT_TYPES,
    extensions: Iterable[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The schema; the app adds its `QueryGuard` (limits, caches) through `extensions`."""
    check_personal_fields_nullable(types)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        types=list(types),
        extensions=[
            PrivacyReportExtension,
            lambda: MaskUnexpectedErrors(should_mask_error=_unexpected),
            *extensions,
        ],
    )


def check_personal_fields_nullable(types: Iterable[type]) -> None:
    """Policy can strip any personal field, so each must be nullable in the SDL (a list of
    people, `subject: each`, is never stripped whole: each person is listed or not)."""
    for cls in types:
        for field in cls.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            is_personal = any(
                isinstance(d, Personal) and d.subject != EACH for d in field.directives
            )
            if is_personal and not isinstance(field.type, StrawberryOptional):
                raise SchemaPrivacyError(
                    f"{cls.__name__}.{field.python_name} is @personal but not nullable: policy "
                    f"may strip it, so declare it as `{field.python_name}: ... | None`"
                )


def _unexpected(error: GraphQLError) -> bool:
    """Masked: any exception but a client's bad input (ours, or graphql-core's own, such as a
    variable that does not coerce to its type)."""
    original = error.original_error
    return original is not None and not isinstance(original, InputError | GraphQLError)
