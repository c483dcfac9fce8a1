"""Does an export's memory grow with the subject's data? Peak memory and time of one
subject's export at 1,000 and at 100,000 messages, side by side.

    .venv/bin/python bench/export_memory.py                         # 1,000 and 100,000, JSON
    .venv/bin/python bench/export_memory.py --sizes 1000 10000 100000 --format HTML
    .venv/bin/python bench/export_memory.py --database-url postgresql+asyncpg://.../<empty db>

A scratch database (SQLite in a temporary directory unless --database-url names an empty
one) is migrated and seeded (`seed_database`, 40 users); the demo buyer (user 1) is then
given messages in their conversations, round robin, up to each size. The export is
downloaded through the ASGI app with a `send` that counts the body's bytes and keeps none:
httpx's ASGITransport gathers the whole body in a list, which would measure the client,
not the gateway. Each size is downloaded twice: once timed with nothing traced, once under
`tracemalloc` for the peak of Python allocations during the download. Beside it, the
growth of the process's resident set during the timed download (sampled at every chunk
from /proc/self/statm, Linux only), which also sees what tracemalloc does not: the
drivers' C buffers and the allocator's own slack.
A small export first warms the process's caches (compiled statements, masks), so what the
peaks compare is what the export itself holds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from gateway import migrate
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db import models as m
from gateway.db.engine import create_engine
from gateway.seed import DEMO_USERS, seed_database
from gateway.settings import Settings

SUBJECT = DEMO_USERS["buyer"]
LINES = (
    "Hello, is the parcel on its way? I ordered on Monday.",
    "Thanks! Could you send the tracking code once it ships?",
    "The size M fits well, I would like another one in blue.",
    "Здравствуйте, когда будет доставка? Спасибо заранее.",
    "你好 请问这个产品有保修吗 谢谢",
)


@dataclass
class Sent:
    """What an ASGI app sent for one request."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    size: int = 0
    chunks: int = 0  # http.response.body messages that carried bytes


Hook = Callable[[int], Awaitable[None]]


async def asgi_get(
    app: Any,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    keep: bool = True,
    method: str = "GET",
    on_chunk: Hook | None = None,
) -> Sent:
    """Call the app as an ASGI server would, one request, reading the streamed body as
    it comes (`keep=False`: counted, not kept); `on_chunk(n)` runs after the n-th chunk."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway", 80),
    }
    sent = Sent()
    finished = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                sent.size += len(body)
                sent.chunks += 1
                if keep:
                    sent.body += body
                if on_chunk is not None:
                    await on_chunk(sent.chunks)

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    return sent


async def add_messages(settings: Settings, subject: int, total: int) -> int:
    """Give `subject` sent messages in their conversations until they have `total`."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            have = await conn.scalar(
                select(func.count()).select_from(m.Message).where(m.Message.sender_id == subject)
            )
            conversations = (
                await conn.scalars(
                    select(m.ConversationParticipant.conversation_id)
                    .where(m.ConversationParticipant.user_id == subject)
                    .order_by(m.ConversationParticipant.conversation_id)
                )
            ).all()
            start = datetime(2026, 6, 1, tzinfo=UTC)
            missing = max(0, total - int(have or 0))
            for batch in range(0, missing, 10_000):
                rows = [
                    {
                        "conversation_id": conversations[n % len(conversations)],
                        "sender_id": subject,
                        "body": f"{LINES[n % len(LINES)]} (#{n})",
                        "sent_at": start + timedelta(seconds=n),
                    }
                    for n in range(batch, min(batch + 10_000, missing))
                ]
                await conn.execute(insert(m.Message), rows)
            return int(have or 0) + missing
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Measure:
    messages: int
    size: int
    chunks: int
    seconds: float
    peak: int  # bytes of Python allocations at the peak, above the level before
    rss: int | None  # growth of the resident set during the download, bytes


def _resident() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


async def measure(app: Any, target: str, headers: dict[str, str], messages: int) -> Measure:
    """One timed download (nothing traced), then one under tracemalloc for the peak."""
    gc.collect()
    base = _resident()
    highest = base

    async def sample(_: int) -> None:
        nonlocal highest
        now = _resident()
        if now is not None and highest is not None:
            highest = max(highest, now)

    started = time.perf_counter()
    sent = await asgi_get(app, target, headers=headers, keep=False, on_chunk=sample)
    seconds = time.perf_counter() - started
    assert sent.status == 200, sent.status
    rss = None if base is None or highest is None else highest - base
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        traced = await asgi_get(app, target, headers=headers, keep=False)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert traced.size == sent.size
    return Measure(messages, sent.size, sent.chunks, seconds, peak, rss)


async def run(settings: Settings, sizes: list[int], fmt: str) -> list[Measure]:
    app = create_app(settings)
    token = issue_token(settings, user_id=SUBJECT)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        import httpx

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            response = await http.post(
                "/graphql",
                json={
                    "query": "mutation($f: ExportFormat!) { requestDataExport(format: $f) "
                    "{ request { id } errors { code message } } }",
                    "variables": {"f": fmt},
                },
                headers=headers,
            )
        request_id = response.json()["data"]["requestDataExport"]["request"]["id"]
        target = f"/exports/{request_id}"
        await asgi_get(app, target, headers=headers, keep=False)  # warm the caches
        results = []
        for size in sizes:
            messages = await add_messages(settings, SUBJECT, size)
            results.append(await measure(app, target, headers, messages))
            print(_row(results[-1]), file=sys.stderr)
        return results
    finally:
        await app.state.gateway.aclose()


def _row(r: Measure) -> str:
    rss = "-" if r.rss is None else f"{r.rss / 1e6:.2f} MB"
    return (
        f"{r.messages:>9,}  {r.size / 1e6:>9.2f} MB  {r.chunks:>7,}  {r.seconds:>8.2f} s  "
        f"{r.peak / 1e6:>9.2f} MB  {rss:>10}"
    )


def report(results: list[Measure], fmt: str, backend: str) -> str:
    lines = [
        f"export of user {SUBJECT} as {fmt} on {backend}",
        " messages   document   chunks      time   peak traced  RSS growth",
        *(_row(r) for r in results),
    ]
    if len(results) > 1:
        first, last = results[0], results[-1]
        lines.append(
            f"x{last.messages / first.messages:,.0f} messages: x{last.size / first.size:.1f} "
            f"bytes, x{last.seconds / first.seconds:.1f} time, x{last.peak / first.peak:.2f} "
            "peak memory"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--format", choices=("JSON", "HTML"), default="JSON")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--database-url", help="an empty database (default: scratch SQLite)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite+aiosqlite:///{os.path.join(scratch, 'export.db')}"
        settings = Settings(database_url=url, env="test")
        migrate.upgrade(settings)
        asyncio.run(seed_database(settings, users=args.users, seed=7, progress=False))
        results = asyncio.run(run(settings, sorted(args.sizes), args.format))
        print(report(results, args.format, "SQLite" if settings.is_sqlite else "PostgreSQL"))


if __name__ == "__main__":
    main()
