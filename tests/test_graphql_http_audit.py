"""GraphQL over HTTP conformance: graphql-http's server audits against a real server.

`privacy-gateway serve` runs in a subprocess on 127.0.0.1 over a private seeded database of
each backend; `node tests/graphql_http_audit/audit.mjs <url>` sends the audits' requests
(anonymous, `{ __typename }`, `__type(name:)`, malformed bodies) and every one must pass.
Node and the audit's pinned packages are required: `.ci/run` installs them
(`npm ci --prefix tests/graphql_http_audit`); without them the test fails, never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BACKENDS, Database, make_database

AUDIT_DIR = Path(__file__).parent / "graphql_http_audit"
# graphql-http 1.23.1, as package.json pins it, has 61 server audits; a run with fewer did
# not run them all.
EXPECTED_AUDITS = 61
STARTUP_SECONDS = 60.0
AUDIT_SECONDS = 180.0
INSTALL = "npm ci --prefix tests/graphql_http_audit (.ci/run does)"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"node is not on PATH: the GraphQL-over-HTTP audit needs Node 18+, then {INSTALL}",
            pytrace=False,
        )
    pinned = json.loads((AUDIT_DIR / "package.json").read_text())["dependencies"]
    for package, version in pinned.items():
        installed = AUDIT_DIR / "node_modules" / package / "package.json"
        found = json.loads(installed.read_text())["version"] if installed.exists() else None
        if found != version:
            pytest.fail(
                f"{package} {version} is not installed in {AUDIT_DIR} (found {found}): {INSTALL}",
                pytrace=False,
            )
    return node


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _serve_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("privacy-gateway")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]
    return [*entry, "serve", "--host", "127.0.0.1", "--port", str(port)]


class Server:
    """`privacy-gateway serve` in a subprocess; its output goes to a file, read on failure."""

    def __init__(self, database: Database, log: Path) -> None:
        self.database = database
        self.log_path = log
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A port is free when probed; another process may take it first, so retry.
        for _ in range(3):
            port = _free_port()
            self._spawn(port)
            if self._wait_healthy(port):
                self.url = f"http://127.0.0.1:{port}/graphql"
                return
            self.stop()
        pytest.fail(f"privacy-gateway serve did not start:\n{self.log()}", pytrace=False)

    def _spawn(self, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env |= {
            "GATEWAY_DATABASE_URL": self.database.settings.database_url,
            "GATEWAY_ENV": "test",
            "GATEWAY_LOG_LEVEL": "WARNING",
        }
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                _serve_command(port), env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def _wait_healthy(self, port: int) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if response.status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp(f"audit-{request.param}")
    database, drop = make_database(request.param, str(tmp), users=20)
    running = Server(database, tmp / "serve.log")
    try:
        running.start()
        yield running
    finally:
        running.stop()
        drop()


def run_audit(node: str, url: str) -> list[dict[str, Any]]:
    """The audit's results; its exit status 1 only says that one is not ok."""
    done = subprocess.run(
        [node, "audit.mjs", url],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=AUDIT_SECONDS,
        check=False,
    )
    if done.returncode not in (0, 1):
        pytest.fail(f"the audit could not run (exit {done.returncode}):\n{done.stderr}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def test_every_graphql_over_http_audit_passes(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    node = _node()
    results = run_audit(node, server.url)
    counts = Counter(r["status"] for r in results)
    summary = (
        f"graphql-http audit ({server.database.backend}): {counts['ok']} ok, "
        f"{counts['notice']} notice, {counts['warn']} warn, {counts['error']} error"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    failed = [
        f"{r['id']} {r['status']} (HTTP {r.get('httpStatus')}): {r['name']}: {r.get('reason')}"
        for r in results
        if r["status"] != "ok"
    ]
    assert not failed, summary + "\n" + "\n".join(failed)
    assert len(results) == EXPECTED_AUDITS, summary
    log = server.log()
    assert "unexpected" not in log, f"the server logged an unexpected error:\n{log}"


def test_the_audit_can_fail(tmp_path: Path) -> None:
    """Against an endpoint that answers 404 to everything, the audit reports errors."""
    node = _node()
    port = _free_port()
    nothing = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        results = run_audit(node, f"http://127.0.0.1:{port}/graphql")
    finally:
        nothing.terminate()
        nothing.wait(timeout=15)
    statuses = Counter(r["status"] for r in results)
    assert statuses["error"] > 0, statuses
