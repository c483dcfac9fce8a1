"""Rate limits: per viewer and per client address, HTTP 429 with Retry-After, shared by
processes through the real Redis (two `serve` processes, one budget), in memory otherwise,
and a Redis that does not answer is a logged degradation, not an outage.

Every test that touches Redis writes under a key prefix of its own and deletes only those
keys afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from gateway.app import create_app
from gateway.errors import ConfigurationError
from gateway.ratelimit import RateLimits
from gateway.serving import TrustedProxies
from gateway.settings import Settings
from tests.conftest import Database, employee_token, user_token
from tests.test_serving import free_port, migrated_sqlite, serving

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TYPENAME = {"query": "{ __typename }"}


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix for this test alone; its keys are deleted afterwards. Redis must answer:
    this suite tests against the real one."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS_URL} does not answer ({type(exc).__name__})", pytrace=False)
    prefix = f"privacy-gateway-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def redis_keys(prefix: str) -> list[bytes]:
    with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
        return list(client.scan_iter(match=f"{prefix}:*", count=1000))


@contextlib.asynccontextmanager
async def gateway(settings: Settings, peer: str = "127.0.0.1") -> AsyncIterator[Any]:
    app = create_app(settings)
    try:
        yield app, lambda address=peer: _client(app, address)
    finally:
        await app.state.gateway.rate_limits.aclose()
        await app.state.gateway.aclose()


def _client(app: Any, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


def empty(tmp_path: Path, **overrides: Any) -> Settings:
    """An app on a fresh SQLite file: anonymous requests need no rows."""
    base = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", env="test")
    return replace(base, **overrides)


async def statuses(http: httpx.AsyncClient, count: int, **headers: str) -> list[int]:
    return [
        (await http.post("/graphql", json=TYPENAME, headers=headers)).status_code
        for _ in range(count)
    ]


def assert_limited(response: httpx.Response, setting: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    retry = response.headers["retry-after"]
    assert retry.isdigit() and 1 <= int(retry) <= 60, retry
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED"}
    assert error["message"].endswith(f"exceeded; retry after {retry} s ({setting})")


# -- settings ------------------------------------------------------------------------------------


def test_defaults_and_off() -> None:
    assert Settings().viewer_rate_limit == "120/minute"
    assert Settings().address_rate_limit == "600/minute"
    assert Settings(env="test").viewer_rate_limit is None, "the suite counts nothing by default"
    env = {"GATEWAY_RATE_LIMIT": "0", "GATEWAY_RATE_LIMIT_PER_ADDRESS": "off"}
    settings = Settings.from_env(env)
    assert (settings.viewer_rate_limit, settings.address_rate_limit) == (None, None)
    settings = Settings.from_env({"GATEWAY_RATE_LIMIT": "5/second", "GATEWAY_ENV": "test"})
    assert settings.viewer_rate_limit == "5/second"
    assert Settings.from_env({}).redis_key_prefix == "privacy-gateway"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GATEWAY_RATE_LIMIT": "lots"}, "GATEWAY_RATE_LIMIT must read like 120/minute"),
        ({"GATEWAY_RATE_LIMIT_PER_ADDRESS": "0/minute"}, "GATEWAY_RATE_LIMIT_PER_ADDRESS must"),
        ({"GATEWAY_REDIS_URL": "http://127.0.0.1:6379"}, "GATEWAY_REDIS_URL must start with"),
        ({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, gateway"}, "GATEWAY_TRUSTED_PROXIES lists"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


# -- in one process --------------------------------------------------------------------------------


async def test_anonymous_viewers_are_limited_by_address(tmp_path: Path) -> None:
    async with gateway(empty(tmp_path, rate_limit="3/minute")) as (_, client):
        async with client() as http:
            assert await statuses(http, 3) == [200] * 3
            refused = await http.post("/graphql", json=TYPENAME)
            assert_limited(refused, "GATEWAY_RATE_LIMIT")
        async with client("127.0.0.2") as other:
            assert await statuses(other, 3) == [200] * 3, "another address has its own budget"


async def test_viewers_are_limited_by_id_wherever_they_come_from(db: Database) -> None:
    settings = replace(db.settings, rate_limit="2/minute")
    buyer = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    seller = {"Authorization": f"Bearer {user_token(db, 'seller')}"}
    support = {
        "Authorization": f"Bearer {employee_token(db, 'support')}",
        "X-Processing-Purpose": "SUPPORT",
    }
    async with gateway(settings) as (_, client), client() as here, client("127.0.0.2") as there:
        assert await statuses(here, 1, **buyer) == [200]
        assert await statuses(there, 2, **buyer) == [200, 429], "one budget, two addresses"
        assert await statuses(here, 3, **seller) == [200, 200, 429], "the seller's own"
        assert await statuses(here, 3, **support) == [200, 200, 429], "an employee's own"
        assert await statuses(here, 2) == [200, 200], "anonymous: the address's own"


async def test_the_address_limit_counts_before_authentication(db: Database) -> None:
    settings = replace(db.settings, rate_limit_per_address="3/minute")
    async with gateway(settings) as (_, client), client() as http:
        bad = await statuses(http, 2, Authorization="Bearer not-a-token")
        assert bad == [401, 401]
        buyer = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
        assert await statuses(http, 1, **buyer) == [200]
        refused = await http.post("/graphql", json=TYPENAME, headers=buyer)
        assert_limited(refused, "GATEWAY_RATE_LIMIT_PER_ADDRESS")


async def test_off_counts_nothing(tmp_path: Path) -> None:
    async with gateway(empty(tmp_path, rate_limit="off")) as (app, client), client() as http:
        assert await statuses(http, 30) == [200] * 30
    assert app.state.gateway.rate_limits.per_viewer is None


def test_the_client_address_comes_from_trusted_proxies_only() -> None:
    def scope(peer: str, forwarded: str | None = None) -> dict[str, Any]:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return {"type": "http", "client": (peer, 1), "headers": headers}

    none = TrustedProxies(())
    assert none.client_address(scope("127.0.0.9", "127.0.0.5")) == "127.0.0.9"
    proxies = TrustedProxies(("127.0.0.1", "10.0.0.0/8"))
    assert proxies.client_address(scope("127.0.0.1", "127.0.0.5")) == "127.0.0.5"
    # A client's own X-Forwarded-For is not believed: the nearest untrusted hop is the client.
    assert proxies.client_address(scope("127.0.0.1", "1.2.3.4, 127.0.0.5, 10.1.1.1")) == (
        "127.0.0.5"
    )
    assert proxies.client_address(scope("127.0.0.1", "garbage, 10.1.1.1")) == "10.1.1.1"
    assert proxies.client_address(scope("127.0.0.1")) == "127.0.0.1"
    assert proxies.client_address(scope("127.0.0.7", "127.0.0.5")) == "127.0.0.7"
    assert proxies.client_address({"type": "http", "headers": []}) is None


async def test_behind_a_trusted_proxy_each_client_has_its_budget(tmp_path: Path) -> None:
    settings = empty(tmp_path, rate_limit="2/minute", trusted_proxies=("127.0.0.1",))
    async with gateway(settings) as (_, client), client() as http:
        first = {"X-Forwarded-For": "127.0.0.5"}
        assert await statuses(http, 3, **first) == [200, 200, 429]
        assert await statuses(http, 2, **{"X-Forwarded-For": "127.0.0.6"}) == [200, 200]


# -- Redis ----------------------------------------------------------------------------------------


async def test_redis_holds_the_counts_under_keyed_hashes(tmp_path: Path, redis_prefix: str) -> None:
    settings = empty(
        tmp_path, rate_limit="2/minute", redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    )
    async with gateway(settings) as (app, client), client() as http:
        assert await statuses(http, 3) == [200, 200, 429]
        assert app.state.gateway.rate_limits.shared
    keys = redis_keys(redis_prefix)
    assert len(keys) == 1
    assert b"127.0.0.1" not in keys[0] and b"address" not in keys[0]


async def test_two_gateways_share_one_budget_through_redis(
    tmp_path: Path, redis_prefix: str
) -> None:
    settings = empty(
        tmp_path, rate_limit="4/minute", redis_url=REDIS_URL, redis_key_prefix=redis_prefix
    )
    async with (
        gateway(settings) as (_, one),
        gateway(settings) as (_, two),
        one() as a,
        two() as b,
    ):
        admitted = [await statuses(http, 1) for http in (a, b) * 4]
    assert sum(s == [200] for s in admitted) == 4
    assert admitted[:4] == [[200]] * 4


async def test_redis_down_is_one_warning_and_memory_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = free_port()  # nothing listens there
    settings = empty(tmp_path, rate_limit="3/minute", redis_url=f"redis://127.0.0.1:{closed}/0")
    with caplog.at_level(logging.INFO, logger="gateway.ratelimit"):
        async with gateway(settings) as (app, client), client() as http:
            assert await statuses(http, 5) == [200, 200, 200, 429, 429]
            assert not app.state.gateway.rate_limits.shared
    (warning,) = [r for r in caplog.records if r.name == "gateway.ratelimit"]
    assert warning.levelno == logging.WARNING
    assert "count in this process's memory" in warning.getMessage()
    assert str(closed) not in warning.getMessage() and "redis://" not in warning.getMessage()


async def test_counting_goes_back_to_redis_when_it_answers(
    tmp_path: Path, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Down at first (nothing on the port), then a relay to the real Redis opens there."""
    port = free_port()
    settings = empty(
        tmp_path,
        rate_limit="5/minute",
        redis_url=f"redis://127.0.0.1:{port}/0",
        redis_key_prefix=redis_prefix,
    )
    target = urlsplit(REDIS_URL)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            target.hostname or "127.0.0.1", target.port or 6379
        )

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    with caplog.at_level(logging.INFO, logger="gateway.ratelimit"):
        async with gateway(settings) as (app, client), client() as http:
            limits: RateLimits = app.state.gateway.rate_limits
            limits.retry_seconds = 0  # after a failure, ask Redis again at the next request
            assert await statuses(http, 2) == [200, 200]
            assert limits.degraded
            server = await asyncio.start_server(relay, "127.0.0.1", port)
            try:
                assert await statuses(http, 1) == [200]
                assert limits.shared
                assert redis_keys(redis_prefix), "the count is in Redis again"
            finally:
                await limits.aclose()
                server.close()
                await server.wait_closed()
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.ratelimit"]
    assert len(messages) == 2 and messages[1].startswith("Redis answers again")


