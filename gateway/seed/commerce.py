"""Products, then per buyer: orders with items, shipments, payments, invoices, reviews,
order chats and, for erased buyers, the legal holds that keep their financial records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from gateway.seed.demo import DEMO_USERS
from gateway.seed.population import (
    BASE,
    ORDER_END_DAY,
    Person,
    Population,
    Row,
    at,
    days_after,
)
from gateway.seed.vocabulary import (
    COURIER_LINES,
    CURRENCY,
    ORDER_CHATS,
    PRESALE_CHATS,
    TOPICS,
    price_cents,
    product_text,
    review_text,
)

PLACED, PAID, SHIPPED, DELIVERED, CANCELLED = "PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"
_STATUSES = (PLACED, PAID, SHIPPED, DELIVERED, CANCELLED)
_STATUS_WEIGHTS = (8, 8, 12, 60, 12)
_SHIPMENT_STATUS = {
    PLACED: "PENDING",
    PAID: "PENDING",
    SHIPPED: "IN_TRANSIT",
    DELIVERED: "DELIVERED",
}
_IN_PROGRESS = (PLACED, PAID, SHIPPED)
# Orders still in progress were placed in the last two weeks before the data ends.
_RECENT_DAY = ORDER_END_DAY - 14
HOLD_YEARS = 5
GROUP = 1000  # buyers per round of inserts: about 3,000 orders and 6,000 items
# Child tables after their parents, so every chunk satisfies the foreign keys.
ORDER_TABLES = (
    "orders",
    "order_items",
    "shipments",
    "payments",
    "invoices",
    "reviews",
    "conversations",
    "conversation_participants",
    "messages",
    "legal_holds",
)


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    seller_id: int
    title: str
    price_cents: int
    currency: str


@dataclass(slots=True)
class OrderPlan:
    seller: Person
    status: str
    placed_at: datetime
    paid: bool
    logistics: Person | None = None  # None: a local operator is drawn
    chat: bool = False
    courier_in_chat: bool = False
    review_every_item: bool = False


def build_catalogue(
    rng: Random, population: Population
) -> tuple[dict[int, list[Product]], list[Row]]:
    """Two to eight products per seller (six for the demo seller), in the seller's language."""
    by_seller: dict[int, list[Product]] = {}
    rows: list[Row] = []
    for seller in population.sellers:
        assert seller.place is not None
        currency = CURRENCY[seller.jurisdiction]
        count = 6 if seller.id == DEMO_USERS["seller"] else rng.randint(2, 8)
        for _ in range(count):
            title, description, base = product_text(rng, seller.language, seller.place.city)
            price = price_cents(rng, base, currency)
            product = Product(len(rows) + 1, seller.id, title, price, currency)
            by_seller.setdefault(seller.id, []).append(product)
            rows.append(
                {
                    "id": product.id,
                    "seller_id": seller.id,
                    "title": title,
                    "description": description,
                    "price_cents": product.price_cents,
                    "currency": currency,
                    "rating_avg": None,
                    "rating_count": 0,
                }
            )
    return by_seller, rows


def plus_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


