"""Conversations and messages; a sender's erasure detaches them, the bodies stay (Art. 6.4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry import Private
from strawberry.types import Info

from directives.masking import Strategy
from directives.taxonomy import Category, Relationship
from gateway.db import models as m
from resolvers import related
from resolvers.context import Context
from schema.privacy import project
from schema.types.commerce import Order
from schema.types.common import gid, personal, personal_link, personal_people, present
from schema.types.people import User, build_listed, load_user, report_list


@strawberry.type(description="A chat between marketplace users, often about an order.")
class Conversation:
    id: strawberry.ID
    topic: str
    created_at: datetime
    row: Private[m.Conversation]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Conversation]) -> list[Conversation]:
        return [
            cls(id=gid(row.id), topic=row.topic, created_at=row.created_at, row=row) for row in rows
        ]

    @personal_people(
        Category.USER_CONVERSATION_PARTICIPATION,
        description="Who takes part, as far as the viewer may know; erasure detaches a person.",
    )
    async def participants(self, info: Info[Context, None]) -> list[User]:
        ids = await info.context.loaders.participants_by_conversation.load(self.row.id)
        rows = [row for row in await info.context.loaders.user_by_id.load_many(ids) if row]
        users = await build_listed(info.context, rows, Category.USER_CONVERSATION_PARTICIPATION)
        return report_list(info, users)

    @strawberry.field
    async def messages(self, info: Info[Context, None]) -> list[Message]:
        rows = await info.context.loaders.messages_by_conversation.load(self.row.id)
        return report_list(info, await Message.build(info.context, rows))

    @strawberry.field
    async def order(self, info: Info[Context, None]) -> Order | None:
        return await present(
            info, Order.build, await related.order(info.context, self.row.order_id)
        )


@strawberry.type(description="One message in a conversation.")
class Message:
    id: strawberry.ID
    sent_at: datetime
    body: str | None = personal(Category.USER_MESSAGE_CONTENT, Strategy.REDACT)
    sender_name: str | None = personal(Category.USER_MESSAGE_AUTHORSHIP, Strategy.TOMBSTONE)
    sender_id: Private[int | None]
    conversation_id: Private[int]

    @classmethod
    async def build(cls, ctx: Context, rows: Sequence[m.Message]) -> list[Message]:
        sender_ids = [row.sender_id for row in rows]
        # Only participants (and employees) can read a conversation's messages.
        views = await ctx.privacy.views(sender_ids, detached_as=Relationship.PARTICIPANT)
        senders = await ctx.loaders.user_by_id.load_many([sid for sid in sender_ids if sid])
        names = {user.id: user.full_name for user in senders if user is not None}
        return project(
            ctx,
            cls,
            [
                {
                    "id": gid(row.id),
                    "sent_at": row.sent_at,
                    "body": row.body,
                    "sender_name": names.get(row.sender_id) if row.sender_id else None,
                    "sender_id": row.sender_id,
                    "conversation_id": row.conversation_id,
                }
                for row in rows
            ],
            views,
        )

    @personal_link(
        Category.USER_CONVERSATION_PARTICIPATION, description="Who sent it; null once erased."
    )
    async def sender(self, info: Info[Context, None]) -> User | None:
        return await load_user(info, self.sender_id)

    @strawberry.field
    async def conversation(self, info: Info[Context, None]) -> Conversation | None:
        row = await related.conversation(info.context, self.conversation_id)
        if row is None:
            return None
        (conversation,) = await Conversation.build(info.context, [row])
        return conversation
