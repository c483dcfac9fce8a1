"""Per-request batch loaders (aiodataloader); each batch opens one short session."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from functools import cached_property
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from gateway.db import models as m

Row = TypeVar("Row", bound=m.Base)


class RowById(DataLoader[int, Row | None], Generic[Row]):
    """`<Thing>ById`: one row (or None) per primary key."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], model: type[Row]) -> None:
        super().__init__()
        self._sessions = sessions
        self._model = model

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Row | None]:
        pk: Any = self._model.__mapper__.primary_key[0]
        async with self._sessions() as session:
            rows = (await session.scalars(select(self._model).where(pk.in_(keys)))).all()
        by_id = {getattr(row, pk.key): row for row in rows}
        return [by_id.get(key) for key in keys]


class RowsByColumn(DataLoader[Hashable, list[Row]], Generic[Row]):
    """`<Things>By<Column>`: every row whose column equals the key, in id order."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], column: InstrumentedAttribute[Any]
    ) -> None:
        super().__init__()
        self._sessions = sessions
        self._column = column

    async def batch_load_fn(self, keys: Sequence[Hashable]) -> list[list[Row]]:
        model = self._column.class_
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(model)
                    .where(self._column.in_(keys))
                    .order_by(*model.__mapper__.primary_key)
                )
            ).all()
        grouped: dict[Hashable, list[Row]] = defaultdict(list)
        for row in rows:
            grouped[getattr(row, self._column.key)].append(row)
        return [grouped.get(key, []) for key in keys]


class ParticipantsByConversation(DataLoader[int, list[int]]):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self._sessions = sessions

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[int]]:
        table = m.ConversationParticipant
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(table.conversation_id, table.user_id)
                    .where(table.conversation_id.in_(keys))
                    .order_by(table.conversation_id, table.user_id)
                )
            ).all()
        grouped: dict[int, list[int]] = defaultdict(list)
        for conversation_id, user_id in rows:
            grouped[conversation_id].append(user_id)
        return [grouped.get(key, []) for key in keys]


class RatingsByProduct(DataLoader[int, list[tuple[int, int, int]]]):
    """Per product, (author id, number of reviews, sum of ratings) for each author: what a
    rating average is made of, grouped so a viewer's hidden reviews can be left out."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self._sessions = sessions

    async def batch_load_fn(self, keys: Sequence[int]) -> list[list[tuple[int, int, int]]]:
        review = m.Review
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        review.product_id,
                        review.author_id,
                        func.count(),
                        func.sum(review.rating),
                    )
                    .where(review.product_id.in_(keys))
                    .group_by(review.product_id, review.author_id)
                    .order_by(review.product_id, review.author_id)
                )
            ).all()
        grouped: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for product_id, author_id, count, total in rows:
            grouped[product_id].append((author_id, int(count), int(total)))
        return [grouped.get(key, []) for key in keys]


class Loaders:
    """Every loader of one request, created on first use."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    def _by_id(self, model: type[Row]) -> RowById[Row]:
        return RowById(self.sessions, model)

    def _by(self, column: InstrumentedAttribute[Any]) -> RowsByColumn[Any]:
        return RowsByColumn(self.sessions, column)

    user_by_id = cached_property(lambda self: self._by_id(m.User))
    company_by_id = cached_property(lambda self: self._by_id(m.Company))
    product_by_id = cached_property(lambda self: self._by_id(m.Product))
    order_by_id = cached_property(lambda self: self._by_id(m.Order))
    video_by_id = cached_property(lambda self: self._by_id(m.Video))
    conversation_by_id = cached_property(lambda self: self._by_id(m.Conversation))
    shipment_by_order = cached_property(lambda self: self._by(m.Shipment.order_id))
    items_by_order = cached_property(lambda self: self._by(m.OrderItem.order_id))
    payments_by_order = cached_property(lambda self: self._by(m.Payment.order_id))
    invoices_by_order = cached_property(lambda self: self._by(m.Invoice.order_id))
    orders_by_buyer = cached_property(lambda self: self._by(m.Order.buyer_id))
    orders_by_seller = cached_property(lambda self: self._by(m.Order.seller_id))
    shipments_by_logistics = cached_property(lambda self: self._by(m.Shipment.logistics_id))
    addresses_by_user = cached_property(lambda self: self._by(m.Address.user_id))
    products_by_seller = cached_property(lambda self: self._by(m.Product.seller_id))
    reviews_by_product = cached_property(lambda self: self._by(m.Review.product_id))
    reviews_by_author = cached_property(lambda self: self._by(m.Review.author_id))
    videos_by_author = cached_property(lambda self: self._by(m.Video.author_id))
    videos_by_product = cached_property(lambda self: self._by(m.Video.product_id))
    comments_by_video = cached_property(lambda self: self._by(m.Comment.video_id))
    comments_by_product = cached_property(lambda self: self._by(m.Comment.product_id))
    comments_by_author = cached_property(lambda self: self._by(m.Comment.author_id))
    messages_by_conversation = cached_property(lambda self: self._by(m.Message.conversation_id))
    conversations_by_order = cached_property(lambda self: self._by(m.Conversation.order_id))
    users_by_company = cached_property(lambda self: self._by(m.User.company_id))
    participants_by_conversation = cached_property(
        lambda self: ParticipantsByConversation(self.sessions)
    )
    ratings_by_product = cached_property(lambda self: RatingsByProduct(self.sessions))
    events_by_request = cached_property(lambda self: self._by(m.PrivacyRequestEvent.request_id))
    conversation_ids_by_user = cached_property(
        lambda self: self._by(m.ConversationParticipant.user_id)
    )