class Commerce:
    def __init__(
        self, rng: Random, population: Population, catalogue: dict[int, list[Product]]
    ) -> None:
        self.rng = rng
        self.population = population
        self.catalogue = catalogue
        self.ids = dict.fromkeys(ORDER_TABLES, 0)
        self.rows: dict[str, list[Row]] = {t: [] for t in ORDER_TABLES}

    def batches(self) -> Iterator[tuple[str, list[Row]]]:
        buyers = self.population.buyers
        for start in range(0, len(buyers), GROUP):
            for buyer in buyers[start : start + GROUP]:
                reviewed: set[int] = set()  # one review per buyer and product
                for plan in self._plans(buyer):
                    self._order(buyer, plan, reviewed)
                if self.rng.random() < 0.08:
                    self._presale_chat(buyer)
            for table in ORDER_TABLES:
                if self.rows[table]:
                    yield table, self.rows[table]
                    self.rows[table] = []

    def _next(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    # -- what each buyer bought -------------------------------------------------------------

    def _plans(self, buyer: Person) -> list[OrderPlan]:
        rng, seller = self.rng, self.population.person(DEMO_USERS["seller"])
        logistics = self.population.person(DEMO_USERS["logistics"])
        day = timedelta(days=1)
        fixed: list[OrderPlan] = []
        if buyer.id == DEMO_USERS["buyer"]:
            fixed = [
                OrderPlan(
                    seller,
                    DELIVERED,
                    BASE + 30 * day,
                    paid=True,
                    logistics=logistics,
                    chat=True,
                    courier_in_chat=True,
                    review_every_item=True,
                ),
                OrderPlan(
                    seller, SHIPPED, BASE + 160 * day, paid=True, logistics=logistics, chat=True
                ),
            ]
        elif buyer.id == DEMO_USERS["buyer_withdrawn"]:
            fixed = [
                OrderPlan(seller, DELIVERED, BASE + 50 * day, paid=True, review_every_item=True)
            ]
        elif buyer.id == DEMO_USERS["buyer_erasure_pending"]:
            fixed = [
                OrderPlan(
                    seller, DELIVERED, BASE + 60 * day, paid=True, chat=True, review_every_item=True
                ),
                OrderPlan(seller, PAID, BASE + 158 * day, paid=True),
            ]
        elif buyer.id == DEMO_USERS["buyer_erased"]:
            fixed = [
                OrderPlan(seller, DELIVERED, BASE + 45 * day, paid=True, chat=True),
                OrderPlan(seller, CANCELLED, BASE + 70 * day, paid=True),  # refunded
            ]
        elif buyer.id == DEMO_USERS["other_buyer"]:
            fixed = [self._plan(buyer, DELIVERED, review_every_item=True)]
        demo = buyer.id in DEMO_USERS.values()
        count = rng.randint(1, 2) if demo else rng.choice((1, 2, 3, 3, 4, 5))
        plans = fixed + [self._plan(buyer) for _ in range(count)]
        return sorted(plans, key=lambda p: p.placed_at)

    def _plan(
        self, buyer: Person, status: str | None = None, *, review_every_item: bool = False
    ) -> OrderPlan:
        rng = self.rng
        # Most buyers shop at home; some order across borders.
        if rng.random() < 0.75:
            sellers = self.population.sellers_by_jurisdiction[buyer.jurisdiction]
        else:
            sellers = self.population.sellers
        seller = rng.choice(sellers)
        while buyer.id == DEMO_USERS["other_buyer"] and seller.id == DEMO_USERS["seller"]:
            seller = rng.choice(sellers)
        if status is None:
            status = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        if buyer.erased and status in _IN_PROGRESS:
            status = DELIVERED  # erasure waits for open orders to finish
        first = days_after(buyer.created_at) + 0.05
        if status in _IN_PROGRESS:
            placed_at = at(rng, max(first, _RECENT_DAY), ORDER_END_DAY)
        else:
            placed_at = at(rng, first, _RECENT_DAY)
        paid = status != PLACED and (status != CANCELLED or rng.random() < 0.35)
        chat = status != CANCELLED and rng.random() < 0.25
        courier = chat and status in (SHIPPED, DELIVERED) and rng.random() < 0.1
        return OrderPlan(seller, status, placed_at, paid, None, chat, courier, review_every_item)

    # -- the rows of one order ---------------------------------------------------------------

    def _order(self, buyer: Person, plan: OrderPlan, reviewed: set[int]) -> None:
        rng, rows, seller = self.rng, self.rows, plan.seller
        assert buyer.place is not None
        order_id = self._next("orders")
        products = self.catalogue[seller.id]
        items = rng.sample(products, rng.randint(1, min(3, len(products))))
        total = 0
        for product in items:
            quantity = rng.choices((1, 2, 3), (75, 18, 7))[0]
            total += quantity * product.price_cents
            rows["order_items"].append(
                {
                    "id": self._next("order_items"),
                    "order_id": order_id,
                    "product_id": product.id,
                    "quantity": quantity,
                    "unit_price_cents": product.price_cents,
                }
            )
        currency = items[0].currency
        rows["orders"].append(
            {
                "id": order_id,
                "buyer_id": buyer.id,
                "seller_id": seller.id,
                "status": plan.status,
                "total_cents": total,
                "currency": currency,
                "placed_at": plan.placed_at,
                # No viewer may read an erased buyer's address, so none is kept (storage
                # limitation); the invoice's billing address stays under the legal hold.
                "shipping_address": None if buyer.erased else buyer.place.text,
            }
        )
        delivered_at = plan.placed_at + timedelta(seconds=rng.randrange(2 * 86400, 10 * 86400))
        tracking = f"CT{order_id:09d}{buyer.locale.country}"
        logistics = plan.logistics
        if plan.status != CANCELLED:
            logistics = logistics or rng.choice(
                self.population.logistics_by_jurisdiction[buyer.jurisdiction]
            )
            updated = {
                PLACED: plan.placed_at,
                PAID: plan.placed_at + timedelta(minutes=rng.randint(1, 30)),
                SHIPPED: plan.placed_at + timedelta(hours=rng.randint(20, 60)),
                DELIVERED: delivered_at,
            }[plan.status]
            keep = not buyer.erased  # the recipient's copy of the profile goes with it
            rows["shipments"].append(
                {
                    "id": self._next("shipments"),
                    "order_id": order_id,
                    "logistics_id": logistics.id,
                    "recipient_name": buyer.full_name if keep else None,
                    "recipient_phone": buyer.phone if keep else None,
                    "recipient_address": buyer.place.text if keep else None,
                    "status": _SHIPMENT_STATUS[plan.status],
                    "tracking_code": tracking,
                    "updated_at": updated,
                }
            )
        held: list[tuple[str, int]] = [("ORDER", order_id)]
        if plan.paid:
            method = rng.choices(("CARD", "WALLET", "TRANSFER"), (70, 20, 10))[0]
            payment_id = self._next("payments")
            held.append(("PAYMENT", payment_id))
            rows["payments"].append(
                {
                    "id": payment_id,
                    "order_id": order_id,
                    "payer_id": buyer.id,
                    "amount_cents": total,
                    "currency": currency,
                    "method": method,
                    "card_last4": f"{rng.randrange(10000):04d}" if method == "CARD" else None,
                    "status": "REFUNDED" if plan.status == CANCELLED else "CAPTURED",
                    "created_at": plan.placed_at + timedelta(minutes=rng.randint(1, 30)),
                }
            )
        if plan.status == DELIVERED:
            invoice_id = self._next("invoices")
            held.append(("INVOICE", invoice_id))
            # A tax document keeps the buyer's name and address, erased or not (legal hold).
            rows["invoices"].append(
                {
                    "id": invoice_id,
                    "order_id": order_id,
                    "seller_id": seller.id,
                    "buyer_id": buyer.id,
                    "number": f"INV-{delivered_at.year}-{invoice_id:07d}",
                    "billing_name": buyer.full_name,
                    "billing_address": buyer.place.text,
                    "tax_id": seller.tax_id,
                    "total_cents": total,
                    "currency": currency,
                    "issued_at": delivered_at,
                }
            )
            if not buyer.erased:
                self._reviews(buyer, items, delivered_at, plan.review_every_item, reviewed)
        if plan.chat:
            self._order_chat(buyer, plan, order_id, tracking, logistics)
        if buyer.erased:
            assert buyer.erased_at is not None
            for record_type, record_id in held:
                rows["legal_holds"].append(
                    {
                        "id": self._next("legal_holds"),
                        "subject_id": buyer.id,
                        "record_type": record_type,
                        "record_id": record_id,
                        "basis": "LEGAL_OBLIGATION",
                        "held_until": plus_years(buyer.erased_at, HOLD_YEARS),
                        "created_at": buyer.erased_at,
                    }
                )

    def _reviews(
        self,
        buyer: Person,
        items: list[Product],
        delivered_at: datetime,
        every: bool,
        reviewed: set[int],
    ) -> None:
        rng = self.rng
        for product in items:
            if product.id in reviewed or (not every and rng.random() >= 0.35):
                continue
            reviewed.add(product.id)
            rating = rng.choices((1, 2, 3, 4, 5), (5, 5, 10, 30, 50))[0]
            self.rows["reviews"].append(
                {
                    "id": self._next("reviews"),
                    "product_id": product.id,
                    "author_id": buyer.id,
                    "rating": rating,
                    "text": review_text(rng, buyer.language, rating),
                    "created_at": delivered_at
                    + timedelta(seconds=rng.randrange(86400, 20 * 86400)),
                }
            )

    # -- conversations -----------------------------------------------------------------------

    def _order_chat(
        self, buyer: Person, plan: OrderPlan, order_id: int, tracking: str, courier: Person | None
    ) -> None:
        rng = self.rng
        language = _shared_language(buyer, plan.seller)
        script = rng.choice(ORDER_CHATS[language])
        lines = [
            (buyer if i % 2 == 0 else plan.seller, text.format(tracking=tracking))
            for i, text in enumerate(script[: rng.randint(2, len(script))])
        ]
        members = [buyer, plan.seller]
        if plan.courier_in_chat and courier is not None:
            members.append(courier)
            lines.append((courier, COURIER_LINES[language]))
        topic = TOPICS[language][0].format(order=order_id)
        started = plan.placed_at + timedelta(seconds=rng.randrange(600, 2 * 86400))
        self._conversation(topic, order_id, started, members, lines)

    def _presale_chat(self, buyer: Person) -> None:
        """A question to a seller before buying: a conversation without an order."""
        rng = self.rng
        seller = rng.choice(self.population.sellers)
        if buyer.id == DEMO_USERS["other_buyer"] and seller.id == DEMO_USERS["seller"]:
            return
        product = rng.choice(self.catalogue[seller.id])
        language = _shared_language(buyer, seller)
        script = PRESALE_CHATS[language][: rng.choice((2, 4))]
        lines = [
            (buyer if i % 2 == 0 else seller, text.format(p=product.title))
            for i, text in enumerate(script)
        ]
        topic = TOPICS[language][1].format(p=product.title)
        started = at(rng, days_after(buyer.created_at) + 0.1, ORDER_END_DAY)
        self._conversation(topic, None, started, [buyer, seller], lines)

    def _conversation(
        self,
        topic: str,
        order_id: int | None,
        started: datetime,
        members: list[Person],
        lines: list[tuple[Person, str]],
    ) -> None:
        rng, rows = self.rng, self.rows
        conversation_id = self._next("conversations")
        rows["conversations"].append(
            {"id": conversation_id, "topic": topic, "order_id": order_id, "created_at": started}
        )
        rows["conversation_participants"].extend(
            {"conversation_id": conversation_id, "user_id": m.id} for m in members
        )
        sent_at = started
        for sender, body in lines:
            rows["messages"].append(
                {
                    "id": self._next("messages"),
                    "conversation_id": conversation_id,
                    # An erased sender is detached; the body stays for the other participants.
                    "sender_id": None if sender.erased else sender.id,
                    "body": body,
                    "sent_at": sent_at,
                }
            )
            sent_at += timedelta(seconds=rng.randrange(60, 6 * 3600))


def _shared_language(a: Person, b: Person) -> str:
    return a.language if a.language == b.language else "en"
