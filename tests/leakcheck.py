"""Canary data and an independent oracle for the leak tests (tests/test_leaks*.py).

`plant_canaries` overwrites every personal column of every row with a unique value
built around a token (`zq` + 8 letters; a card number is `ᛝ` + 3 runes), so a token
found anywhere in a response names exactly one row and column.

`Oracle` knows, from database rows read with plain SQL and from `DEFAULT_POLICY`
alone (not from the gateway's resolvers), how each viewer class relates to each data
subject and so what it may see of each canary. It checks a response two ways:

- structurally: every personal field of every object (the row found by its `id`),
  whatever aliases and fragments the query used, against the decision: STRIP gives
  null, MASK gives exactly the masked value, SHOW gives this row's value;
- as raw text: every canary token anywhere in the body (data, errors, extensions) must
  belong to a canary the viewer may see unmasked through some field of the schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import graphql
import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from directives.decision import Action, Decision
from directives.masking import TOMBSTONE, Strategy, apply_mask
from directives.policy import DEFAULT_POLICY, Audience, Policy, SubjectState
from directives.taxonomy import Category, DeletionState, Purpose, Relationship, Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db.engine import create_engine
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from gateway.settings import Settings
from schema.build import build_schema
from tests.conftest import BACKENDS, exhaustive, make_database

# -- canaries ------------------------------------------------------------------------------

_LETTERS = "ghjkmnprstvwxy"  # no hex digits, so no pseudonym or cursor can spell a token
_RUNES = "".join(chr(c) for c in range(0x16A0, 0x16EB))
TOKEN_RE = re.compile(rf"zq[{_LETTERS}]{{8}}|ᛝ[{_RUNES}]{{3}}")


def _address(token: str, area: str) -> str:
    # "street, city, postal code, country": GENERALIZE keeps "city, country", so the area
    # token may show where an address is generalized and the full token must not.
    return f"{token} Street 1, {area}, 10115, DE"


@dataclass(frozen=True)
class Column:
    """A personal column, the value planted in it, and the GraphQL fields that expose it."""

    table: str
    column: str
    shape: Callable[[str, str], str]  # (token, area token) -> value
    fields: tuple[tuple[str, str], ...]
    area: bool = False  # the value has a "city" part that GENERALIZE keeps
    coarse: bool = False  # the value is a lone place name: GENERALIZE keeps all of it
    subject_column: str = ""  # the row's column naming its data subject; "" = the row itself


COLUMNS: tuple[Column, ...] = (
    Column(
        "users",
        "full_name",
        lambda t, a: f"{t} Canary",
        (("User", "fullName"), ("Message", "senderName")),
    ),
    Column("users", "email", lambda t, a: f"{t}@canary.test", (("User", "email"),)),
    Column("users", "phone", lambda t, a: f"+49 30 {t} 12", (("User", "phone"),)),
    Column(
        "addresses",
        "line1",
        lambda t, a: f"{t} Street 1",
        (("Address", "line1"),),
        subject_column="user_id",
    ),
    Column(
        "addresses",
        "city",
        lambda t, a: t,
        (("Address", "city"),),
        coarse=True,
        subject_column="user_id",
    ),
    Column(
        "addresses",
        "postal_code",
        lambda t, a: f"{t} 10115",
        (("Address", "postalCode"),),
        subject_column="user_id",
    ),
    Column(
        "companies",
        "tax_id",
        lambda t, a: f"KZ{t}",
        (("Company", "taxId"),),
        subject_column="contact_person_id",
    ),
    Column(
        "companies",
        "registered_address",
        _address,
        (("Company", "registeredAddress"),),
        area=True,
        subject_column="contact_person_id",
    ),
    Column(
        "orders",
        "shipping_address",
        _address,
        (("Order", "shippingAddress"),),
        area=True,
        subject_column="buyer_id",
    ),
    Column(
        "shipments",
        "recipient_name",
        lambda t, a: f"{t} Recipient",
        (("Shipment", "recipientName"),),
        subject_column="buyer_id",
    ),
    Column(
        "shipments",
        "recipient_phone",
        lambda t, a: f"+48 22 {t} 34",
        (("Shipment", "recipientPhone"),),
        subject_column="buyer_id",
    ),
    Column(
        "shipments",
        "recipient_address",
        _address,
        (("Shipment", "recipientAddress"),),
        area=True,
        subject_column="buyer_id",
    ),
    Column(
        "payments",
        "card_last4",
        lambda t, a: t,
        (("Payment", "cardLast4"),),
        subject_column="payer_id",
    ),
    Column(
        "invoices",
        "billing_name",
        lambda t, a: f"{t} Billing",
        (("Invoice", "billingName"),),
        subject_column="buyer_id",
    ),
    Column(
        "invoices",
        "billing_address",
        _address,
        (("Invoice", "billingAddress"),),
        area=True,
        subject_column="buyer_id",
    ),
    Column(
        "invoices",
        "tax_id",
        lambda t, a: f"DE{t}",
        (("Invoice", "sellerTaxId"),),
        subject_column="seller_id",
    ),
    Column(
        "reviews",
        "text",
        lambda t, a: f"Great kettle {t}",
        (("Review", "text"),),
        subject_column="author_id",
    ),
    Column(
        "videos",
        "url",
        lambda t, a: f"https://video.canary.test/{t}.mp4",
        (("Video", "url"),),
        subject_column="author_id",
    ),
    Column(
        "videos",
        "caption",
        lambda t, a: f"Unboxing {t}",
        (("Video", "caption"),),
        subject_column="author_id",
    ),
    Column(
        "comments",
        "text",
        lambda t, a: f"Nice {t}",
        (("Comment", "text"),),
        subject_column="author_id",
    ),
    Column(
        "messages",
        "body",
        lambda t, a: f"Hello {t}",
        (("Message", "body"),),
        subject_column="sender_id",
    ),
)

# Where each object type finds the data subjects its @personal(subject:) names.
SUBJECT_COLUMNS: dict[str, dict[str | None, str]] = {
    "User": {None: "id"},
    "Address": {None: "user_id"},
    "Company": {None: "contact_person_id"},
    "Order": {"buyer": "buyer_id", "seller": "seller_id"},
    "Shipment": {"buyer": "buyer_id", "logistics": "logistics_id"},
    "Product": {None: "seller_id"},
    "Payment": {"payer": "payer_id"},
    "Invoice": {"buyer": "buyer_id", "seller": "seller_id"},
    "Review": {None: "author_id"},
    "Video": {None: "author_id"},
    "Comment": {None: "author_id"},
    "Message": {None: "sender_id"},
}
TYPE_TABLES = {
    "User": "users",
    "Address": "addresses",
    "Company": "companies",
    "Order": "orders",
    "Product": "products",
    "Shipment": "shipments",
    "Payment": "payments",
    "Invoice": "invoices",
    "Review": "reviews",
    "Video": "videos",
    "Comment": "comments",
    "Message": "messages",
}


@dataclass(frozen=True)
class Canary:
    table: str
    row_id: int
    column: Column
    value: str
    token: str
    area: str | None

    @property
    def name(self) -> str:
        return f"{self.table}[{self.row_id}].{self.column.column}"


class _Tokens:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._used: set[str] = set()

    def word(self) -> str:
        return self._fresh(lambda: "zq" + "".join(self._rng.choices(_LETTERS, k=8)))

    def card(self) -> str:
        return self._fresh(lambda: "ᛝ" + "".join(self._rng.choices(_RUNES, k=3)))

    def _fresh(self, make: Callable[[], str]) -> str:
        while (token := make()) in self._used:
            pass
        self._used.add(token)
        return token


async def plant_canaries(conn: AsyncConnection, *, seed: int = 2026) -> list[Canary]:
    """Overwrite every personal column of every row with a unique canary value."""
    tokens = _Tokens(seed)
    canaries: list[Canary] = []
    for table in dict.fromkeys(c.table for c in COLUMNS):
        columns = [c for c in COLUMNS if c.table == table]
        ids = [r[0] for r in (await conn.execute(text(f"SELECT id FROM {table}"))).all()]
        params = []
        for row_id in ids:
            values: dict[str, Any] = {"row_id": row_id}
            for column in columns:
                token = tokens.card() if column.column == "card_last4" else tokens.word()
                area = tokens.word() if column.area else None
                value = column.shape(token, area or "")
                canaries.append(Canary(table, row_id, column, value, token, area))
                values[column.column] = value
            params.append(values)
        sets = ", ".join(f"{c.column} = :{c.column}" for c in columns)
        statement = text(f"UPDATE {table} SET {sets} WHERE id = :row_id").bindparams(
            bindparam("row_id")
        )
        if params:
            await conn.execute(statement, params)
    return canaries


# -- the schema's personal fields, read from the SDL ---------------------------------------


@dataclass(frozen=True)
class PersonalField:
    type_name: str
    name: str
    category: Category
    subject: str | None
    strategy: Strategy
    is_link: bool
    retained: bool
    each: bool = False  # a list of people: each listed person decides for themself


def personal_fields(schema: graphql.GraphQLSchema) -> dict[tuple[str, str], PersonalField]:
    """Every `@personal` field of a schema built from SDL (so directives are in the AST)."""
    found: dict[tuple[str, str], PersonalField] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, graphql.GraphQLObjectType) or type_.ast_node is None:
            continue
        retained = any(d.name.value == "retained" for d in type_.ast_node.directives or ())
        for name, field_def in type_.fields.items():
            for directive in (field_def.ast_node.directives or ()) if field_def.ast_node else ():
                if directive.name.value != "personal":
                    continue
                args = {
                    a.name.value: graphql.value_from_ast_untyped(a.value)
                    for a in directive.arguments
                }
                found[(type_.name, name)] = PersonalField(
                    type_name=type_.name,
                    name=name,
                    category=Category[args["category"]],
                    subject=args.get("subject"),
                    strategy=Strategy[args.get("strategy", "REDACT")],
                    is_link=isinstance(
                        graphql.get_named_type(field_def.type), graphql.GraphQLObjectType
                    ),
                    # An edge listing held records (a person's orders) is decided as
                    # those records are.
                    retained=retained or _lists_retained(field_def.type),
                    each=args.get("subject") == "each",
                )
    return found


def _lists_retained(field_type: graphql.GraphQLOutputType) -> bool:
    inner = graphql.get_nullable_type(field_type)
    if not isinstance(inner, graphql.GraphQLList):
        return False
    item = graphql.get_named_type(inner)
    node = getattr(item, "ast_node", None)
    return node is not None and any(d.name.value == "retained" for d in node.directives or ())


# -- viewers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewerClass:
    label: str
    user_id: int | None = None
    employee: tuple[int, Role] | None = None
    purpose: Purpose = Purpose.FULFILLMENT

    @property
    def role(self) -> Role | None:
        return self.employee[1] if self.employee else None

    def headers(self, settings: Settings) -> dict[str, str]:
        if self.employee is not None:
            employee_id, role = self.employee
            token = issue_token(settings, employee_id=employee_id, role=role)
            return {"Authorization": f"Bearer {token}", "X-Processing-Purpose": self.purpose.value}
        if self.user_id is not None:
            return {"Authorization": f"Bearer {issue_token(settings, user_id=self.user_id)}"}
        return {}


# -- the world as plain SQL sees it -----------------------------------------------------------

IN_PROGRESS = frozenset({"PLACED", "PAID", "SHIPPED"})
_RANK = {
    Relationship.PUBLIC: 0,
    Relationship.PARTICIPANT: 1,
    Relationship.FORMER_COUNTERPARTY: 2,
    Relationship.COUNTERPARTY: 3,
}
_ERASED = SubjectState(DeletionState.ERASED, analytics_consent=False)

_WORLD_SQL = {
    "users": "SELECT id, kind, deletion_state, analytics_consent, company_id FROM users",
    "addresses": "SELECT id, user_id FROM addresses",
    "companies": "SELECT id, contact_person_id FROM companies",
    "products": "SELECT id, seller_id FROM products",
    "orders": "SELECT id, buyer_id, seller_id, status FROM orders",
    "shipments": (
        "SELECT s.id, s.order_id, s.logistics_id, s.status, o.buyer_id, o.seller_id, "
        "o.status AS order_status FROM shipments s JOIN orders o ON o.id = s.order_id"
    ),
    "payments": "SELECT id, payer_id, order_id FROM payments",
    "invoices": "SELECT id, buyer_id, seller_id, order_id FROM invoices",
    "reviews": "SELECT id, author_id, product_id FROM reviews",
    "videos": "SELECT id, author_id FROM videos",
    "comments": "SELECT id, author_id FROM comments",
    "messages": "SELECT id, sender_id, conversation_id FROM messages",
    "participants": "SELECT conversation_id, user_id FROM conversation_participants",
}


@dataclass
class World:
    rows: dict[str, dict[int, dict[str, Any]]]
    participants: dict[int, set[int]]
    links: dict[tuple[int, int], Relationship]

    @classmethod
    async def load(cls, conn: AsyncConnection) -> World:
        rows: dict[str, dict[int, dict[str, Any]]] = {}
        participants: dict[int, set[int]] = defaultdict(set)
        for table, sql in _WORLD_SQL.items():
            result = (await conn.execute(text(sql))).mappings().all()
            if table == "participants":
                for r in result:
                    participants[r["conversation_id"]].add(r["user_id"])
            else:
                rows[table] = {r["id"]: dict(r) for r in result}
        return cls(rows, dict(participants), _links(rows, participants))

    def state(self, subject: int | None) -> SubjectState:
        user = self.rows["users"].get(subject) if subject is not None else None
        if user is None:
            return _ERASED
        return SubjectState(DeletionState(user["deletion_state"]), bool(user["analytics_consent"]))

    def relationship(
        self, viewer: ViewerClass, subject: int | None, conversation: int | None
    ) -> Relationship:
        if viewer.employee is not None:
            return Relationship.EMPLOYEE
        me = viewer.user_id
        if me is None:
            return Relationship.PUBLIC
        if subject is None:
            # A sender detached by erasure: the other participants still share the chat.
            shared = conversation is not None and me in self.participants.get(conversation, ())
            return Relationship.PARTICIPANT if shared else Relationship.PUBLIC
        if subject == me:
            return Relationship.SELF
        return self.links.get((me, subject), Relationship.PUBLIC)


def _links(
    rows: Mapping[str, Mapping[int, Mapping[str, Any]]], participants: Mapping[int, set[int]]
) -> dict[tuple[int, int], Relationship]:
    """Closest relationship between two users, both ways: orders, shipments, chats."""
    links: dict[tuple[int, int], Relationship] = {}

    def link(a: int | None, b: int | None, relationship: Relationship) -> None:
        if a is None or b is None or a == b:
            return
        for pair in ((a, b), (b, a)):
            if _RANK[relationship] > _RANK[links.get(pair, Relationship.PUBLIC)]:
                links[pair] = relationship

    def trade(active: bool) -> Relationship:
        return Relationship.COUNTERPARTY if active else Relationship.FORMER_COUNTERPARTY

    for order in rows["orders"].values():
        link(order["buyer_id"], order["seller_id"], trade(order["status"] in IN_PROGRESS))
    for shipment in rows["shipments"].values():
        active = shipment["status"] != "DELIVERED" and shipment["order_status"] in IN_PROGRESS
        for party in (shipment["buyer_id"], shipment["seller_id"]):
            link(shipment["logistics_id"], party, trade(active))
    for members in participants.values():
        for a in members:
            for b in members:
                link(a, b, Relationship.PARTICIPANT)
    return links


# -- the oracle ------------------------------------------------------------------------------


def answered(
    policy: Policy, audience: Audience, pf: PersonalField, state: SubjectState
) -> Decision:
    """The policy's decision as the response carries it: a value's own strategy is given,
    so a mask that produces nothing (REDACT) is the STRIP it is."""
    strategy = None if pf.is_link else pf.strategy
    return policy.decide(audience, pf.category, state, retained=pf.retained, strategy=strategy)


@dataclass
class Finding:
    viewer: str
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.viewer} | {self.path} | {self.what}"


@dataclass
class CheckResult:
    leaks: list[Finding] = field(default_factory=list)
    stricter: list[Finding] = field(default_factory=list)  # hidden where the policy shows
    # (schema path, "Type.field", decision) of every personal field checked
    checked: set[tuple[str, str, Action]] = field(default_factory=set)
    shown: set[Canary] = field(default_factory=set)

    def merge(self, other: CheckResult) -> None:
        self.leaks += other.leaks
        self.stricter += other.stricter
        self.checked |= other.checked
        self.shown |= other.shown


class Oracle:
    def __init__(
        self,
        schema: graphql.GraphQLSchema,
        world: World,
        canaries: list[Canary],
        *,
        pseudonym_key: bytes,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self.schema = schema
        self.world = world
        self.policy = policy
        self.key = pseudonym_key
        self.fields = personal_fields(schema)
        self.canaries = canaries
        self._decisions: dict[tuple[ViewerClass, PersonalField, int], Decision] = {}
        self.by_cell = {(c.table, c.row_id, c.column.column): c for c in canaries}
        self.by_value = {c.value: c for c in canaries}
        self.columns = {f: column for column in COLUMNS for f in column.fields}
        self.by_token: dict[str, tuple[Canary, bool]] = {}
        for c in canaries:
            self.by_token[c.token] = (c, c.column.coarse)
            if c.area:
                self.by_token[c.area] = (c, True)

    # decisions

    def subject_of(
        self, type_name: str, row_id: int, subject: str | None
    ) -> tuple[int | None, int | None]:
        """(subject user id, conversation id for a detached message sender)."""
        table = TYPE_TABLES[type_name]
        row = self.world.rows[table][row_id]
        subject_id = row[SUBJECT_COLUMNS[type_name][subject]]
        return subject_id, row.get("conversation_id")

    def decide(self, viewer: ViewerClass, pf: PersonalField, row_id: int) -> Decision:
        key = (viewer, pf, row_id)
        decision = self._decisions.get(key)
        if decision is None:
            subject, conversation = self.subject_of(pf.type_name, row_id, pf.subject)
            relationship = self.world.relationship(viewer, subject, conversation)
            audience = Audience(relationship, viewer.role, viewer.purpose)
            state = self.world.state(subject)
            decision = answered(self.policy, audience, pf, state)
            self._decisions[key] = decision
        return decision

    def canary_decisions(
        self, viewer: ViewerClass, canary: Canary
    ) -> list[tuple[PersonalField, Decision]]:
        """The decision for each field of the schema that can expose this canary."""
        subject_id = self.canary_subject(canary)
        conversation = (
            self.world.rows["messages"][canary.row_id]["conversation_id"]
            if canary.table == "messages"
            else None
        )
        relationship = self.world.relationship(viewer, subject_id, conversation)
        audience = Audience(relationship, viewer.role, viewer.purpose)
        state = self.world.state(subject_id)
        return [
            (pf, self.policy.decide(audience, pf.category, state, retained=pf.retained))
            for pf in (self.fields[f] for f in canary.column.fields)
        ]

    def canary_subject(self, canary: Canary) -> int | None:
        row = self.world.rows[canary.table][canary.row_id]
        subject: int | None = row[canary.column.subject_column or "id"]
        return subject

    def may_show(self, viewer: ViewerClass, canary: Canary, *, area: bool) -> bool:
        for pf, decision in self.canary_decisions(viewer, canary):
            if decision.action is Action.SHOW:
                return True
            strategy = decision.effective_strategy(pf.strategy)
            if area and strategy is Strategy.GENERALIZE:
                return True
        return False

    def raw(self, pf: PersonalField, row_id: int) -> str | None:
        """The value this field would show unmasked: the planted canary."""
        if (pf.type_name, pf.name) == ("Message", "senderName"):
            sender = self.world.rows["messages"][row_id]["sender_id"]
            canary = self.by_cell.get(("users", sender, "full_name")) if sender else None
            return canary.value if canary else None
        column = self.columns[(pf.type_name, pf.name)]
        return self.by_cell[(TYPE_TABLES[pf.type_name], row_id, column.column)].value

    def masked(
        self, viewer: ViewerClass, pf: PersonalField, decision: Decision, raw: str | None
    ) -> object:
        strategy = decision.effective_strategy(pf.strategy)
        if strategy is Strategy.TOMBSTONE:
            return TOMBSTONE
        assert strategy is not None
        return apply_mask(strategy, raw, key=self.key, purpose=viewer.purpose.value)

    # checking a response

    def check(self, viewer: ViewerClass, query: str, body: Mapping[str, Any]) -> CheckResult:
        result = CheckResult()
        document = graphql.parse(query)
        fragments = {
            d.name.value: d
            for d in document.definitions
            if isinstance(d, graphql.FragmentDefinitionNode)
        }
        operation = next(
            d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)
        )
        query_type = self.schema.query_type
        assert query_type is not None
        data = body.get("data")
        if isinstance(data, dict):
            plans: dict[tuple[str, int], _Plan] = {}
            root = _plan(query_type, operation.selection_set, fragments, "", self.fields, plans)
            self._walk(viewer, root, data, (), result)
        self._scan(viewer, body, result)
        return result

    def _walk(
        self,
        viewer: ViewerClass,
        plan: _Plan,
        data: Mapping[str, Any],
        path: tuple[str | int, ...],
        result: CheckResult,
    ) -> None:
        row_id = next((int(data[k]) for k in plan.id_keys if data.get(k)), None)
        for step in plan.steps:
            if step.key not in data:
                continue
            value = data[step.key]
            if step.personal is not None and step.personal.each:
                self._check_listed(viewer, step.personal, row_id, value, (*path, step.key), result)
            elif step.personal is not None and row_id is not None:
                # Without an id the object is unknown; the raw-text scan still covers it.
                self._check_field(
                    viewer,
                    step.personal,
                    row_id,
                    value,
                    (*path, step.key),
                    step.schema_path,
                    result,
                )
            if step.child is None:
                continue
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        self._walk(viewer, step.child, item, (*path, step.key, index), result)
            elif isinstance(value, dict):
                self._walk(viewer, step.child, value, (*path, step.key), result)

    def _check_field(
        self,
        viewer: ViewerClass,
        pf: PersonalField,
        row_id: int,
        value: Any,
        response_path: tuple[str | int, ...],
        schema_path: str,
        result: CheckResult,
    ) -> None:
        decision = self.decide(viewer, pf, row_id)
        result.checked.add((schema_path, f"{pf.type_name}.{pf.name}", decision.action))
        verdict = self._verdict(viewer, pf, row_id, value, decision)
        if verdict is None:
            return
        leaked, what = verdict
        where = (
            f"{_format_path(response_path)} ({pf.type_name}#{row_id}.{pf.name} {pf.category.value})"
        )
        found = Finding(viewer.label, where, f"{decision.action} {decision.reason}: {what}")
        (result.leaks if leaked else result.stricter).append(found)

    def _check_listed(
        self,
        viewer: ViewerClass,
        pf: PersonalField,
        parent: int | None,
        value: Any,
        response_path: tuple[str | int, ...],
        result: CheckResult,
    ) -> None:
        """A list of people (`subject: each`) lists only those whose link the viewer may
        learn: a company's members, a chat's participants."""
        listed = {
            int(item["id"])
            for item in (value if isinstance(value, list) else ())
            if isinstance(item, dict) and item.get("id")
        }
        everyone = set(listed)
        if parent is not None and pf.type_name == "Conversation":
            everyone |= self.world.participants.get(parent, set())
        elif parent is not None and pf.type_name == "Company":
            everyone |= {
                uid for uid, u in self.world.rows["users"].items() if u["company_id"] == parent
            }
        where = _format_path(response_path)
        for subject in sorted(everyone):
            relationship = self.world.relationship(viewer, subject, None)
            audience = Audience(relationship, viewer.role, viewer.purpose)
            decision = self.policy.decide(audience, pf.category, self.world.state(subject))
            if decision.action is Action.STRIP:
                result.checked.add((where, f"{pf.type_name}.{pf.name}", Action.STRIP))
                if subject in listed:
                    what = f"{decision.action} {decision.reason}: listed though the link is hidden"
                    result.leaks.append(Finding(viewer.label, f"{where} (User#{subject})", what))
            elif subject in listed:
                result.checked.add((where, f"{pf.type_name}.{pf.name}", decision.action))

    def _verdict(
        self, viewer: ViewerClass, pf: PersonalField, row_id: int, value: Any, decision: Decision
    ) -> tuple[bool, str] | None:
        """(is a leak, what) when the value is not what the decision gives; None if it is."""
        action = decision.action
        if pf.is_link:
            if action is Action.STRIP and value is not None:
                return True, "a stripped link still leads to its person"
            return None
        column = self.columns.get((pf.type_name, pf.name))
        if column is None:
            # Not a string column (User.createdAt): null when stripped, a month when masked.
            if action is Action.STRIP and value is not None:
                return True, f"got {value!r}, expected null"
            if action is Action.MASK and value is not None and not _is_month(value):
                return True, f"got {value!r}, expected the first instant of a month"
            return None
        raw = self.raw(pf, row_id)
        canary = self.by_value.get(raw) if raw is not None else None
        if value is None:
            if action is Action.SHOW and raw is not None:
                return False, "null where the policy shows"
            return None
        if action is Action.STRIP:
            return True, f"got {value!r}, expected null"
        if action is Action.MASK:
            generalized = decision.effective_strategy(pf.strategy) is Strategy.GENERALIZE
            keeps_all = generalized and canary is not None and canary.column.coarse
            if canary is not None and canary.token in str(value) and not keeps_all:
                return True, f"masked value {value!r} holds the raw canary"
            expected = self.masked(viewer, pf, decision, raw)
            return None if value == expected else (True, f"got {value!r}, expected {expected!r}")
        if value == raw:
            return None
        masked = {self.masked(viewer, pf, Decision(Action.MASK, decision.reason), raw), TOMBSTONE}
        if value in masked:
            return False, "masked where the policy shows"
        return True, f"got {value!r}, not this row's value {raw!r}"

    def _scan(self, viewer: ViewerClass, body: Mapping[str, Any], result: CheckResult) -> None:
        text_ = json.dumps(body, ensure_ascii=False)
        refused: set[str] = set()
        for token in set(TOKEN_RE.findall(text_)):
            found = self.by_token.get(token)
            if found is None:
                refused.add(token)
                continue
            canary, is_area = found
            if token == canary.token:
                result.shown.add(canary)
            if not self.may_show(viewer, canary, area=is_area):
                refused.add(token)
        if not refused:
            return
        for path, token in _tokens_in(body):
            if token not in refused:
                continue
            found = self.by_token.get(token)
            if found is None:
                result.leaks.append(Finding(viewer.label, path, f"unknown token {token!r}"))
                continue
            canary, is_area = found
            decisions = ", ".join(
                f"{pf.type_name}.{pf.name}: {d.action} {d.reason}"
                for pf, d in self.canary_decisions(viewer, canary)
            )
            part = "the generalized part of " if is_area else ""
            result.leaks.append(
                Finding(viewer.label, path, f"raw text holds {part}{canary.name} ({decisions})")
            )


@dataclass
class _Step:
    key: str  # response key (alias or field name)
    schema_path: str
    personal: PersonalField | None
    child: _Plan | None


@dataclass
class _Plan:
    """What to check in one object of one selection: its personal fields and children."""

    id_keys: list[str]
    steps: list[_Step]


def _plan(
    type_: graphql.GraphQLObjectType,
    selection: graphql.SelectionSetNode,
    fragments: Mapping[str, graphql.FragmentDefinitionNode],
    schema_path: str,
    fields: Mapping[tuple[str, str], PersonalField],
    plans: dict[tuple[str, int], _Plan],
) -> _Plan:
    cache_key = (schema_path, id(selection))
    if cache_key in plans:
        return plans[cache_key]
    plan = plans[cache_key] = _Plan([], [])
    for key, nodes in _collect(type_, selection, fragments).items():
        name = nodes[0].name.value
        if name.startswith("__"):
            continue
        if name == "id":
            plan.id_keys.append(key)
        here = f"{schema_path}.{name}"
        target = graphql.get_named_type(type_.fields[name].type)
        child = None
        if isinstance(target, graphql.GraphQLObjectType):
            merged = graphql.SelectionSetNode(
                selections=tuple(
                    s for n in nodes if n.selection_set for s in n.selection_set.selections
                )
            )
            child = _plan(target, merged, fragments, here, fields, plans)
        personal = fields.get((type_.name, name))
        if personal is not None or child is not None:
            plan.steps.append(_Step(key, here, personal, child))
    return plan


def _format_path(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _is_month(value: object) -> bool:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return False
    return (moment.day, moment.hour, moment.minute, moment.second, moment.microsecond) == (
        1,
        0,
        0,
        0,
        0,
    )


def _collect(
    type_: graphql.GraphQLObjectType,
    selection: graphql.SelectionSetNode,
    fragments: Mapping[str, graphql.FragmentDefinitionNode],
) -> dict[str, list[graphql.FieldNode]]:
    """Response key -> field nodes, through inline fragments and fragment spreads."""
    grouped: dict[str, list[graphql.FieldNode]] = {}
    for node in selection.selections:
        if isinstance(node, graphql.FieldNode):
            key = node.alias.value if node.alias else node.name.value
            grouped.setdefault(key, []).append(node)
            continue
        condition: graphql.NamedTypeNode | None
        if isinstance(node, graphql.FragmentSpreadNode):
            fragment = fragments[node.name.value]
            condition, inner = fragment.type_condition, fragment.selection_set
        else:
            assert isinstance(node, graphql.InlineFragmentNode)
            condition, inner = node.type_condition, node.selection_set
        if condition is None or condition.name.value == type_.name:
            for key, nodes in _collect(type_, inner, fragments).items():
                grouped.setdefault(key, []).extend(nodes)
    return grouped


def _tokens_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _tokens_in(key, f"{path}.<key>")
            yield from _tokens_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _tokens_in(item, f"{path}[{index}]")
    elif isinstance(value, str):
        for match in TOKEN_RE.finditer(value):
            yield path or "<body>", match.group()


# -- queries generated from the schema ---------------------------------------------------------


class QueryBuilder:
    """Selections generated from the schema: every field, objects down to a number of hops.

    Each (type, hops left) becomes one named fragment, so a deep query stays small; every
    object selects `__typename` and `id`, and a page's `nodes` costs no hop.
    """

    def __init__(self, schema: graphql.GraphQLSchema) -> None:
        self.schema = schema
        self._fragments: dict[str, str] = {}

    def select(self, type_: graphql.GraphQLObjectType, hops: int) -> str:
        if "nodes" in type_.fields:  # a page: its nodes are where the page is
            node = graphql.get_named_type(type_.fields["nodes"].type)
            assert isinstance(node, graphql.GraphQLObjectType)
            return (
                f"{{ __typename nodes {self.select(node, hops)} "
                "pageInfo { hasNextPage endCursor } }"
            )
        if "id" not in type_.fields:  # a value object: no person behind it
            return self._fields(type_, hops)
        name = f"{type_.name}_{hops}"
        if name not in self._fragments:
            self._fragments[name] = ""  # reserve: the type graph has cycles
            self._fragments[name] = f"fragment {name} on {type_.name} {self._fields(type_, hops)}"
        return f"{{ ...{name} }}"

    def _fields(self, type_: graphql.GraphQLObjectType, hops: int) -> str:
        parts = ["__typename"]
        for name, field_def in type_.fields.items():
            if any(graphql.is_required_argument(a) for a in field_def.args.values()):
                continue
            target = graphql.get_named_type(field_def.type)
            if not isinstance(target, graphql.GraphQLObjectType):
                parts.append(name)
            elif "id" not in target.fields:
                parts.append(f"{name} {self.select(target, hops)}")
            elif hops > 0:
                parts.append(f"{name} {self.select(target, hops - 1)}")
        return "{ " + " ".join(parts) + " }"

    def document(self, roots: list[str]) -> str:
        """A query of the given root selections with the fragments they use."""
        body = "query Leaks {\n  " + "\n  ".join(roots) + "\n}\n"
        used = _used_fragments(body, self._fragments)
        return body + "".join(self._fragments[name] + "\n" for name in sorted(used))


def _used_fragments(text_: str, fragments: Mapping[str, str]) -> set[str]:
    used: set[str] = set()
    pending = re.findall(r"\.\.\.(\w+)", text_)
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending += re.findall(r"\.\.\.(\w+)", fragments[name])
    return used


# -- a gateway over a canary database -------------------------------------------------------


@dataclass
class CanaryGateway:
    backend: str
    settings: Settings
    http: httpx.AsyncClient
    oracle: Oracle
    builder: QueryBuilder
    viewers: dict[str, ViewerClass]

    async def run(self, viewer: ViewerClass, query: str) -> tuple[dict[str, Any], CheckResult]:
        """POST the query as the viewer; never a 5xx, never an unexpected (masked) error."""
        response = await self.http.post(
            "/graphql", json={"query": query}, headers=viewer.headers(self.settings)
        )
        assert response.status_code < 500, f"{viewer.label}: HTTP {response.status_code}"
        body: dict[str, Any] = response.json()
        unexpected = [e for e in body.get("errors", ()) if e.get("message") == "Unexpected error."]
        assert not unexpected, f"{viewer.label}: internal error at {unexpected[0].get('path')}"
        return body, self.oracle.check(viewer, query, body)

    @contextlib.asynccontextmanager
    async def replaced(
        self, table: str, row_id: int, column: str, value: str
    ) -> AsyncIterator[None]:
        """One cell holds `value` for the duration; the planted canary comes back after."""
        original = self.oracle.by_cell[(table, row_id, column)].value
        engine = create_engine(self.settings)
        statement = text(f"UPDATE {table} SET {column} = :value WHERE id = :row_id")
        try:
            async with engine.begin() as conn:
                await conn.execute(statement, {"value": value, "row_id": row_id})
            yield
        finally:
            async with engine.begin() as conn:
                await conn.execute(statement, {"value": original, "row_id": row_id})
            await engine.dispose()

    def __repr__(self) -> str:  # hypothesis prints the fixture with a falsifying example
        return f"CanaryGateway({self.backend})"


def viewer_classes(world: World) -> dict[str, ViewerClass]:
    """Anonymous, the demo platform users, an unassigned operator, every role x purpose."""
    buyer = DEMO_USERS["buyer"]
    unassigned = min(
        uid
        for uid, user in world.rows["users"].items()
        if user["kind"] == "LOGISTICS"
        and uid != DEMO_USERS["logistics"]
        and (uid, buyer) not in world.links
        and any(s["logistics_id"] == uid for s in world.rows["shipments"].values())
    )
    found = [
        ViewerClass("anonymous"),
        ViewerClass("buyer (self)", user_id=buyer),
        ViewerClass("other buyer", user_id=DEMO_USERS["other_buyer"]),
        ViewerClass("seller (counterparty)", user_id=DEMO_USERS["seller"]),
        ViewerClass("logistics (assigned)", user_id=DEMO_USERS["logistics"]),
        ViewerClass("logistics (unassigned)", user_id=unassigned),
    ]
    staff = {Role(role): employee_id for employee_id, role in DEMO_EMPLOYEES.values()}
    found += [
        ViewerClass(f"{role.value}/{purpose.value}", employee=(staff[role], role), purpose=purpose)
        for role in Role
        for purpose in Purpose
    ]
    return {v.label: v for v in found}


def canary_fixture(name: str = "canary") -> Any:
    """A module-scoped fixture: a private canary database per backend and a client on it."""

    @pytest.fixture(scope="module", params=BACKENDS, name=name)
    async def fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[CanaryGateway]:
        backend = request.param
        tmp = str(tmp_path_factory.mktemp(f"canary-{backend}"))
        # make_database runs its own event loop, so it gets a thread of its own.
        database, drop = await asyncio.to_thread(make_database, backend, tmp)
        engine = create_engine(database.settings)
        try:
            async with engine.begin() as conn:
                canaries = await plant_canaries(conn)
            async with engine.connect() as conn:
                world = await World.load(conn)
        finally:
            await engine.dispose()
        schema = graphql.build_schema(build_schema().as_str())
        oracle = Oracle(
            schema, world, canaries, pseudonym_key=database.settings.pseudonym_key.encode()
        )
        app = create_app(exhaustive(database.settings))
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                yield CanaryGateway(
                    backend,
                    database.settings,
                    http,
                    oracle,
                    QueryBuilder(schema),
                    viewer_classes(world),
                )
        finally:
            await app.state.gateway.aclose()
            await asyncio.to_thread(drop)

    return fixture


# -- what the canary test asks ---------------------------------------------------------------

PAGE_SIZE = 100


def page_roots(schema: graphql.GraphQLSchema) -> dict[str, graphql.GraphQLObjectType]:
    """Root list fields (`users`, `orders`, ...) -> their page type."""
    assert schema.query_type is not None
    roots = {}
    for name, field_def in schema.query_type.fields.items():
        page = graphql.get_named_type(field_def.type)
        if isinstance(page, graphql.GraphQLObjectType) and "nodes" in page.fields:
            roots[name] = page
    return roots


def lookup_roots(schema: graphql.GraphQLSchema) -> dict[str, graphql.GraphQLObjectType]:
    """Root lookups by id (`user(id:)`, `order(id:)`, ...) -> their type."""
    assert schema.query_type is not None
    roots = {}
    for name, field_def in schema.query_type.fields.items():
        target = graphql.get_named_type(field_def.type)
        if list(field_def.args) == ["id"] and isinstance(target, graphql.GraphQLObjectType):
            roots[name] = target
    return roots


def demo_lookups(world: World) -> dict[str, list[int]]:
    """Rows of the demo subjects to look up by id: one order per demo buyer (in progress if
    they have one) with what hangs off it, their chats, their companies, a reviewed product."""
    demo = set(DEMO_USERS.values())
    rows = world.rows
    orders: dict[int, dict[str, Any]] = {}
    for order in sorted(rows["orders"].values(), key=lambda o: o["id"]):
        current = orders.get(order["buyer_id"])
        if order["buyer_id"] in demo and (
            current is None
            or (order["status"] in IN_PROGRESS and current["status"] not in IN_PROGRESS)
        ):
            orders[order["buyer_id"]] = order
    order_ids = {order["id"] for order in orders.values()}

    def of_orders(table: str) -> list[int]:
        return sorted(i for i, r in rows[table].items() if r["order_id"] in order_ids)

    chats: dict[int, int] = {}
    for conversation, members in sorted(world.participants.items()):
        for member in sorted(members & demo):
            chats.setdefault(member, conversation)
    reviewed = sorted(r["product_id"] for r in rows["reviews"].values() if r["author_id"] in demo)
    return {
        "user": sorted(demo),
        "order": sorted(order_ids),
        "shipment": of_orders("shipments"),
        "payment": of_orders("payments"),
        "invoice": of_orders("invoices"),
        "conversation": sorted(set(chats.values())),
        "company": sorted(
            i for i, r in rows["companies"].items() if r["contact_person_id"] in demo
        ),
        "product": reviewed[:1],
    }
