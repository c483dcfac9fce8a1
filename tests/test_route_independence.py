"""The same person reached by any path is treated the same: one decision per (subject, request).

Queries are generated from the schema itself, so a relationship added later is walked too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema, get_named_type

from gateway.seed import DEMO_USERS
from schema.build import build_schema
from tests.conftest import Database, employee_token, gql, user_token

PERSONAL = ("fullName", "email", "phone", "createdAt")
DEPTH = 3
SKIP_TYPES = {"CatalogEntry", "RedactionStatus"}


def _selection(schema: GraphQLSchema, gql_type: GraphQLObjectType, depth: int) -> str:
    parts = ["__typename"]
    if gql_type.name == "User":
        parts += ["id", *PERSONAL]
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
    client: httpx.AsyncClient, db: Database, label: str, who: str | None, purpose: str | None
) -> None:
    if who is None:
        token = None
    elif purpose is None:
        token = user_token(db, who)
    else:
        token = employee_token(db, who)
    found: dict[str, dict[tuple[Any, ...], set[str]]] = defaultdict(dict)
    for name, query in route_queries().items():
        body = await gql(client, query, token=token, purpose=purpose, expect_errors=True)
        errors = [e for e in body.get("errors", []) if "employees" not in e["message"]]
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
