"""What the audit trail costs an employee's large read: audited vs unaudited, one run.

  query     `users(first: 1000)` with every personal field of User, as support (SUPPORT);
            1,000 subjects read, so the audited request appends READ events to the hash
            chain (one per set of subjects read alike, naming them) before it answers;
            every 5,000 subjects the gateway builds the subject index behind its writes
            (resolvers/audit/index.py), timed with the request that started it.
  audited   `create_app(settings)`: reads recorded where projection decides, then written
            in one transaction after execution (resolvers/audit);
  unaudited `create_app(settings, audit=False)`: the baseline only; no gateway serves
            without its audit trail;
  recording audited, but the write skipped (bench only): what collecting the reads costs
            the response, i.e. what a write-behind after the response would leave on it.

The apps run on the same database. Each is warmed up, then they are interleaved over
rounds (rotating which goes first; the heap frozen after warm-up); the verdict is the
paired ratio audited/unaudited within a round, median over rounds (goal <= 1.10), with
process CPU beside it (aiosqlite's and the audit writer's threads included) and the mean,
which carries the index builds. Before measuring it checks that an audited request names
every subject read (in the subject index, once built) and that the chain verifies; after,
that it still does. It also times the write alone (building, hashing and inserting the
events) and the index build alone, per request. A fresh SQLite database is seeded in a
temporary directory unless --database-url names an existing, migrated and seeded one.

    .venv/bin/python bench/audit_overhead.py [--rounds 24] [--size 1000] [--viewer support]
    .venv/bin/python bench/audit_overhead.py --database-url postgresql+asyncpg://...
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import func, select

from directives.taxonomy import Role
from gateway import migrate
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db.models import AuditEvent, AuditEventSubject
from gateway.seed import DEMO_EMPLOYEES, seed_database
from gateway.settings import Settings
from resolvers.audit.chain import verify
from resolvers.audit.index import update_index
from resolvers.audit.reads import Actor, Read, ReadLog

GOAL = 1.10
MODES = ("unaudited", "audited", "recording")
PURPOSES = {"support": "SUPPORT", "analyst": "ANALYTICS", "dpo": "LEGAL", "finance": "BILLING"}
QUERY = """query Users($first: Int!) { users(first: $first) { nodes {
    id kind jurisdiction deletionState fullName email phone createdAt } } }"""


@dataclass(frozen=True, slots=True)
class Sample:
    round: int
    wall: float
    cpu: float


async def post(client: httpx.AsyncClient, headers: dict[str, str], size: int) -> int:
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"first": size}}, headers=headers
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise SystemExit(f"bench: HTTP {response.status_code}: {response.text[:300]}")
    return len(body["data"]["users"]["nodes"])


async def timed(
    app: Any, client: httpx.AsyncClient, headers: dict[str, str], size: int, round_no: int
) -> Sample:
    """One request; for the audited app, with the subject index build it may start behind
    itself (every INDEX_EVERY subjects), so no background work is left to the next sample."""
    cpu, wall = time.process_time(), time.perf_counter()
    await post(client, headers, size)
    await app.state.gateway.read_writer.settle()
    return Sample(round_no, time.perf_counter() - wall, time.process_time() - cpu)


async def events(app: Any) -> tuple[int, int]:
    """How many events, and how many subjects they name (the subject index's rows, the
    index brought up to date first)."""
    await update_index(app.state.gateway.sessions)
    async with app.state.gateway.engine.connect() as conn:
        found = await conn.scalar(select(func.count()).select_from(AuditEvent))
        named = await conn.scalar(select(func.count()).select_from(AuditEventSubject))
        return int(found or 0), int(named or 0)


async def intact(app: Any) -> str:
    async with app.state.gateway.engine.connect() as conn:
        verdict = await verify(conn)
    if not verdict.intact:
        raise SystemExit(f"bench: {verdict.message}")
    return verdict.message


async def write_only_ms(app: Any, size: int, repeat: int = 9) -> tuple[float, float]:
    """Building, hashing and inserting the READ event of `size` subjects, as a request's
    flush does."""
    gateway = app.state.gateway
    reads = tuple(
        Read(name, "SHOW", category)
        for name, category in (
            ("fullName", "user.identity.name"),
            ("email", "user.contact.email"),
            ("phone", "user.contact.phone"),
        )
    )
    times, cpus = [], []
    for _ in range(repeat):
        log = ReadLog(Actor("employee:1", "SUPPORT", "SUPPORT", "0" * 32))
        log.saw("User", reads, set(range(1, size + 1)))
        start, cpu = time.perf_counter(), time.process_time()
        await gateway.read_writer.write(log, datetime.now(UTC), gateway.audit_head)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(times) * 1000, statistics.median(cpus) * 1000


async def index_only_ms(app: Any, size: int, repeat: int = 5) -> tuple[float, float]:
    """Building the subject index for INDEX_EVERY subjects' reads (`size` per request),
    as the gateway does behind its writes: ms per request, wall and cpu."""
    gateway = app.state.gateway
    writer = gateway.read_writer
    per_build = max(1, writer.INDEX_EVERY // size)
    reads = (Read("email", "SHOW", "user.contact.email"),)
    times, cpus = [], []
    every, writer.INDEX_EVERY = writer.INDEX_EVERY, 10**12  # no build but the timed one
    try:
        for _ in range(repeat):
            await update_index(gateway.sessions)
            for _ in range(per_build):
                log = ReadLog(Actor("employee:1", "SUPPORT", "SUPPORT", "0" * 32))
                log.saw("User", reads, set(range(1, size + 1)))
                await writer.write(log, datetime.now(UTC), gateway.audit_head)
            start, cpu = time.perf_counter(), time.process_time()
            await writer.build_index()
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    finally:
        writer.INDEX_EVERY = every
    return (
        statistics.median(times) * 1000 / per_build,
        statistics.median(cpus) * 1000 / per_build,
    )


async def run(args: argparse.Namespace, settings: Settings) -> None:
    apps = {
        "audited": create_app(settings),
        "unaudited": create_app(settings, audit=False),
        "recording": create_app(settings),
    }
    apps["recording"].state.gateway.record_reads = _skip_write
    employee_id, role = DEMO_EMPLOYEES[args.viewer]
    token = issue_token(settings, employee_id=employee_id, role=Role(role), ttl_seconds=7200)
    headers = {"Authorization": f"Bearer {token}", "X-Processing-Purpose": PURPOSES[args.viewer]}
    clients = {
        mode: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        for mode, app in apps.items()
    }
    try:
        audited = apps["audited"]
        before = await events(audited)
        rows = await post(clients["audited"], headers, args.size)
        after = await events(audited)
        written, named = after[0] - before[0], after[1] - before[1]
        if rows != args.size or named != rows:
            raise SystemExit(
                f"bench: {rows} users returned, {named} subjects named in the audit trail; "
                f"expected {args.size} of each (seed more users with --users)"
            )
        before = await events(audited)
        await post(clients["unaudited"], headers, args.size)
        if await events(audited) != before:
            raise SystemExit("bench: the unaudited app wrote audit events")
        print(
            f"one audited request: {rows} users, {written} events naming {named} subjects; "
            f"{await intact(audited)}"
        )
        samples: dict[str, list[Sample]] = {mode: [] for mode in MODES}
        # What the process holds now stays out of the collector's way (as in a long-running
        # server); the collector still runs as it would. A full collection before every
        # request, as this bench did first, left each request a cold, freshly freed heap.
        gc.collect()
        gc.freeze()
        print(
            f"measuring: {args.warmup} warm-up + {args.rounds} interleaved rounds per mode",
            file=sys.stderr,
        )
        for round_no in range(-args.warmup, args.rounds):
            shift = round_no % len(MODES)
            order = MODES[shift:] + MODES[:shift]
            for mode in order:
                sample = await timed(apps[mode], clients[mode], headers, args.size, round_no)
                if round_no >= 0:
                    samples[mode].append(sample)
        report(samples, args)
        wall, cpu = await write_only_ms(audited, args.size)
        print(f"\nthe write alone ({args.size} subjects): {wall:.1f} ms wall, {cpu:.1f} ms cpu")
        wall, cpu = await index_only_ms(audited, args.size)
        print(
            f"the subject index, built {audited.state.gateway.read_writer.INDEX_EVERY} "
            f"subjects at a time: {wall:.1f} ms wall, {cpu:.1f} ms cpu per request"
        )
        print(f"after the run: {await intact(audited)}")
    finally:
        for client in clients.values():
            await client.aclose()
        for app in apps.values():
            await app.state.gateway.aclose()


async def _skip_write(ctx: Any) -> None:
    log = ctx.privacy.audit
    if log:
        log.events()  # everything but the write
        log.groups.clear()


def report(samples: dict[str, list[Sample]], args: argparse.Namespace) -> None:
    base = {s.round: s for s in samples["unaudited"]}

    def paired(mode: str, cpu: bool = False) -> list[float]:
        if cpu:
            return [s.cpu / base[s.round].cpu for s in samples[mode]]
        return [s.wall / base[s.round].wall for s in samples[mode]]

    print(f"\nusers(first: {args.size}) as {args.viewer}, {args.rounds} rounds")
    print(f"{'mode':<10} {'median ms':>10} {'min ms':>8} {'cpu ms':>8}")
    for mode in MODES:
        wall = [s.wall * 1000 for s in samples[mode]]
        cpu = [s.cpu * 1000 for s in samples[mode]]
        print(
            f"{mode:<10} {statistics.median(wall):>10.1f} {min(wall):>8.1f} "
            f"{statistics.median(cpu):>8.1f}"
        )
    print()
    for mode in ("recording", "audited"):
        walls = paired(mode)
        quartiles = statistics.quantiles(walls, n=4)
        ratio = statistics.median(walls)
        line = (
            f"{mode}/unaudited {ratio:.3f} paired (wall; quartiles {quartiles[0]:.3f}-"
            f"{quartiles[2]:.3f}; cpu {statistics.median(paired(mode, cpu=True)):.3f}; "
            f"mean {statistics.fmean(walls):.3f}, with the index builds)"
        )
        if mode == "audited":
            line += f"; goal <= {GOAL:.2f}: {'PASS' if ratio <= GOAL else 'MISS'}"
        print(line)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1000, help="users per request (1000)")
    parser.add_argument("--users", type=int, default=1500, help="users to seed (1500)")
    parser.add_argument("--rounds", type=int, default=24, help="measured rounds (24)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds (3)")
    parser.add_argument("--viewer", choices=sorted(PURPOSES), default="support")
    parser.add_argument("--database-url", help="an existing, migrated and seeded database")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # `first` is capped by max_page_size (100 by default) and the query's cost by
    # max_query_cost: both lifted for the bench, as bench/privacy_overhead.py does.
    limits: dict[str, Any] = {
        "max_page_size": args.size,
        "max_query_cost": 10_000_000,
        "execution_timeout_seconds": 120.0,
    }
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        if args.database_url:
            settings = Settings(database_url=args.database_url, **limits)
        else:
            settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", **limits)
            start = time.perf_counter()
            migrate.upgrade(settings)
            asyncio.run(seed_database(settings, users=args.users, seed=7, progress=False))
            print(
                f"seeded {args.users} users in {time.perf_counter() - start:.1f}s", file=sys.stderr
            )
        asyncio.run(run(args, settings))


if __name__ == "__main__":
    main()
