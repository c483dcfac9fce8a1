"""Rate limits per viewer and per client address, with the `limits` library.

Two limits on /graphql: per client address, counted before authentication
(GATEWAY_RATE_LIMIT_PER_ADDRESS), and per viewer after it (GATEWAY_RATE_LIMIT: a user or an
employee by id, an anonymous viewer by client address). Over either: HTTP 429
`RATE_LIMITED` with `Retry-After`.

The strategy is the moving window: at most N hits in any window of the period, in every
process together, which a fixed window does not promise (up to 2N across a boundary) and
the sliding-window counter only approximates. Its price is a list of up to N timestamps
per key, small at these limits. (limits 4 removed the fixed-window-elastic strategy.)

Counters live in Redis when GATEWAY_REDIS_URL is set, shared by every process and host,
and in this process's memory otherwise. When Redis does not answer, one warning is logged
and this process counts in memory until Redis answers again (asked at most every
`retry_seconds`): a degradation, not an outage. Keys are keyed hashes of the identity, so
neither Redis nor memory holds a client address or an id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import limits
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.auth import ViewerKind
from gateway.settings import Settings
from resolvers.viewer import Viewer

logger = logging.getLogger("gateway.ratelimit")

REDIS_RETRY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5  # a Redis that hangs must not hold requests for long
_STORAGE_ERRORS = (StorageError, OSError, asyncio.TimeoutError)


class RateLimited(Exception):
    """Over a limit; the message names the limit and its setting, never who hit it."""

    def __init__(self, rule: Rule, retry_after: int) -> None:
        super().__init__(
            f"rate limit {rule.text} exceeded; retry after {retry_after} s ({rule.setting})"
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rule:
    name: str
    text: str
    setting: str
    item: limits.RateLimitItem


def _rule(name: str, text: str | None, setting: str) -> Rule | None:
    if text is None:
        return None
    item = limits.parse(text)
    return Rule(name, text, setting, item)


class RateLimits:
    """The gateway's two limits and where they count."""

    def __init__(self, settings: Settings, *, retry_seconds: float = REDIS_RETRY_SECONDS) -> None:
        self.per_viewer = _rule("viewer", settings.viewer_rate_limit, "GATEWAY_RATE_LIMIT")
        self.per_address = _rule(
            "address", settings.address_rate_limit, "GATEWAY_RATE_LIMIT_PER_ADDRESS"
        )
        self._key = hashlib.sha256(b"rate-limit:" + settings.pseudonym_key.encode()).digest()
        self._memory_storage = MemoryStorage()
        self._memory = MovingWindowRateLimiter(self._memory_storage)
        self._pool: ConnectionPool | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self.retry_seconds = retry_seconds
        self._retry_at = 0.0
        self.degraded = False
        if settings.redis_url and (self.per_viewer or self.per_address):
            self._pool = ConnectionPool.from_url(
                settings.redis_url,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            pool: dict[str, Any] = {"connection_pool": self._pool}  # typed as str | float
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=settings.redis_key_prefix,
                wrap_exceptions=True,
                **pool,
            )
            self._redis = MovingWindowRateLimiter(storage)

    @property
    def shared(self) -> bool:
        """Whether counts are shared through Redis (configured, and answering last time)."""
        return self._redis is not None and not self.degraded

    async def check_address(self, address: str | None) -> None:
        """Count one request from `address`; raises `RateLimited` when over the limit."""
        if self.per_address is not None:
            await self._hit(self.per_address, f"address:{address}")

    async def check_viewer(self, viewer: Viewer, address: str | None) -> None:
        """Count one request of `viewer`; raises `RateLimited` when over the limit."""
        if self.per_viewer is None:
            return
        if viewer.kind is ViewerKind.USER:
            identity = f"user:{viewer.user_id}"
        elif viewer.kind is ViewerKind.EMPLOYEE:
            identity = f"employee:{viewer.employee_id}"
        else:
            identity = f"address:{address}"
        await self._hit(self.per_viewer, identity)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        timer = self._memory_storage.timer
        if timer is not None and not timer.done():
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)

    async def _hit(self, rule: Rule, identity: str) -> None:
        key = hmac.new(self._key, identity.encode(), "sha256").hexdigest()[:32]
        limiter = self._memory
        if self._redis is not None and time.monotonic() >= self._retry_at:
            try:
                allowed, reset = await _consume(self._redis, rule, key)
            except _STORAGE_ERRORS as exc:
                self._unavailable(exc)
            else:
                self._answered()
                if allowed:
                    return
                raise RateLimited(rule, _seconds_until(reset))
        allowed, reset = await _consume(limiter, rule, key)
        if not allowed:
            raise RateLimited(rule, _seconds_until(reset))

    def _unavailable(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.retry_seconds
        if not self.degraded:
            self.degraded = True
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            logger.warning(
                "Redis (GATEWAY_REDIS_URL) does not answer (%s): rate limits count in this "
                "process's memory until it does",
                type(cause).__name__,
            )

    def _answered(self) -> None:
        if self.degraded:
            self.degraded = False
            logger.info("Redis answers again: rate limits are shared again")


async def _consume(limiter: MovingWindowRateLimiter, rule: Rule, key: str) -> tuple[bool, float]:
    """Take one hit; when refused, also when the window frees a slot (epoch seconds)."""
    if await limiter.hit(rule.item, rule.name, key):
        return True, 0.0
    stats = await limiter.get_window_stats(rule.item, rule.name, key)
    return False, stats.reset_time


def _seconds_until(reset: float) -> int:
    return max(1, math.ceil(reset - time.time()))
