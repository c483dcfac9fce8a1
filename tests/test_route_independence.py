"""The same person reached by any path is treated the same: one decision per (subject, request).

Queries are generated from the schema itself, so a relationship added later is walked too.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema, get_named_type

from gateway.seed import DEMO_USERS
from schema.build import build_schema
from tests.conftest import Database, employee_token, fetch, gql, user_token

PERSONAL = ("fullName", "email", "phone", "createdAt")
DEPTH = 3
SKIP_TYPES = {"CatalogEntry", "RedactionStatus"}


def _selection(schema: GraphQLSchema, gql_type: GraphQLObjectType, depth: int) -> str:
    parts = ["__typename"]
    if "id" in gql_type.fields:
        parts.append("id")
    if gql_type.name == "User":
        parts += list(PERSONAL)
    for name, field in gql_type.fields.items():
        target = get_named_type(field.type)
        if any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values()):
            continue
        if isinstance(target, GraphQLObjectType) and target.name not in SKIP_TYPES and depth > 0:
            inner = _selection(schema, target, depth - 1)
            parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def route_queries() -> dict[str, str]:
    schema = build_schema()._schema
    query_type = schema.query_type
    assert query_type is not None
    queries = {}
    for name, field in query_type.fields.items():
        target = get_named_type(field.type)
        if not isinstance(target, GraphQLObjectType) or target.name in SKIP_TYPES:
            continue
        args = ""
        if "id" in field.args:
            args = f'(id: "{DEMO_USERS["buyer"]}")' if target.name == "User" else None
            if args is None:
                continue
        elif "first" in field.args:
            args = "(first: 15)"
        queries[name] = f"{{ {name}{args} {{ {_selection(schema, target, DEPTH)} }} }}"
    return queries


def refused_by_design(error: dict[str, Any]) -> bool:
    """A root field this viewer may not use at all (the DPO queue, another viewer's
    own lists): a typed refusal on a nullable field, not a failure."""
    return error.get("extensions", {}).get("code") in ("FORBIDDEN", "UNAUTHENTICATED")


def _walk(node: Any, path: str, found: dict[str, dict[tuple[Any, ...], set[str]]]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, path + "[*]", found)
    elif isinstance(node, dict):
        if node.get("__typename") == "User":
            values = tuple(node.get(key) for key in PERSONAL)
            found[node["id"]].setdefault(values, set()).add(path)
        for key, value in node.items():
            if isinstance(value, dict | list):
                _walk(value, f"{path}.{key}" if path else key, found)


VIEWERS = [
    ("anonymous", None, None),
    ("buyer", "buyer", None),
    ("seller", "seller", None),
    ("logistics", "logistics", None),
    ("other_buyer", "other_buyer", None),
    ("support", "support", "SUPPORT"),
    ("analyst", "analyst", "ANALYTICS"),
    ("finance", "finance", "BILLING"),
    ("dpo", "dpo", "LEGAL"),
    ("security", "security", "SECURITY"),
]


@pytest.mark.parametrize(("label", "who", "purpose"), VIEWERS, ids=[v[0] for v in VIEWERS])
async def test_every_path_to_a_user_agrees(
    reader: httpx.AsyncClient, db: Database, label: str, who: str | None, purpose: str | None
) -> None:
    if who is None:
        token = None
    elif purpose is None:
        token = user_token(db, who)
    else:
        token = employee_token(db, who)
    found: dict[str, dict[tuple[Any, ...], set[str]]] = defaultdict(dict)
    for name, query in route_queries().items():
        body = await gql(reader, query, token=token, purpose=purpose, expect_errors=True)
        errors = [e for e in body.get("errors", []) if not refused_by_design(e)]
        assert not errors, (name, errors)
        _walk(body["data"], "", found)
    paths = {p for variants in found.values() for ps in variants.values() for p in ps}
    print(f"\n{label}: {len(found)} users reached over {len(paths)} distinct paths")
    assert len(paths) >= 15
    disagreements = {uid: v for uid, v in found.items() if len(v) > 1}
    assert not disagreements, disagreements


def test_the_comparison_can_fail() -> None:
    """Two paths showing the same user differently are caught."""
    found: dict[str, dict[tuple[Any, ...], set[str]]] = defaultdict(dict)
    same = {"__typename": "User", "id": "1", "fullName": "A", "email": None}
    masked = {**same, "fullName": "A."}
    _walk({"me": same, "orders": {"nodes": [{"buyer": masked}]}}, "", found)
    assert len(found["1"]) == 2
    assert {p for ps in found["1"].values() for p in ps} == {"me", "orders.nodes[*].buyer"}


# -- links, both ways ------------------------------------------------------------------------

# (record type, link to the person, the person's edge back to such records)
PAIRS = (
    ("Review", "author", "reviews"),
    ("Video", "author", "videos"),
    ("Comment", "author", "comments"),
    ("Order", "buyer", "orders"),
    ("Order", "seller", "sales"),
    ("Shipment", "logisticsOperator", "shipments"),
    ("Product", "seller", "products"),
)
# (record type, list of people, the person's link back)
PEOPLE = (("Company", "members", "company"), ("Conversation", "participants", "conversations"))

OWNERS_SQL = {
    ("Review", "author"): "SELECT id, author_id FROM reviews",
    ("Video", "author"): "SELECT id, author_id FROM videos",
    ("Comment", "author"): "SELECT id, author_id FROM comments",
    ("Order", "buyer"): "SELECT id, buyer_id FROM orders",
    ("Order", "seller"): "SELECT id, seller_id FROM orders",
    ("Shipment", "logisticsOperator"): "SELECT id, logistics_id FROM shipments",
    ("Product", "seller"): "SELECT id, seller_id FROM products",
}
MEMBERS_SQL = {
    ("Company", "members"): "SELECT company_id, id FROM users WHERE company_id IS NOT NULL",
    ("Conversation", "participants"): "SELECT conversation_id, user_id "
    "FROM conversation_participants",
}


@dataclass
class Links:
    """What one viewer learned of who is tied to which record, route by route."""

    # (type, link field, record id) -> the person's id, or None where the link was hidden
    forward: dict[tuple[str, str, str], set[str | None]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )
    # (edge, person id) -> record ids listed, or None where the edge was hidden
    reverse: dict[tuple[str, str], set[frozenset[str] | None]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )
    # (type, list field, record id) -> person ids listed
    listed: dict[tuple[str, str, str], set[frozenset[str]]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )

    def walk(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item)
            return
        if not isinstance(node, dict):
            return
        kind, row_id = node.get("__typename"), node.get("id")
        if row_id is not None:
            for type_name, link, _ in PAIRS:
                if kind == type_name and link in node:
                    person = node[link]
                    self.forward[(kind, link, row_id)].add(person["id"] if person else None)
            for type_name, people, _ in PEOPLE:
                if kind == type_name and people in node:
                    ids = frozenset(p["id"] for p in node[people] or ())
                    self.listed[(kind, people, row_id)].add(ids)
            if kind == "User":
                for _, _, edge in PAIRS:
                    if edge in node:
                        self.reverse[(edge, row_id)].add(_ids(node[edge]))
                for _, _, back in PEOPLE:
                    if back in node:
                        self.reverse[(back, row_id)].add(_ids(node[back]))
        for value in node.values():
            if isinstance(value, dict | list):
                self.walk(value)


def _ids(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return frozenset(item["id"] for item in items)


async def _truth(db: Database) -> tuple[dict[Any, dict[str, str]], dict[Any, dict[str, set[str]]]]:
    owners = {
        key: {str(r): str(o) for r, o in await fetch(db, sql) if o is not None}
        for key, sql in OWNERS_SQL.items()
    }
    members: dict[Any, dict[str, set[str]]] = {}
    for key, sql in MEMBERS_SQL.items():
        grouped: dict[str, set[str]] = defaultdict(set)
        for record, person in await fetch(db, sql):
            grouped[str(record)].add(str(person))
        members[key] = grouped
    return owners, members


def disagreements(links: Links, owners: Any, members: Any) -> list[str]:
    """Every pair of routes that tell this viewer different things about one link."""
    found = []
    for (type_name, link, record), seen in links.forward.items():
        if len(seen) > 1:
            found.append(f"{type_name}#{record}.{link} differs by route: {seen}")
        owner = owners[(type_name, link)].get(record)
        edge = next(e for t, li, e in PAIRS if (t, li) == (type_name, link))
        for reverse in links.reverse.get((edge, owner), set()) if owner else ():
            shown_forward = owner in seen
            listed_back = reverse is not None and record in reverse
            if shown_forward and reverse is None:
                found.append(f"{type_name}#{record}.{link} shows {owner}; {owner}.{edge} hidden")
            elif not shown_forward and listed_back:
                found.append(f"{type_name}#{record}.{link} hidden; {owner}.{edge} lists it")
            elif shown_forward and not listed_back:
                found.append(f"{type_name}#{record}.{link} shows {owner}; not in {owner}.{edge}")
    for (type_name, people, record), seen in links.listed.items():
        if len(seen) > 1:
            found.append(f"{type_name}#{record}.{people} differs by route: {seen}")
        back = next(b for t, p, b in PEOPLE if (t, p) == (type_name, people))
        listed_somewhere = set().union(*seen)
        for person in members[(type_name, people)].get(record, set()):
            for reverse in links.reverse.get((back, person), set()):
                listed_back = reverse is not None and record in reverse
                if (person in listed_somewhere) != listed_back:
                    found.append(
                        f"{type_name}#{record}.{people} lists {person}: "
                        f"{person in listed_somewhere}; {person}.{back} has it: {listed_back}"
                    )
    return found


async def read_links(reader: httpx.AsyncClient, token: str | None, purpose: str | None) -> Links:
    links = Links()
    for name, query in route_queries().items():
        body = await gql(reader, query, token=token, purpose=purpose, expect_errors=True)
        errors = [e for e in body.get("errors", []) if not refused_by_design(e)]
        assert not errors, (name, errors)
        links.walk(body["data"])
    return links


def _token(db: Database, who: str | None, purpose: str | None) -> str | None:
    if who is None:
        return None
    return user_token(db, who) if purpose is None else employee_token(db, who)


@pytest.mark.parametrize(("label", "who", "purpose"), VIEWERS, ids=[v[0] for v in VIEWERS])
async def test_every_link_agrees_both_ways(
    reader: httpx.AsyncClient, db: Database, label: str, who: str | None, purpose: str | None
) -> None:
    """No route lists what another hides: `review.author` and `user.reviews`,
    `company.members` and `user.company`, ... say the same of every link, to every viewer."""
    owners, members = await _truth(db)
    links = await read_links(reader, _token(db, who, purpose), purpose)
    both = sum(
        1
        for (t, li, record), _ in links.forward.items()
        for e in [next(e for tt, ll, e in PAIRS if (tt, ll) == (t, li))]
        if (e, owners[(t, li)].get(record)) in links.reverse
    )
    print(f"\n{label}: {len(links.forward)} links read forward, {both} also backward")
    assert not disagreements(links, owners, members)
    assert links.forward and links.reverse


def test_the_link_comparison_can_fail() -> None:
    owners = {key: {} for key in OWNERS_SQL} | {("Review", "author"): {"9": "5"}}
    members = {key: {} for key in MEMBERS_SQL} | {("Company", "members"): {"1": {"2"}}}
    hidden_forward = Links()
    hidden_forward.walk(
        [
            {"__typename": "Review", "id": "9", "author": None},
            {"__typename": "User", "id": "5", "reviews": [{"__typename": "Review", "id": "9"}]},
            {"__typename": "Company", "id": "1", "members": []},
            {"__typename": "User", "id": "2", "company": {"__typename": "Company", "id": "1"}},
        ]
    )
    found = disagreements(hidden_forward, owners, members)
    assert any("hidden; 5.reviews lists it" in f for f in found)
    assert any("Company#1.members lists 2: False" in f for f in found)
