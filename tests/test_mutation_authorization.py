"""Every mutation as every kind of viewer: who may, who gets a typed refusal, and that a
refused mutation changes nothing in the database.

The mutations are read from the schema, so one added tomorrow must be classified here
before the suite passes. Arguments are generated from their types (ids that match
nothing), so an allowed call is harmless or refused for its input, never for who asks.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import graphql
import httpx
import pytest

from directives.taxonomy import Purpose, Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from schema.build import build_schema
from tests.conftest import BACKENDS, Database, fetch, make_database

SCHEMA = graphql.build_schema(build_schema().as_str())
SELF = "self"  # the signed-in platform user's own right
QUEUE = "queue"  # the DPO, and support for inquiries
DPO = "dpo"
INCIDENTS = "incidents"  # the security team and the DPO
WHO: dict[str, str] = {
    "submitPrivacyInquiry": SELF,
    "requestAccountDeletion": SELF,
    "cancelAccountDeletion": SELF,
    "cancelPrivacyRequest": SELF,
    "setConsent": SELF,
    "updateMyProfile": SELF,
    "addAddress": SELF,
    "updateAddress": SELF,
    "removeAddress": SELF,
    "requestCorrection": SELF,
    "requestDataExport": SELF,
    "startPrivacyRequest": QUEUE,
    "resolvePrivacyRequest": QUEUE,
    "extendPrivacyRequest": DPO,
    "reportSecurityIncident": INCIDENTS,
    "recordIncidentNotification": INCIDENTS,
}
ALLOWED_STAFF: dict[str, set[tuple[Role, Purpose]]] = {
    SELF: set(),
    QUEUE: {
        (Role.DPO, Purpose.LEGAL),
        (Role.DPO, Purpose.SUPPORT),
        (Role.SUPPORT, Purpose.SUPPORT),
    },
    DPO: {(Role.DPO, Purpose.LEGAL), (Role.DPO, Purpose.SUPPORT)},
    INCIDENTS: {
        (Role.SECURITY, Purpose.SECURITY),
        (Role.SECURITY, Purpose.LEGAL),
        (Role.DPO, Purpose.LEGAL),
    },
}
WHO_ASKS = {"UNAUTHENTICATED", "FORBIDDEN"}


def mutations() -> dict[str, graphql.GraphQLField]:
    assert SCHEMA.mutation_type is not None
    return dict(SCHEMA.mutation_type.fields)


def test_every_mutation_is_classified() -> None:
    assert set(mutations()) - set(WHO) == set(), "classify new mutations in WHO"


def _value(type_: graphql.GraphQLInputType, name: str) -> Any:
    inner = graphql.get_nullable_type(type_)
    if isinstance(inner, graphql.GraphQLList):
        return []
    if isinstance(inner, graphql.GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, graphql.GraphQLInputObjectType):
        return {
            field_name: _value(f.type, field_name)
            for field_name, f in inner.fields.items()
            if isinstance(f.type, graphql.GraphQLNonNull)
        }
    scalar = inner.name
    if scalar == "ID":
        return "999999"  # matches nothing
    if scalar == "Boolean":
        return False
    if scalar == "Int":
        return 1
    if scalar == "DateTime":
        return "2026-12-01T00:00:00+00:00"
    if name.lower().endswith("email"):
        return "new@example.test"
    return "x"


def document(name: str, field: graphql.GraphQLField) -> tuple[str, dict[str, Any]]:
    required = {
        arg: a for arg, a in field.args.items() if isinstance(a.type, graphql.GraphQLNonNull)
    }
    params = ", ".join(f"${arg}: {a.type}" for arg, a in required.items())
    args = ", ".join(f"{arg}: ${arg}" for arg in required)
    head = f"mutation({params})" if params else "mutation"
    call = f"{name}({args})" if args else name
    return f"{head} {{ {call} {{ errors {{ code }} }} }}", {
        arg: _value(a.type, arg) for arg, a in required.items()
    }


@pytest.fixture(scope="module", params=BACKENDS)
def private(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("authz")))
    yield database
    drop()


@pytest.fixture(scope="module")
async def http(private: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(private.settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as client:
        yield client
    await app.state.gateway.aclose()


async def digest(db: Database) -> dict[str, str]:
    """One hash per table of every row: any insert, update or delete shows."""
    tables = [
        row[0]
        for row in await fetch(
            db,
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            if db.backend == "sqlite"
            else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        )
    ]
    found = {}
    for table in sorted(tables):
        rows = await fetch(db, f"SELECT * FROM {table}")
        found[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return found


def viewers(db: Database) -> list[tuple[str, dict[str, str], Role | None, Purpose | None]]:
    found: list[tuple[str, dict[str, str], Role | None, Purpose | None]] = [
        ("anonymous", {}, None, None)
    ]
    for who in ("buyer", "seller"):
        token = issue_token(db.settings, user_id=DEMO_USERS[who])
        found.append((who, {"Authorization": f"Bearer {token}"}, None, None))
    staff = {Role(role): employee_id for employee_id, role in DEMO_EMPLOYEES.values()}
    for role in Role:
        for purpose in Purpose:
            token = issue_token(db.settings, employee_id=staff[role], role=role)
            headers = {"Authorization": f"Bearer {token}", "X-Processing-Purpose": purpose.value}
            found.append((f"{role.value}/{purpose.value}", headers, role, purpose))
    return found


def expected_refusal(
    name: str, label: str, role: Role | None, purpose: Purpose | None
) -> str | None:
    """The code that refuses this viewer, or None when the viewer may call the mutation."""
    audience = WHO[name]
    if label == "anonymous":
        return "UNAUTHENTICATED"
    if role is None:
        return None if audience == SELF else "FORBIDDEN"
    assert purpose is not None
    return None if (role, purpose) in ALLOWED_STAFF[audience] else "FORBIDDEN"


async def test_every_mutation_as_every_viewer(http: httpx.AsyncClient, private: Database) -> None:
    outcomes: dict[str, int] = {"allowed": 0, "refused": 0}
    wrong: list[str] = []
    for label, headers, role, purpose in viewers(private):
        before = await digest(private)
        refused_only = True
        for name, field in sorted(mutations().items()):
            query, variables = document(name, field)
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            assert response.status_code == 200, (label, name, response.text)
            body = response.json()
            assert "errors" not in body, (label, name, body["errors"])
            codes = [e["code"] for e in body["data"][name]["errors"]]
            expected = expected_refusal(name, label, role, purpose)
            if expected is None:
                refused_only = False
                outcomes["allowed"] += 1
                if WHO_ASKS & set(codes):
                    wrong.append(f"{label} {name}: refused {codes} but may call it")
            else:
                outcomes["refused"] += 1
                if codes != [expected]:
                    wrong.append(f"{label} {name}: got {codes}, expected [{expected}]")
        if refused_only:
            assert await digest(private) == before, f"{label}: a refused mutation changed data"
    print(f"\nmutation x viewer: {outcomes}")
    assert not wrong, "\n".join(wrong)
    assert outcomes["allowed"] and outcomes["refused"]


def test_the_matrix_can_fail() -> None:
    assert expected_refusal("setConsent", "anonymous", None, None) == "UNAUTHENTICATED"
    assert expected_refusal("setConsent", "DPO/LEGAL", Role.DPO, Purpose.LEGAL) == "FORBIDDEN"
    assert expected_refusal("extendPrivacyRequest", "buyer", None, None) == "FORBIDDEN"
    assert expected_refusal("extendPrivacyRequest", "x", Role.SUPPORT, Purpose.SUPPORT) == (
        "FORBIDDEN"
    )
    assert asyncio.iscoroutinefunction(digest)
