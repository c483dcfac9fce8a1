"""HTTP throughput of one gateway process with privacy enforcement on and off, and what the
audit trail costs it (issues 8 and 10).

One uvicorn process on 127.0.0.1 (the options `serve` uses: uvloop, httptools, no access
log) serving one of three apps, the same query from the same viewer: the analyst (purpose
ANALYTICS) asking for `users(first: 100)` with their personal fields.

  on         `create_app(settings)`: enforcement and the audit trail, as served;
  unaudited  `create_app(settings, audit=False)`: enforcement, the reads not written;
  off        `create_app(settings, enforce_privacy=False, audit=False)`: neither.

Enforcement's cost is unaudited/off (the goal: at least 0.95); the audit trail's cost on
this load is on/unaudited. Each round runs the three modes in a rotated order (the server
process is started afresh for each, warmed up, then measured), driving --connections
concurrent keep-alive connections (httpx) for --seconds and counting answers (every one
must be HTTP 200 without errors). Printed: requests/s per round side by side, the median
of each mode, and both ratios, median of the paired rounds. A fresh SQLite database is
seeded in a temporary directory unless --database-url names an existing, seeded one.

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


MODES = ("on", "unaudited", "off")
ENFORCE_GOAL = 0.95


def serve(database_url: str, port: int, mode: str) -> None:
    """The server process of one round."""
    import uvicorn

    from gateway.app import create_app
    from gateway.serving import uvicorn_options

    settings = Settings(database_url=database_url, env="test", access_log=False)
    app = create_app(settings, enforce_privacy=mode != "off", audit=mode == "on")
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


def round_of(database_url: str, mode: str, args: argparse.Namespace, token: str) -> float:
    port = _free_port()
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            mode,
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
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.database_url, args.port, args.serve)
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
        rates: dict[str, list[float]] = {mode: [] for mode in MODES}
        for i in range(args.rounds):
            for mode in MODES[i % 3 :] + MODES[: i % 3]:
                rates[mode].append(round_of(url, mode, args, token))
            on, unaudited, off = (rates[mode][-1] for mode in MODES)
            print(
                f"round {i + 1}: on {on:7.1f}   unaudited {unaudited:7.1f}   off {off:7.1f} "
                f"req/s   unaudited/off {unaudited / off:.3f}   on/unaudited {on / unaudited:.3f}"
            )
        report(rates)


def report(rates: dict[str, list[float]]) -> None:
    def paired(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(rates[a], rates[b], strict=True)]

    medians = ", ".join(f"{mode} {statistics.median(rates[mode]):.1f}" for mode in MODES)
    print(f"median req/s: {medians}")
    enforcement, audit = paired("unaudited", "off"), paired("on", "unaudited")
    verdict = "met" if statistics.median(enforcement) >= ENFORCE_GOAL else "MISSED"
    for name, ratios, note in (
        ("enforcement: unaudited/off", enforcement, f"goal >= {ENFORCE_GOAL}: {verdict}"),
        ("audit trail: on/unaudited", audit, "its cost on this load"),
        ("both: on/off", paired("on", "off"), ""),
    ):
        print(
            f"{name} {statistics.median(ratios):.3f} (paired rounds, median; min "
            f"{min(ratios):.3f}, max {max(ratios):.3f}){'; ' + note if note else ''}"
        )


if __name__ == "__main__":
    main()
