"""Rows reached through relationships: batched by loaders, cut to what the viewer may see."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.db import models as m
from resolvers import visibility as v
from resolvers.context import Context


async def visible_orders(ctx: Context, orders: Sequence[m.Order | None]) -> list[m.Order]:
    present = [order for order in orders if order is not None]
    viewer = ctx.viewer
    if viewer.is_employee:
        return present if v.employee_covers(viewer, "Order") else []
    if viewer.user_id is None:
        return []
    shipments: list[list[m.Shipment]] = (
        await ctx.loaders.shipment_by_order.load_many([order.id for order in present])
        if viewer.user_kind == "LOGISTICS"
        else [[] for _ in present]
    )
    return [
        order
        for order, found in zip(present, shipments, strict=True)
        if v.may_see_order(viewer, order, found[0] if found else None)
    ]


async def order(ctx: Context, order_id: int | None) -> m.Order | None:
    if order_id is None:
        return None
    found = await visible_orders(ctx, [await ctx.loaders.order_by_id.load(order_id)])
    return found[0] if found else None


async def orders_of(ctx: Context, user_id: int, role: str) -> list[m.Order]:
    loader = ctx.loaders.orders_by_buyer if role == "buyer" else ctx.loaders.orders_by_seller
    return await visible_orders(ctx, await loader.load(user_id))


async def shipment_of(ctx: Context, order: m.Order) -> m.Shipment | None:
    found: list[m.Shipment] = await ctx.loaders.shipment_by_order.load(order.id)
    if not found or not v.may_see_shipment(ctx.viewer, order, found[0]):
        return None
    return found[0]


async def shipments_carried_by(ctx: Context, user_id: int) -> list[m.Shipment]:
    rows: list[m.Shipment] = await ctx.loaders.shipments_by_logistics.load(user_id)
    if not rows:
        return []
    orders = await ctx.loaders.order_by_id.load_many([row.order_id for row in rows])
    return [
        row
        for row, order in zip(rows, orders, strict=True)
        if order is not None and v.may_see_shipment(ctx.viewer, order, row)
    ]


async def payments_of(ctx: Context, order: m.Order) -> list[m.Payment]:
    rows: list[m.Payment] = await ctx.loaders.payments_by_order.load(order.id)
    return [row for row in rows if v.may_see_payment(ctx.viewer, order, row)]


async def invoices_of(ctx: Context, order: m.Order) -> list[m.Invoice]:
    rows: list[m.Invoice] = await ctx.loaders.invoices_by_order.load(order.id)
    return [row for row in rows if v.may_see_invoice(ctx.viewer, row)]


async def conversation(ctx: Context, conversation_id: int | None) -> m.Conversation | None:
    if conversation_id is None:
        return None
    row = await ctx.loaders.conversation_by_id.load(conversation_id)
    if row is None:
        return None
    participants = await ctx.loaders.participants_by_conversation.load(row.id)
    return row if v.may_see_conversation(ctx.viewer, participants) else None


async def conversations_about(ctx: Context, order_id: int) -> list[m.Conversation]:
    rows: list[m.Conversation] = await ctx.loaders.conversations_by_order.load(order_id)
    participants = await ctx.loaders.participants_by_conversation.load_many([r.id for r in rows])
    return [
        row
        for row, people in zip(rows, participants, strict=True)
        if v.may_see_conversation(ctx.viewer, people)
    ]


async def conversations_of(ctx: Context, user_id: int) -> list[m.Conversation]:
    links: list[m.ConversationParticipant] = await ctx.loaders.conversation_ids_by_user.load(
        user_id
    )
    ids = [link.conversation_id for link in links]
    rows = await ctx.loaders.conversation_by_id.load_many(ids)
    participants = await ctx.loaders.participants_by_conversation.load_many(ids)
    return [
        row
        for row, people in zip(rows, participants, strict=True)
        if row is not None and v.may_see_conversation(ctx.viewer, people)
    ]


async def addresses_of(ctx: Context, user_id: int) -> list[m.Address]:
    if not v.may_see_addresses(ctx.viewer, user_id):
        return []
    rows: list[m.Address] = await ctx.loaders.addresses_by_user.load(user_id)
    return rows
