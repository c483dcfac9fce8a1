"""Users, their addresses and companies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry
from strawberry import Private
from strawberry.types import Info

from directives.masking import Strategy
from directives.taxonomy import Category
from gateway.db import models as m
from resolvers import related
from resolvers.context import Context
from schema.privacy import project, report
from schema.types.common import (
    DeletionStateEnum,
    Jurisdiction,
    UserKind,
    gid,
    personal,
    personal_link,
    present,
)

if TYPE_CHECKING:
    from schema.types.chat import Conversation
    from schema.types.commerce import Order, Product, Shipment
    from schema.types.content import Comment, Review, Video

T = TypeVar("T")
OrderT = Annotated["Order", strawberry.lazy("schema.types.commerce")]
ProductT = Annotated["Product", strawberry.lazy("schema.types.commerce")]
ShipmentT = Annotated["Shipment", strawberry.lazy("schema.types.commerce")]
ReviewT = Annotated["Review", strawberry.lazy("schema.types.content")]
VideoT = Annotated["Video", strawberry.lazy("schema.types.content")]
CommentT = Annotated["Comment", strawberry.lazy("schema.types.content")]
ConversationT = Annotated["Conversation", strawberry.lazy("schema.types.chat")]


@strawberry.type(description="A platform user: a buyer, a seller or a logistics operator.")
class User:
    id: strawberry.ID
    kind: UserKind
    jurisdiction: Jurisdiction
    deletion_state: DeletionStateEnum
    full_name: str | None = personal(Category.USER_IDENTITY_NAME, Strategy.NAME)
    email: str | None = personal(Category.USER_CONTACT_EMAIL, Strategy.EMAIL)
    phone: str | None = personal(Category.USER_CONTACT_PHONE, Strategy.PHONE)
    created_at: datetime | None = personal(Category.USER_ACCOUNT_CREATED, Strategy.GENERALIZE)
    row_id: Private[int]
    company_id: Private[int | None]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.User]) -> list[User]:
        views = await ctx.privacy.views_of_users(rows)  # their state is in these rows
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "kind": UserKind(row.kind),
                    "jurisdiction": Jurisdiction(row.jurisdiction),
                    "deletion_state": DeletionStateEnum(row.deletion_state),
                    "full_name": row.full_name,
                    "email": row.email,
                    "phone": row.phone,
                    "created_at": row.created_at,
                    "row_id": row.id,
                    "company_id": row.company_id,
                }
                for row in rows
            ],
            views,
        )

    @strawberry.field(description="The company this user trades as, if any.")
    async def company(self, info: Info[Context, None]) -> Company | None:
        return await load_company(info, self.company_id)

    @strawberry.field(description="Shipping addresses; only the user and support staff see them.")
    async def addresses(self, info: Info[Context, None]) -> list[Address]:
        rows = await related.addresses_of(info.context, self.row_id)
        return report_list(info, await Address.build(info.context, rows))

    @strawberry.field(description="Orders this user placed, as far as the viewer may see them.")
    async def orders(self, info: Info[Context, None]) -> list[OrderT]:
        from schema.types.commerce import Order

        rows = await related.orders_of(info.context, self.row_id, "buyer")
        return report_list(info, await Order.build(info.context, rows))

    @strawberry.field(description="Orders this user sold, as far as the viewer may see them.")
    async def sales(self, info: Info[Context, None]) -> list[OrderT]:
        from schema.types.commerce import Order

        rows = await related.orders_of(info.context, self.row_id, "seller")
        return report_list(info, await Order.build(info.context, rows))

    @strawberry.field(description="Shipments assigned to this logistics operator.")
    async def shipments(self, info: Info[Context, None]) -> list[ShipmentT]:
        from schema.types.commerce import Shipment

        rows = await related.shipments_carried_by(info.context, self.row_id)
        return report_list(info, await Shipment.build(info.context, rows))

    @strawberry.field(description="Products this seller offers.")
    async def products(self, info: Info[Context, None]) -> list[ProductT]:
        from schema.types.commerce import Product

        rows = await info.context.loaders.products_by_seller.load(self.row_id)
        return report_list(info, await Product.build(info.context, rows))

    @strawberry.field(description="Reviews this user wrote.")
    async def reviews(self, info: Info[Context, None]) -> list[ReviewT]:
        from schema.types.content import Review

        rows = await info.context.loaders.reviews_by_author.load(self.row_id)
        return report_list(info, await Review.build(info.context, rows))

    @strawberry.field(description="Short videos this user posted.")
    async def videos(self, info: Info[Context, None]) -> list[VideoT]:
        from schema.types.content import Video

        rows = await info.context.loaders.videos_by_author.load(self.row_id)
        return report_list(info, await Video.build(info.context, rows))

    @strawberry.field(description="Comments this user wrote.")
    async def comments(self, info: Info[Context, None]) -> list[CommentT]:
        from schema.types.content import Comment

        rows = await info.context.loaders.comments_by_author.load(self.row_id)
        return report_list(info, await Comment.build(info.context, rows))

    @strawberry.field(
        description="Conversations this user takes part in, if the viewer may see them."
    )
    async def conversations(self, info: Info[Context, None]) -> list[ConversationT]:
        from schema.types.chat import Conversation

        rows = await related.conversations_of(info.context, self.row_id)
        return report_list(info, await Conversation.build(info.context, rows))


@strawberry.type(description="A shipping address of a user.")
class Address:
    id: strawberry.ID
    country: str
    is_default: bool
    line1: str | None = personal(Category.USER_CONTACT_ADDRESS, Strategy.REDACT)
    city: str | None = personal(Category.USER_CONTACT_ADDRESS, Strategy.GENERALIZE)
    postal_code: str | None = personal(Category.USER_CONTACT_ADDRESS, Strategy.REDACT)

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Address]) -> list[Address]:
        views = await ctx.privacy.views([row.user_id for row in rows])
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "country": row.country,
                    "is_default": row.is_default,
                    "line1": row.line1,
                    "city": row.city,
                    "postal_code": row.postal_code,
                }
                for row in rows
            ],
            views,
        )


@strawberry.type(description="A seller's legal entity.")
class Company:
    id: strawberry.ID
    legal_name: str
    jurisdiction: Jurisdiction
    tax_id: str | None = personal(Category.COMPANY_IDENTITY_TAX_ID, Strategy.PARTIAL)
    registered_address: str | None = personal(Category.COMPANY_CONTACT_ADDRESS, Strategy.GENERALIZE)
    row_id: Private[int]
    contact_person_id: Private[int | None]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Company]) -> list[Company]:
        views = await ctx.privacy.views([row.contact_person_id for row in rows])
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "legal_name": row.legal_name,
                    "jurisdiction": Jurisdiction(row.jurisdiction),
                    "tax_id": row.tax_id,
                    "registered_address": row.registered_address,
                    "row_id": row.id,
                    "contact_person_id": row.contact_person_id,
                }
                for row in rows
            ],
            views,
        )

    @personal_link(Category.COMPANY_CONTACT_PERSON, description="Who speaks for the company.")
    async def contact_person(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.contact_person_id)

    @strawberry.field(description="Platform users trading as this company.")
    async def members(self, info: Info[Context, None]) -> list[User]:
        rows = await info.context.loaders.users_by_company.load(self.row_id)
        return report_list(info, await User.build(info.context, rows))


def report_list(info: Info[Context, None], objects: list[T]) -> list[T]:
    report(info, objects)
    return objects


async def load_user(info: Info[Context, None], user_id: int | None) -> User | None:
    if user_id is None:
        return None
    built = info.context.built
    user: User | None = built.get((User, user_id))
    if user is None:
        row = await info.context.loaders.user_by_id.load(user_id)
        if row is None or row.deletion_state == "PURGED":
            return None
        (user,) = await User.build(info.context, [row])
        built[(User, user_id)] = user
    report(info, user)
    return user


async def load_company(info: Info[Context, None], company_id: int | None) -> Company | None:
    if company_id is None:
        return None
    return await present(
        info, Company.build, await info.context.loaders.company_by_id.load(company_id)
    )