def test_two_serve_processes_share_one_budget(tmp_path: Path, redis_prefix: str) -> None:
    """Two real `privacy-gateway serve` processes on one Redis: together they admit exactly
    the limit (each alone, in memory, would admit it twice over)."""
    env = {
        "GATEWAY_DATABASE_URL": migrated_sqlite(tmp_path),
        "GATEWAY_REDIS_URL": REDIS_URL,
        "GATEWAY_REDIS_KEY_PREFIX": redis_prefix,
        "GATEWAY_RATE_LIMIT": "10/minute",
        "GATEWAY_RATE_LIMIT_PER_ADDRESS": "off",
    }
    with serving(tmp_path, env) as first, serving(tmp_path, env) as second:
        assert first.process.pid != second.process.pid
        with first.client() as a, second.client() as b:
            responses = [http.post("/graphql", json=TYPENAME) for http in (a, b) * 12]
    admitted = [r.status_code == 200 for r in responses]
    assert sum(admitted) == 10, [r.status_code for r in responses]
    assert any(admitted[0::2]) and any(admitted[1::2]), "both processes admitted some"
    for refused in (r for r in responses if r.status_code != 200):
        assert_limited(refused, "GATEWAY_RATE_LIMIT")
    for served in (first, second):
        assert not any(line["logger"] == "gateway.ratelimit" for line in served.lines())
