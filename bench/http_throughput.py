"""HTTP throughput of one gateway process with privacy enforcement on and off (issue 8).

One uvicorn process on 127.0.0.1 (the options `serve` uses: uvloop, httptools, no access
log), serving `create_app(settings)` (on) or `create_app(settings, enforce_privacy=False)`
(off), the same query from the same viewer: the analyst (purpose ANALYTICS) asking for
`users(first: 100)` with their personal fields. Rounds alternate on, off, off, on, ...
(the server process is started afresh for each round, warmed up, then measured), each
round drives --connections concurrent keep-alive connections (httpx) for --seconds and
counts answers (every one must be HTTP 200 without errors). Printed: requests/s per round
side by side, the median of each mode, and the ratio on/off (the goal: at least 0.95),
median of the paired rounds. A fresh SQLite database is seeded in a temporary directory
unless --database-url names an existing, seeded one (PostgreSQL, say).

    .venv/bin/python bench/http_throughput.py [--rounds 6] [--seconds 8] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from directives.taxonomy import Role  # noqa: E402
from gateway.auth import issue_token  # noqa: E402
from gateway.settings import Settings  # noqa: E402

QUERY = "{ users(first: 100) { nodes { id fullName email phone createdAt deletionState } } }"


def serve(database_url: str, port: int, enforce: bool) -> None:
    """The server process of one round."""
    import uvicorn

    from gateway.app import create_app
    from gateway.serving import uvicorn_options

    settings = Settings(database_url=database_url, env="test", access_log=False)
    app = create_app(settings, enforce_privacy=enforce)
    uvicorn.run(app, host="127.0.0.1", port=port, **uvicorn_options(settings))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def drive(base: str, headers: dict[str, str], connections: int, seconds: float) -> float:
    """Requests/s over `seconds` with `connections` clients, each one request at a time."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        payload = {"query": QUERY}

        async def one() -> None:
            response = await http.post("/graphql", json=payload, headers=headers)
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                raise SystemExit(f"bad answer {response.status_code}: {response.text[:300]}")

        for _ in range(3):  # warm-up: connections, query cache, masks
            await asyncio.gather(*(one() for _ in range(connections)))

        done = 0
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await one()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        return done / (time.perf_counter() - started)


def round_of(database_url: str, enforce: bool, args: argparse.Namespace, token: str) -> float:
    port = _free_port()
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "on" if enforce else "off",
            "--port",
            str(port),
            "--database-url",
            database_url,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise SystemExit("the gateway did not start")
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}", "X-Processing-Purpose": "ANALYTICS"}
        return asyncio.run(drive(base, headers, args.connections, args.seconds))
    finally:
        child.terminate()
        child.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="rounds per mode")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--users", type=int, default=2000, help="users of a fresh database")
    parser.add_argument("--database-url", help="an existing, seeded database")
    parser.add_argument("--serve", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.database_url, args.port, args.serve == "on")
        return

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url
        if url is None:
            from gateway.migrate import upgrade
            from gateway.seed import seed_database

            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            settings = Settings(database_url=url, env="test")
            upgrade(settings)
            asyncio.run(seed_database(settings, users=args.users, seed=7, progress=False))
        settings = Settings(database_url=url, env="test")
        token = issue_token(settings, employee_id=3, role=Role.ANALYST, ttl_seconds=86400)
        print(
            f"query: analyst, ANALYTICS, {QUERY}\n{args.connections} connections, "
            f"{args.seconds:g} s per round, {args.rounds} rounds per mode, "
            f"database {Settings(database_url=url).database_url.split('://')[0]}"
        )
        on: list[float] = []
        off: list[float] = []
        for i in range(args.rounds):
            order = (True, False) if i % 2 == 0 else (False, True)
            for enforce in order:
                (on if enforce else off).append(round_of(url, enforce, args, token))
            print(
                f"round {i + 1}: on {on[-1]:8.1f} req/s   off {off[-1]:8.1f} req/s   "
                f"on/off {on[-1] / off[-1]:.3f}"
            )
        ratios = [a / b for a, b in zip(on, off, strict=True)]
        print(
            f"median: on {statistics.median(on):.1f} req/s, off {statistics.median(off):.1f} "
            f"req/s; on/off {statistics.median(ratios):.3f} (paired rounds, median; "
            f"min {min(ratios):.3f}, max {max(ratios):.3f}); goal >= 0.95: "
            f"{'met' if statistics.median(ratios) >= 0.95 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
