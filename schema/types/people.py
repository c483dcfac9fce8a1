"""Users, their addresses and companies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry
from strawberry import Private
from strawberry.types import Info

from directives.masking import Strategy
from directives.sdl import PersonalRecord
from directives.taxonomy import Category
from gateway.db import models as m
from resolvers import related
from resolvers.context import Context
from schema.privacy import listed, project, report
from schema.types.common import (
    DeletionStateEnum,
    Jurisdiction,
    UserKind,
    gid,
    personal,
    personal_link,
    personal_people,
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


@strawberry.type(
    description="A platform user: a buyer, a seller or a logistics operator.",
    directives=[PersonalRecord()],
)
class User:
    id: strawberry.ID
    kind: UserKind
    jurisdiction: Jurisdiction
    deletion_state: DeletionStateEnum | None = personal(
        Category.USER_PRIVACY_STATE,
        Strategy.REDACT,
        description="Where the person is in the erasure lifecycle: for them and the staff "
        "who handle it.",
    )
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

    # Edges from the person to their records: decided like the reverse links
    # (`Review.author`, `Order.buyer`, ...), so no route lists what another hides.

    @personal_link(
        Category.USER_COMPANY_MEMBERSHIP, description="The company this user trades as, if any."
    )
    async def company(self, info: Info[Context, None]) -> Company | None:
        return await load_company(info, self.company_id)

    @personal_link(
        Category.USER_CONTACT_ADDRESS,
        description="Shipping addresses; only the user and support staff see them.",
    )
    async def addresses(self, info: Info[Context, None]) -> list[Address] | None:
        rows = await related.addresses_of(info.context, self.row_id)
        return report_list(info, await Address.build(info.context, rows))

    @personal_link(
        Category.USER_COMMERCE_PARTY,
        description="Orders this user placed, as far as the viewer may see them.",
    )
    async def orders(self, info: Info[Context, None]) -> list[OrderT] | None:
        from schema.types.commerce import Order

        rows = await related.orders_of(info.context, self.row_id, "buyer")
        return report_list(info, await Order.build(info.context, rows))

    @personal_link(
        Category.USER_COMMERCE_PARTY,
        description="Orders this user sold, as far as the viewer may see them.",
    )
    async def sales(self, info: Info[Context, None]) -> list[OrderT] | None:
        from schema.types.commerce import Order

        rows = await related.orders_of(info.context, self.row_id, "seller")
        return report_list(info, await Order.build(info.context, rows))

    @personal_link(
        Category.USER_COMMERCE_PARTY, description="Shipments assigned to this logistics operator."
    )
    async def shipments(self, info: Info[Context, None]) -> list[ShipmentT] | None:
        from schema.types.commerce import Shipment

        rows = await related.shipments_carried_by(info.context, self.row_id)
        return report_list(info, await Shipment.build(info.context, rows))

    @personal_link(Category.USER_LISTING_OWNER, description="Products this seller offers.")
    async def products(self, info: Info[Context, None]) -> list[ProductT] | None:
        from schema.types.commerce import Product

        rows = await info.context.loaders.products_by_seller.load(self.row_id)
        return report_list(info, await Product.build(info.context, rows))

    @personal_link(Category.USER_UGC_AUTHORSHIP, description="Reviews this user wrote.")
    async def reviews(self, info: Info[Context, None]) -> list[ReviewT] | None:
        from schema.types.content import Review

        rows = await info.context.loaders.reviews_by_author.load(self.row_id)
        return report_list(info, await Review.build(info.context, rows))

    @personal_link(Category.USER_UGC_AUTHORSHIP, description="Short videos this user posted.")
    async def videos(self, info: Info[Context, None]) -> list[VideoT] | None:
        from schema.types.content import Video

        rows = await info.context.loaders.videos_by_author.load(self.row_id)
        return report_list(info, await Video.build(info.context, rows))

    @personal_link(Category.USER_UGC_AUTHORSHIP, description="Comments this user wrote.")
    async def comments(self, info: Info[Context, None]) -> list[CommentT] | None:
        from schema.types.content import Comment

        rows = await info.context.loaders.comments_by_author.load(self.row_id)
        return report_list(info, await Comment.build(info.context, rows))

    @personal_link(
        Category.USER_CONVERSATION_PARTICIPATION,
        description="Conversations this user takes part in, if the viewer may see them.",
    )
    async def conversations(self, info: Info[Context, None]) -> list[ConversationT] | None:
        from schema.types.chat import Conversation

        rows = await related.conversations_of(info.context, self.row_id)
        return report_list(info, await Conversation.build(info.context, rows))


@strawberry.type(description="A shipping address of a user.", directives=[PersonalRecord()])
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
    # One free-text line in each country's order: no rule finds its city without a street
    # (directives/masking.py), so a mask of it is no value at all (REDACT, reported STRIP).
    registered_address: str | None = personal(Category.COMPANY_CONTACT_ADDRESS, Strategy.REDACT)
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

    @personal_people(
        Category.USER_COMPANY_MEMBERSHIP,
        description="Platform users trading as this company, as far as the viewer may know.",
    )
    async def members(self, info: Info[Context, None]) -> list[User]:
        rows = await info.context.loaders.users_by_company.load(self.row_id)
        users = await build_listed(info.context, rows, Category.USER_COMPANY_MEMBERSHIP)
        return report_list(info, users)


def report_list(info: Info[Context, None], objects: list[T]) -> list[T]:
    report(info, objects)
    return objects


async def build_listed(ctx: Context, rows: Sequence[m.User], category: Category) -> list[User]:
    """Users of a list of people (`subject: each`): those whose link the viewer may know."""
    views = await ctx.privacy.views_of_users(rows)
    keep = listed(ctx, category, views)
    return await User.build(ctx, [row for row, kept in zip(rows, keep, strict=True) if kept])


async def load_user(info: Info[Context, None], user_id: int | None) -> User | None:
    if user_id is None:
        return None
    built = info.context.built
    key = (User, user_id)
    if key in built:
        user: User | None = built[key]
    else:
        row = await info.context.loaders.user_by_id.load(user_id)
        if row is None or row.deletion_state == "PURGED":
            return None
        found = await User.build(info.context, [row])
        user = built[key] = found[0] if found else None
    if user is not None:
        report(info, user)
    return user


async def load_company(info: Info[Context, None], company_id: int | None) -> Company | None:
    if company_id is None:
        return None
    return await present(
        info, Company.build, await info.context.loaders.company_by_id.load(company_id)
    )
