"""How a platform-user viewer relates to data subjects: one statement per batch of subjects."""

from __future__ import annotations

from collections.abc import Sequence

from aiodataloader import DataLoader
from sqlalchemy import Boolean, and_, cast, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directives.taxonomy import Relationship
from gateway.db.models import ConversationParticipant, Order, Shipment

ACTIVE_ORDER = ("PLACED", "PAID", "SHIPPED")
RANK = {
    Relationship.COUNTERPARTY: 3,
    Relationship.FORMER_COUNTERPARTY: 2,
    Relationship.PARTICIPANT: 1,
}


class RelationshipBySubject(DataLoader[int, Relationship]):
    """The viewer's closest relationship to each subject (SELF, COUNTERPARTY, ..., PUBLIC).

    A counterparty shares an order (as buyer or seller) or a shipment (as its logistics
    operator) with the subject; the order is in progress for COUNTERPARTY, finished for
    FORMER_COUNTERPARTY. Sharing only a conversation makes a PARTICIPANT.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], viewer_id: int) -> None:
        super().__init__()
        self._sessions = sessions
        self._viewer = viewer_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[Relationship]:
        others = [key for key in keys if key != self._viewer]
        found: dict[int, Relationship] = {}
        if others:
            async with self._sessions() as session:
                rows = (await session.execute(self._statement(others))).all()
            for subject_id, kind in rows:
                relationship = _relationship(kind)
                current = found.get(subject_id)
                if current is None or RANK[relationship] > RANK[current]:
                    found[subject_id] = relationship
        return [
            Relationship.SELF if key == self._viewer else found.get(key, Relationship.PUBLIC)
            for key in keys
        ]

    def _statement(self, others: list[int]):  # type: ignore[no-untyped-def]
        me = self._viewer
        active_order = Order.status.in_(ACTIVE_ORDER)
        active_shipment = and_(Shipment.status != "DELIVERED", active_order)
        trading = select(Order.seller_id.label("subject"), active_order.label("active")).where(
            Order.buyer_id == me, Order.seller_id.in_(others)
        )
        selling = select(Order.buyer_id, active_order).where(
            Order.seller_id == me, Order.buyer_id.in_(others)
        )
        carrying = (
            select(Order.buyer_id, active_shipment)
            .join(Shipment, Shipment.order_id == Order.id)
            .where(Shipment.logistics_id == me, Order.buyer_id.in_(others))
        )
        carrying_for = (
            select(Order.seller_id, active_shipment)
            .join(Shipment, Shipment.order_id == Order.id)
            .where(Shipment.logistics_id == me, Order.seller_id.in_(others))
        )
        carried_by = (
            select(Shipment.logistics_id, active_shipment)
            .join(Order, Shipment.order_id == Order.id)
            .where(or_(Order.buyer_id == me, Order.seller_id == me))
            .where(Shipment.logistics_id.in_(others))
        )
        mine = ConversationParticipant.__table__.alias("mine")
        theirs = ConversationParticipant.__table__.alias("theirs")
        chatting = (
            select(theirs.c.user_id, cast(null(), Boolean))
            .join(mine, mine.c.conversation_id == theirs.c.conversation_id)
            .where(mine.c.user_id == me, theirs.c.user_id.in_(others))
        )
        return union_all(trading, selling, carrying, carrying_for, carried_by, chatting)


def _relationship(active: object) -> Relationship:
    if active is None:
        return Relationship.PARTICIPANT
    return Relationship.COUNTERPARTY if bool(active) else Relationship.FORMER_COUNTERPARTY
