"""User-generated content: reviews, short videos, comments (Art. 6.4: deleted on erasure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import strawberry
from strawberry import Private
from strawberry.types import Info

from directives.masking import Strategy
from directives.sdl import PersonalRecord
from directives.taxonomy import Category
from gateway.db import models as m
from resolvers.context import Context
from schema.privacy import project
from schema.types.commerce import Product
from schema.types.common import gid, personal, personal_link, present
from schema.types.people import User, load_user, report_list


async def _authored(ctx: Context, cls: type[Any], rows: Sequence[Any], values: Any) -> list[Any]:
    views = await ctx.privacy.views([row.author_id for row in rows])
    return project(ctx, cls, [values(row) for row in rows], views)


async def _product(info: Info[Context, None], product_id: int | None) -> Product | None:
    if product_id is None:
        return None
    row = await info.context.loaders.product_by_id.load(product_id)
    return None if row is None else (await Product.build(info.context, [row]))[0]


@strawberry.type(
    description="A product review: a rating and a text by a buyer.", directives=[PersonalRecord()]
)
class Review:
    id: strawberry.ID
    created_at: datetime
    rating: int | None = personal(Category.USER_UGC_CONTENT, Strategy.REDACT)
    text: str | None = personal(Category.USER_UGC_CONTENT, Strategy.REDACT)
    author_id: Private[int | None]
    product_id: Private[int]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Review]) -> list[Review]:
        return await _authored(
            ctx,
            cls,
            rows,
            lambda row: {
                "id": gid(row.id),
                "rating": row.rating,
                "created_at": row.created_at,
                "text": row.text,
                "author_id": row.author_id,
                "product_id": row.product_id,
            },
        )

    @personal_link(Category.USER_UGC_AUTHORSHIP, description="Who wrote the review.")
    async def author(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.author_id)

    @strawberry.field
    async def product(self, info: Info[Context, None]) -> Product | None:
        return await _product(info, self.product_id)


@strawberry.type(description="A short user video.", directives=[PersonalRecord()])
class Video:
    id: strawberry.ID
    created_at: datetime
    url: str | None = personal(Category.USER_UGC_CONTENT, Strategy.REDACT)
    caption: str | None = personal(Category.USER_UGC_CONTENT, Strategy.REDACT)
    row_id: Private[int]
    author_id: Private[int | None]
    product_id: Private[int | None]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Video]) -> list[Video]:
        return await _authored(
            ctx,
            cls,
            rows,
            lambda row: {
                "id": gid(row.id),
                "created_at": row.created_at,
                "url": row.url,
                "caption": row.caption,
                "row_id": row.id,
                "author_id": row.author_id,
                "product_id": row.product_id,
            },
        )

    @personal_link(Category.USER_UGC_AUTHORSHIP, description="Who posted the video.")
    async def author(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.author_id)

    @strawberry.field
    async def product(self, info: Info[Context, None]) -> Product | None:
        return await _product(info, self.product_id)

    @strawberry.field
    async def comments(self, info: Info[Context, None]) -> list[Comment]:
        rows = await info.context.loaders.comments_by_video.load(self.row_id)
        return report_list(info, await Comment.build(info.context, rows))


@strawberry.type(description="A comment on a video or a product.", directives=[PersonalRecord()])
class Comment:
    id: strawberry.ID
    created_at: datetime
    text: str | None = personal(Category.USER_UGC_CONTENT, Strategy.REDACT)
    author_id: Private[int | None]
    video_id: Private[int | None]
    product_id: Private[int | None]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Comment]) -> list[Comment]:
        return await _authored(
            ctx,
            cls,
            rows,
            lambda row: {
                "id": gid(row.id),
                "created_at": row.created_at,
                "text": row.text,
                "author_id": row.author_id,
                "video_id": row.video_id,
                "product_id": row.product_id,
            },
        )

    @personal_link(Category.USER_UGC_AUTHORSHIP, description="Who wrote the comment.")
    async def author(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.author_id)

    @strawberry.field
    async def video(self, info: Info[Context, None]) -> Video | None:
        if self.video_id is None:
            return None
        return await present(
            info, Video.build, await info.context.loaders.video_by_id.load(self.video_id)
        )

    @strawberry.field
    async def product(self, info: Info[Context, None]) -> Product | None:
        return await _product(info, self.product_id)
