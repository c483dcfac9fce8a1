"""The Query root: one lookup and one page per entity, plus `me`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from gateway.db import models as m
from resolvers import queries
from resolvers.context import Context
from schema.privacy import report
from schema.types.chat import Conversation
from schema.types.commerce import Invoice, Order, Payment, Product, Shipment
from schema.types.common import Page, PageInfo, decode_cursor, encode_cursor, parse_id, present
from schema.types.content import Comment, Review, Video
from schema.types.people import Company, User, load_user
from schema.types.privacy_tools import (
    CatalogEntry,
    RedactionStatus,
    privacy_catalog,
    redaction_status,
)

T = TypeVar("T")
Builder = Callable[[Context, Sequence[Any]], Awaitable[list[T]]]


async def _page(
    info: Info[Context, None],
    model: type[m.Base],
    entity: str,
    build: Builder[T],
    first: int,
    after: str | None,
) -> Page[T]:
    rows, more = await queries.page(info.context, model, entity, first, decode_cursor(after))
    nodes = await build(info.context, rows)
    report(info, nodes, nodes="nodes")
    end = encode_cursor(rows[-1].id) if rows else None  # type: ignore[attr-defined]
    return Page(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end))


async def _one(
    info: Info[Context, None],
    model: type[m.Base],
    entity: str,
    build: Builder[T],
    row_id: strawberry.ID,
) -> T | None:
    return await present(
        info, build, await queries.one(info.context, model, entity, parse_id(row_id))
    )


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in platform user; null for employees and anonymous.")
    async def me(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, info.context.viewer.user_id)

    @strawberry.field(description="A user's public profile, as much of it as the viewer may see.")
    async def user(self, info: Info[Context, None], id: strawberry.ID) -> User | None:
        return await load_user(info, parse_id(id))

    @strawberry.field(description="All users (employees only; others see just themselves).")
    async def users(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[User]:
        return await _page(info, m.User, "User", User.build, first, after)

    @strawberry.field
    async def company(self, info: Info[Context, None], id: strawberry.ID) -> Company | None:
        return await _one(info, m.Company, "Company", Company.build, id)

    @strawberry.field
    async def companies(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Company]:
        return await _page(info, m.Company, "Company", Company.build, first, after)

    @strawberry.field
    async def product(self, info: Info[Context, None], id: strawberry.ID) -> Product | None:
        return await _one(info, m.Product, "Product", Product.build, id)

    @strawberry.field
    async def products(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Product]:
        return await _page(info, m.Product, "Product", Product.build, first, after)

    @strawberry.field
    async def order(self, info: Info[Context, None], id: strawberry.ID) -> Order | None:
        return await _one(info, m.Order, "Order", Order.build, id)

    @strawberry.field(description="Orders the viewer bought, sold, carries, or may see by role.")
    async def orders(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Order]:
        return await _page(info, m.Order, "Order", Order.build, first, after)

    @strawberry.field
    async def shipment(self, info: Info[Context, None], id: strawberry.ID) -> Shipment | None:
        return await _one(info, m.Shipment, "Shipment", Shipment.build, id)

    @strawberry.field
    async def shipments(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Shipment]:
        return await _page(info, m.Shipment, "Shipment", Shipment.build, first, after)

    @strawberry.field
    async def payment(self, info: Info[Context, None], id: strawberry.ID) -> Payment | None:
        return await _one(info, m.Payment, "Payment", Payment.build, id)

    @strawberry.field
    async def payments(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Payment]:
        return await _page(info, m.Payment, "Payment", Payment.build, first, after)

    @strawberry.field
    async def invoice(self, info: Info[Context, None], id: strawberry.ID) -> Invoice | None:
        return await _one(info, m.Invoice, "Invoice", Invoice.build, id)

    @strawberry.field
    async def invoices(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Invoice]:
        return await _page(info, m.Invoice, "Invoice", Invoice.build, first, after)

    @strawberry.field
    async def review(self, info: Info[Context, None], id: strawberry.ID) -> Review | None:
        return await _one(info, m.Review, "Review", Review.build, id)

    @strawberry.field
    async def video(self, info: Info[Context, None], id: strawberry.ID) -> Video | None:
        return await _one(info, m.Video, "Video", Video.build, id)

    @strawberry.field
    async def comment(self, info: Info[Context, None], id: strawberry.ID) -> Comment | None:
        return await _one(info, m.Comment, "Comment", Comment.build, id)

    @strawberry.field
    async def reviews(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Review]:
        return await _page(info, m.Review, "Review", Review.build, first, after)

    @strawberry.field
    async def videos(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Video]:
        return await _page(info, m.Video, "Video", Video.build, first, after)

    @strawberry.field
    async def comments(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Comment]:
        return await _page(info, m.Comment, "Comment", Comment.build, first, after)

    @strawberry.field
    async def conversation(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> Conversation | None:
        return await _one(info, m.Conversation, "Conversation", Conversation.build, id)

    @strawberry.field
    async def conversations(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> Page[Conversation]:
        return await _page(info, m.Conversation, "Conversation", Conversation.build, first, after)

    @strawberry.field(description="Every personal field in the schema and who may see it.")
    def privacy_catalog(self, info: Info[Context, None]) -> list[CatalogEntry]:
        return privacy_catalog(info)

    @strawberry.field(
        description="For the DPO and support: what each viewer class sees of a person."
    )
    async def redaction_status(
        self, info: Info[Context, None], subject_id: strawberry.ID
    ) -> RedactionStatus | None:
        return await redaction_status(info, subject_id)
