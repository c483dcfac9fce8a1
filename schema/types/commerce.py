"""Products, orders and what hangs off them: items, shipments, payments, invoices."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import Private
from strawberry.types import Info

from directives.masking import Strategy
from directives.sdl import Retained
from directives.taxonomy import Category, LawfulBasis
from gateway.db import models as m
from resolvers import related
from resolvers.context import Context
from schema.privacy import found, parties, project
from schema.types.common import gid, personal, personal_link, present
from schema.types.people import User, load_user, report_list

if TYPE_CHECKING:
    from schema.types.chat import Conversation
    from schema.types.content import Comment, Review, Video

ReviewT = Annotated["Review", strawberry.lazy("schema.types.content")]
VideoT = Annotated["Video", strawberry.lazy("schema.types.content")]
CommentT = Annotated["Comment", strawberry.lazy("schema.types.content")]
ConversationT = Annotated["Conversation", strawberry.lazy("schema.types.chat")]

FINANCIAL_RECORD = Retained(basis=LawfulBasis.LEGAL_OBLIGATION, years=5)


@strawberry.type(description="A product a seller offers.")
class Product:
    id: strawberry.ID
    title: str
    description: str
    price_cents: int
    currency: str
    row: Private[m.Product]
    # ratingAvg and ratingCount share one computation per product and request.
    ratings: Private[asyncio.Future[tuple[int, float]] | None] = None

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Product]) -> list[Product]:
        views = await ctx.privacy.views([row.seller_id for row in rows])
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "title": row.title,
                    "description": row.description,
                    "price_cents": row.price_cents,
                    "currency": row.currency,
                    "row": row,
                }
                for row in rows
            ],
            views,
        )

    @personal_link(Category.USER_LISTING_OWNER, description="Who offers the product.")
    async def seller(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.seller_id)

    @strawberry.field(
        description="Mean rating of the reviews the viewer may see (others' count for nothing)."
    )
    async def rating_avg(self, info: Info[Context, None]) -> float | None:
        count, total = await self.visible_ratings(info.context)
        return total / count if count else None

    @strawberry.field(description="How many reviews the viewer may see.")
    async def rating_count(self, info: Info[Context, None]) -> int:
        count, _ = await self.visible_ratings(info.context)
        return count

    def visible_ratings(self, ctx: Context) -> asyncio.Future[tuple[int, float]]:
        if self.ratings is None:
            self.ratings = asyncio.ensure_future(_ratings(ctx, self.row))
        return self.ratings

    @strawberry.field
    async def reviews(self, info: Info[Context, None]) -> list[ReviewT]:
        from schema.types.content import Review

        rows = await info.context.loaders.reviews_by_product.load(self.row.id)
        return report_list(info, await Review.build(info.context, rows))

    @strawberry.field
    async def videos(self, info: Info[Context, None]) -> list[VideoT]:
        from schema.types.content import Video

        rows = await info.context.loaders.videos_by_product.load(self.row.id)
        return report_list(info, await Video.build(info.context, rows))

    @strawberry.field
    async def comments(self, info: Info[Context, None]) -> list[CommentT]:
        from schema.types.content import Comment

        rows = await info.context.loaders.comments_by_product.load(self.row.id)
        return report_list(info, await Comment.build(info.context, rows))


async def _ratings(ctx: Context, product: m.Product) -> tuple[int, float]:
    """(count, sum) of the ratings of the reviews this viewer finds: an aggregate follows
    the records it is computed from, so a hidden review counts for nothing."""
    if not ctx.privacy.enforce:
        return product.rating_count, (product.rating_avg or 0.0) * product.rating_count
    from schema.types.content import Review

    groups = await ctx.loaders.ratings_by_product.load(product.id)
    views = await ctx.privacy.views([author_id for author_id, _, _ in groups])
    kept = found(ctx, Review, views)
    count = sum(n for (_, n, _), keep in zip(groups, kept, strict=True) if keep)
    total = sum(t for (_, _, t), keep in zip(groups, kept, strict=True) if keep)
    return count, float(total)


@strawberry.type(
    description="An order between a buyer and a seller.", directives=[FINANCIAL_RECORD]
)
class Order:
    id: strawberry.ID
    status: str
    total_cents: int
    currency: str
    placed_at: datetime
    # Whole addresses mask to nothing (see Company.registeredAddress): REDACT.
    shipping_address: str | None = personal(
        Category.USER_CONTACT_ADDRESS, Strategy.REDACT, subject="buyer"
    )
    row: Private[m.Order]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Order]) -> list[Order]:
        views = await parties(ctx, rows, buyer="buyer_id", seller="seller_id")
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "status": row.status,
                    "total_cents": row.total_cents,
                    "currency": row.currency,
                    "placed_at": row.placed_at,
                    "shipping_address": row.shipping_address,
                    "row": row,
                }
                for row in rows
            ],
            views,
            retained=True,
        )

    @personal_link(Category.USER_COMMERCE_PARTY, subject="buyer", description="Who bought it.")
    async def buyer(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.buyer_id)

    @personal_link(Category.USER_COMMERCE_PARTY, subject="seller", description="Who sold it.")
    async def seller(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.seller_id)

    @strawberry.field
    async def items(self, info: Info[Context, None]) -> list[OrderItem]:
        rows = await info.context.loaders.items_by_order.load(self.row.id)
        return OrderItem.build(rows)

    @strawberry.field
    async def shipment(self, info: Info[Context, None]) -> Shipment | None:
        return await present(
            info, Shipment.build, await related.shipment_of(info.context, self.row)
        )

    @strawberry.field(description="Chats about this order the viewer takes part in.")
    async def conversations(self, info: Info[Context, None]) -> list[ConversationT]:
        from schema.types.chat import Conversation

        rows = await related.conversations_about(info.context, self.row.id)
        return report_list(info, await Conversation.build(info.context, rows))

    @strawberry.field
    async def payments(self, info: Info[Context, None]) -> list[Payment]:
        rows = await related.payments_of(info.context, self.row)
        return report_list(info, await Payment.build(info.context, rows))

    @strawberry.field
    async def invoices(self, info: Info[Context, None]) -> list[Invoice]:
        rows = await related.invoices_of(info.context, self.row)
        return report_list(info, await Invoice.build(info.context, rows))


@strawberry.type(description="One line of an order.")
class OrderItem:
    id: strawberry.ID
    quantity: int
    unit_price_cents: int
    product_id: Private[int]

    @classmethod
    def build(cls, rows: Sequence[m.OrderItem]) -> list[OrderItem]:
        return [
            cls(
                id=gid(row.id),
                quantity=row.quantity,
                unit_price_cents=row.unit_price_cents,
                product_id=row.product_id,
            )
            for row in rows
        ]

    @strawberry.field
    async def product(self, info: Info[Context, None]) -> Product | None:
        row = await info.context.loaders.product_by_id.load(self.product_id)
        return None if row is None else (await Product.build(info.context, [row]))[0]


@strawberry.type(description="The delivery of an order; the recipient fields are the buyer's.")
class Shipment:
    id: strawberry.ID
    status: str
    tracking_code: str
    updated_at: datetime
    recipient_name: str | None = personal(
        Category.USER_IDENTITY_NAME, Strategy.NAME, subject="buyer"
    )
    recipient_phone: str | None = personal(
        Category.USER_CONTACT_PHONE, Strategy.PHONE, subject="buyer"
    )
    recipient_address: str | None = personal(
        Category.USER_CONTACT_ADDRESS, Strategy.REDACT, subject="buyer"
    )
    row: Private[m.Shipment]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Shipment]) -> list[Shipment]:
        orders = await ctx.loaders.order_by_id.load_many([row.order_id for row in rows])
        both = await ctx.privacy.views(
            [order.buyer_id if order else None for order in orders]
            + [row.logistics_id for row in rows]
        )
        buyers, carriers = both[: len(rows)], both[len(rows) :]
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "status": row.status,
                    "tracking_code": row.tracking_code,
                    "updated_at": row.updated_at,
                    "recipient_name": row.recipient_name,
                    "recipient_phone": row.recipient_phone,
                    "recipient_address": row.recipient_address,
                    "row": row,
                }
                for row in rows
            ],
            [
                {"buyer": buyer, "logistics": carrier}
                for buyer, carrier in zip(buyers, carriers, strict=True)
            ],
        )

    @strawberry.field
    async def order(self, info: Info[Context, None]) -> Order | None:
        return await present(
            info, Order.build, await related.order(info.context, self.row.order_id)
        )

    @personal_link(Category.USER_COMMERCE_PARTY, subject="logistics", description="Who carries it.")
    async def logistics_operator(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.logistics_id)


@strawberry.type(description="A financial transaction for an order.", directives=[FINANCIAL_RECORD])
class Payment:
    id: strawberry.ID
    amount_cents: int
    currency: str
    method: str
    status: str
    created_at: datetime
    card_last4: str | None = personal(
        Category.USER_FINANCIAL_INSTRUMENT, Strategy.PARTIAL, subject="payer"
    )
    row: Private[m.Payment]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Payment]) -> list[Payment]:
        views = await ctx.privacy.views([row.payer_id for row in rows])
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "amount_cents": row.amount_cents,
                    "currency": row.currency,
                    "method": row.method,
                    "status": row.status,
                    "created_at": row.created_at,
                    "card_last4": row.card_last4,
                    "row": row,
                }
                for row in rows
            ],
            views,
            retained=True,
        )

    @personal_link(Category.USER_COMMERCE_PARTY, subject="payer", description="Who paid.")
    async def payer(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.payer_id)

    @strawberry.field
    async def order(self, info: Info[Context, None]) -> Order | None:
        return await present(
            info, Order.build, await related.order(info.context, self.row.order_id)
        )


@strawberry.type(description="A vendor invoice / tax document.", directives=[FINANCIAL_RECORD])
class Invoice:
    id: strawberry.ID
    number: str
    total_cents: int
    currency: str
    issued_at: datetime
    billing_name: str | None = personal(
        Category.USER_FINANCIAL_BILLING, Strategy.NAME, subject="buyer"
    )
    billing_address: str | None = personal(
        Category.USER_FINANCIAL_BILLING, Strategy.REDACT, subject="buyer"
    )
    seller_tax_id: str | None = personal(
        Category.COMPANY_IDENTITY_TAX_ID, Strategy.PARTIAL, subject="seller"
    )
    row: Private[m.Invoice]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Invoice]) -> list[Invoice]:
        views = await parties(ctx, rows, buyer="buyer_id", seller="seller_id")
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "number": row.number,
                    "total_cents": row.total_cents,
                    "currency": row.currency,
                    "issued_at": row.issued_at,
                    "billing_name": row.billing_name,
                    "billing_address": row.billing_address,
                    "seller_tax_id": row.tax_id,
                    "row": row,
                }
                for row in rows
            ],
            views,
            retained=True,
        )

    @personal_link(Category.USER_COMMERCE_PARTY, subject="buyer", description="Who is billed.")
    async def buyer(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.buyer_id)

    @personal_link(Category.USER_COMMERCE_PARTY, subject="seller", description="Who issued it.")
    async def seller(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.row.seller_id)

    @strawberry.field
    async def order(self, info: Info[Context, None]) -> Order | None:
        return await present(
            info, Order.build, await related.order(info.context, self.row.order_id)
        )
