"""One suite, two databases: every test that takes `db` runs on SQLite and on PostgreSQL.

PostgreSQL is required: if it does not answer, the suite errors loudly. Set
GATEWAY_TEST_BACKENDS=sqlite to run without it deliberately (never in CI).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from directives.taxonomy import Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.migrate import upgrade
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS, seed_database
from gateway.settings import Settings

BACKENDS = [
    b.strip()
    for b in os.environ.get("GATEWAY_TEST_BACKENDS", "sqlite,postgresql").split(",")
    if b.strip()
]
POSTGRES_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SEED_USERS = 80


@dataclass
class Database:
    """A migrated, seeded database of one backend, shared by the session's read-only tests."""

    backend: str
    settings: Settings


def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)

    async def run() -> None:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=10,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable "
            f"({type(exc).__name__}); start it or set GATEWAY_TEST_BACKENDS=sqlite",
            pytrace=False,
        )


def fresh_database(backend: str, tmp_dir: str) -> tuple[str, Any]:
    """A new empty database URL and a function that drops it."""
    if backend == "sqlite":
        path = os.path.join(tmp_dir, f"gw-{uuid.uuid4().hex[:8]}.db")
        return f"sqlite+aiosqlite:///{path}", lambda: None
    if backend != "postgresql":
        raise pytest.UsageError(f"unknown backend {backend!r} in GATEWAY_TEST_BACKENDS")
    name = f"gw_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return url, lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_database(backend: str, tmp_dir: str, *, users: int = SEED_USERS) -> tuple[Database, Any]:
    url, drop = fresh_database(backend, tmp_dir)
    # Small pools: the suite keeps several gateways open at once on one PostgreSQL
    # (max_connections 100), and its subprocess servers need connections of their own.
    settings = Settings(database_url=url, env="test", db_pool_size=2, db_max_overflow=6)
    upgrade(settings)
    asyncio.run(seed_database(settings, users=users, seed=7, progress=False))
    return Database(backend, settings), drop


@pytest.fixture(scope="session", params=BACKENDS)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp(request.param)))
    yield database
    drop()


def exhaustive(settings: Settings) -> Settings:
    """Settings for the suite's exhaustive readers (the leak, route and N+1 tests): their
    generated queries walk the whole schema, far past what a client may send, so the
    query limits are lifted for them alone."""
    return replace(
        settings,
        max_query_depth=64,
        max_query_aliases=10_000,
        max_query_tokens=1_000_000,
        max_query_cost=100_000_000,
        max_body_bytes=10_000_000,
        execution_timeout_seconds=120.0,
    )


@pytest.fixture(scope="session")
async def reader(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a gateway whose query limits are lifted (see `exhaustive`)."""
    app = create_app(exhaustive(db.settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http
    await app.state.gateway.aclose()


@pytest.fixture(scope="session")
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db.settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http
    await app.state.gateway.aclose()


def user_token(db: Database, who: str | int) -> str:
    user_id = DEMO_USERS[who] if isinstance(who, str) else who
    return issue_token(db.settings, user_id=user_id)


def employee_token(db: Database, role: str) -> str:
    employee_id, role_name = DEMO_EMPLOYEES[role]
    return issue_token(db.settings, employee_id=employee_id, role=Role(role_name))


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    purpose: str | None = None,
    headers: dict[str, str] | None = None,
    expect_errors: bool = False,
) -> dict[str, Any]:
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    if purpose:
        sent["X-Processing-Purpose"] = purpose
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if not expect_errors:
        assert "errors" not in body, body["errors"]
    return body


async def post_graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a query with ready-made headers; HTTP 200 asserted, the body returned as is."""
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def fetch(db: Database, sql: str, **params: Any) -> list[Any]:
    """Run raw SQL against the test database (to compute expectations independently)."""
    from sqlalchemy import text

    from gateway.db.engine import create_engine

    engine = create_engine(db.settings)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())
    finally:
        await engine.dispose()
