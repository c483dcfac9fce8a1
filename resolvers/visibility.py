"""Row visibility: which rows a viewer may know exist. Anything else is simply not found.

Employees see the entities their role covers (Art. 3.2); what they see *of* a person
inside those rows is the field policy's business, not this module's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true

from directives.policy import Audience
from directives.taxonomy import Relationship, Role
from gateway.db import models as m
from resolvers.viewer import Viewer

PUBLIC_ENTITIES = frozenset({"User", "Company", "Product", "Review", "Video", "Comment"})

ROLE_ENTITIES: dict[Role, frozenset[str]] = {
    Role.SUPPORT: PUBLIC_ENTITIES | {"Order", "Shipment", "Payment", "Conversation", "Address"},
    Role.FINANCE: PUBLIC_ENTITIES | {"Order", "Payment", "Invoice"},
    Role.ANALYST: PUBLIC_ENTITIES | {"Order", "Shipment", "Payment"},
    Role.DPO: PUBLIC_ENTITIES
    | {"Order", "Shipment", "Payment", "Invoice", "Conversation", "Address"},
    Role.SECURITY: PUBLIC_ENTITIES
    | {"Order", "Shipment", "Payment", "Invoice", "Conversation", "Address"},
}


# Rows a platform user reaches through what they share with a data subject (the
# relationship classes of the policy); SELF reaches all of their own.
_SHARED_ENTITIES: dict[Relationship, frozenset[str]] = {
    Relationship.COUNTERPARTY: PUBLIC_ENTITIES
    | {"Order", "Shipment", "Payment", "Invoice", "Conversation"},
    Relationship.FORMER_COUNTERPARTY: PUBLIC_ENTITIES
    | {"Order", "Shipment", "Payment", "Invoice", "Conversation"},
    Relationship.PARTICIPANT: PUBLIC_ENTITIES | {"Conversation"},
    Relationship.PUBLIC: PUBLIC_ENTITIES,
}
# Types whose rows are reached through another entity's visibility.
ENTITY_OF = {"Message": "Conversation", "OrderItem": "Order"}


def audience_sees(audience: Audience, entity: str) -> bool:
    """Whether a viewer class can reach any row of `entity` belonging to a subject: the
    class-level form of the row rules below (for `redactionStatus`)."""
    if audience.role is not None:
        return entity in ROLE_ENTITIES[audience.role]
    if audience.relationship is Relationship.SELF:
        return True
    return entity in _SHARED_ENTITIES[audience.relationship]


def employee_covers(viewer: Viewer, entity: str) -> bool:
    return viewer.role is not None and entity in ROLE_ENTITIES[viewer.role]


def sql_filter(viewer: Viewer, entity: str) -> ColumnElement[bool]:
    """A WHERE clause restricting a root list of `entity` to what the viewer may see."""
    if viewer.is_employee:
        return true() if employee_covers(viewer, entity) else false()
    if entity in PUBLIC_ENTITIES and entity != "User":
        return true()
    me = viewer.user_id
    if me is None:
        return false()
    rule = _USER_RULES.get(entity)
    return rule(me) if rule else false()


def _orders(me: int) -> ColumnElement[bool]:
    carried = select(m.Shipment.order_id).where(m.Shipment.logistics_id == me)
    return or_(m.Order.buyer_id == me, m.Order.seller_id == me, m.Order.id.in_(carried))


def _shipments(me: int) -> ColumnElement[bool]:
    mine = select(m.Order.id).where(or_(m.Order.buyer_id == me, m.Order.seller_id == me))
    return or_(m.Shipment.logistics_id == me, m.Shipment.order_id.in_(mine))


def _payments(me: int) -> ColumnElement[bool]:
    sold = select(m.Order.id).where(m.Order.seller_id == me)
    return or_(m.Payment.payer_id == me, m.Payment.order_id.in_(sold))


def _invoices(me: int) -> ColumnElement[bool]:
    return or_(m.Invoice.buyer_id == me, m.Invoice.seller_id == me)


def _conversations(me: int) -> ColumnElement[bool]:
    joined = select(m.ConversationParticipant.conversation_id).where(
        m.ConversationParticipant.user_id == me
    )
    return m.Conversation.id.in_(joined)


def _users(me: int) -> ColumnElement[bool]:
    return m.User.id == me


def _addresses(me: int) -> ColumnElement[bool]:
    return m.Address.user_id == me


_USER_RULES: dict[str, Any] = {
    "Order": _orders,
    "Shipment": _shipments,
    "Payment": _payments,
    "Invoice": _invoices,
    "Conversation": _conversations,
    "User": _users,
    "Address": _addresses,
}


def may_see_order(viewer: Viewer, order: m.Order, shipment: m.Shipment | None) -> bool:
    if viewer.is_employee:
        return employee_covers(viewer, "Order")
    me = viewer.user_id
    return me is not None and (
        me in (order.buyer_id, order.seller_id)
        or (shipment is not None and shipment.logistics_id == me)
    )


def may_see_shipment(viewer: Viewer, order: m.Order, shipment: m.Shipment) -> bool:
    if viewer.is_employee:
        return employee_covers(viewer, "Shipment")
    return may_see_order(viewer, order, shipment)


def may_see_payment(viewer: Viewer, order: m.Order, payment: m.Payment) -> bool:
    if viewer.is_employee:
        return employee_covers(viewer, "Payment")
    me = viewer.user_id
    return me is not None and me in (payment.payer_id, order.seller_id)


def may_see_invoice(viewer: Viewer, invoice: m.Invoice) -> bool:
    if viewer.is_employee:
        return employee_covers(viewer, "Invoice")
    me = viewer.user_id
    return me is not None and me in (invoice.buyer_id, invoice.seller_id)


def may_see_conversation(viewer: Viewer, participants: list[int]) -> bool:
    if viewer.is_employee:
        return employee_covers(viewer, "Conversation")
    return viewer.user_id is not None and viewer.user_id in participants


def may_see_addresses(viewer: Viewer, user_id: int) -> bool:
    if viewer.is_employee:
        return employee_covers(viewer, "Address")
    return viewer.user_id == user_id
