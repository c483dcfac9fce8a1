"""The installed `privacy-gateway` command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from directives.taxonomy import Role
from gateway.auth import ViewerKind, verify_token
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = shutil.which("privacy-gateway", path=str(Path(sys.executable).parent))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "gateway.cli"]
UNREACHABLE_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/gateway"

# Every subcommand and the options its --help must describe.
OPTIONS = {
    "demo": ["--host", "--port", "--db", "--users", "--fresh"],
    "serve": ["--host", "--port"],
    "seed": ["--users", "--seed", "--quiet"],
    "token": ["--user", "--employee", "--role", "--ttl"],
    "export-schema": [],
    "catalog": ["--format"],
    "migrate": [],
}


def _env(**overrides: str) -> dict[str, str]:
    """The caller's environment without any GATEWAY_* setting, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(overrides)
    return env


def cli(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in OPTIONS:
        assert re.search(rf"^\s+{re.escape(command)}\s+\S", result.stdout, re.M), command


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_help_of_each_command_describes_its_options(command: str, tmp_path: Path) -> None:
    result = cli(command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: privacy-gateway {command}")
    for option in OPTIONS[command]:
        assert _description(result.stdout, option), (option, result.stdout)


def _description(help_text: str, option: str) -> str:
    """The help text argparse prints for `option`: beside it, or on the next line."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s+{re.escape(option)}\b", line):
            beside = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            if len(beside) == 2:
                return beside[1]
            following = lines[i + 1] if i + 1 < len(lines) else ""
            return following.strip() if following.startswith(" " * 8) else ""
    return ""


def test_user_token_is_one_verifiable_line(tmp_path: Path) -> None:
    result = cli("token", "--user", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    claims = verify_token(Settings(), result.stdout.strip())
    assert (claims.kind, claims.subject_id, claims.role) == (ViewerKind.USER, 5, None)


def test_employee_token_with_role_and_ttl(tmp_path: Path) -> None:
    result = cli("token", "--employee", "1", "--role", "dpo", "--ttl", "60", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    token = result.stdout.strip()
    claims = verify_token(Settings(), token)
    assert (claims.kind, claims.subject_id, claims.role) == (ViewerKind.EMPLOYEE, 1, Role.DPO)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 60


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["token", "--employee", "1"], "--employee needs --role"),
        (["token", "--role", "dpo", "--user", "1"], "--role applies to --employee only"),
        (["token", "--employee", "1", "--role", "janitor"], "unknown role"),
        (["seed", "--users", "abc"], "expected a positive integer"),
        (["token", "--user", "-3"], "expected a positive integer"),
        (["demo", "--port", "99999"], "port must be 1-65535"),
        (["unknown-command"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    assert_one_line_failure(cli(*args, cwd=tmp_path), says)


@pytest.mark.parametrize("command", ["serve", "migrate", "seed"])
def test_unreachable_database_is_one_line(command: str, tmp_path: Path) -> None:
    result = cli(command, cwd=tmp_path, GATEWAY_DATABASE_URL=UNREACHABLE_POSTGRES)
    assert_one_line_failure(result, "does not answer")


def test_production_refuses_the_demo_secret(tmp_path: Path) -> None:
    result = cli("serve", cwd=tmp_path, GATEWAY_ENV="production")
    assert_one_line_failure(result, "demo JWT secret")
    assert not list(tmp_path.iterdir()), "nothing may be created before refusing"


def test_export_schema_matches_the_committed_sdl(tmp_path: Path) -> None:
    result = cli("export-schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "directive @personal" in result.stdout
    assert result.stdout.strip() == (ROOT / "schema.graphql").read_text(encoding="utf-8").strip()


def test_catalog_json_lists_the_user_email(tmp_path: Path) -> None:
    result = cli("catalog", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["policyVersion"]
    fields = {(f["type"], f["field"]): f for f in document["fields"]}
    assert fields[("User", "email")]["category"]


def _dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {t: _rows(conn, t) for t in tables}


def _rows(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """A table's rows in a stable order: by rowid, or (a WITHOUT ROWID table) by every
    column."""
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
    except sqlite3.OperationalError:
        width = len(conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description)
        order = ", ".join(str(n) for n in range(1, width + 1))
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}').fetchall()


def test_seed_is_deterministic(tmp_path: Path) -> None:
    dumps = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        path = tmp_path / f"{name}.db"
        result = cli(
            "seed",
            "--users",
            "30",
            "--seed",
            seed,
            "--quiet",
            cwd=tmp_path,
            GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{path}",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        dumps[name] = _dump(path)
    assert len(dumps["a"]["users"]) >= 30
    assert dumps["a"]["users"] == dumps["b"]["users"]
    for table in dumps["a"]:
        assert dumps["a"][table] == dumps["b"][table], f"table {table} differs for the same seed"
    assert dumps["a"]["users"] != dumps["c"]["users"], "another seed must give other data"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A running `privacy-gateway demo` (port, stderr file), stopped afterwards."""
    port = _free_port()
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                *COMMAND,
                "demo",
                "--db",
                str(tmp_path / "demo.db"),
                "--port",
                str(port),
                "--users",
                "30",
            ],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"demo did not become ready:\n{log.read_text()}")
            try:  # the pause between polls doubles as a check that it is still alive
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"demo exited with {process.returncode}:\n{log.read_text()}")
        yield port, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_demo_serves_what_its_banner_promises(demo: tuple[int, Path], tmp_path: Path) -> None:
    port, log = demo
    banner = log.read_text()
    assert "Traceback" not in banner
    assert f"http://127.0.0.1:{port}/graphql" in banner
    assert (tmp_path / "demo.db").is_file()

    tokens = dict(re.findall(r"^\s*(\w+) \((?:user|employee) \d+\): (\S+)$", banner, re.M))
    assert {"buyer", "seller", "logistics", "support", "dpo"} <= set(tokens), banner
    for token in tokens.values():
        verify_token(Settings(), token)

    example = re.search(r"-d '(\{.*\})'", banner)
    assert example, banner
    body = json.loads(example.group(1))
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json=body,
        headers={"Authorization": f"Bearer {tokens['buyer']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert "errors" not in result, result["errors"]
    me = result["data"]["me"]
    assert me["fullName"] and me["email"]
    assert me["orders"], "the demo buyer has orders"
    assert "privacy" in result["extensions"]


@pytest.mark.parametrize("args", [["catalog"], ["catalog", "--format", "json"], ["export-schema"]])
def test_a_reader_that_stops_early_gets_no_traceback(args: list[str], tmp_path: Path) -> None:
    """`privacy-gateway catalog | head`: the reader is gone before the output is written."""
    process = subprocess.Popen(
        [*COMMAND, *args], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the only reader: every write now fails with EPIPE
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141, stderr
    assert stderr == ""


@pytest.mark.parametrize(
    "args",
    [["token", "--user", "x"], ["token", "--employee", "1"], ["bogus"], ["catalog", "--format"]],
)
def test_every_error_has_the_same_prefix(args: list[str], tmp_path: Path) -> None:
    result = cli(*args, cwd=tmp_path)
    assert_one_line_failure(result, "")
    assert result.stderr.startswith("privacy-gateway: error: "), result.stderr


def _seeded(tmp_path: Path, users: int) -> Path:
    path = tmp_path / "demo.db"
    url = f"sqlite+aiosqlite:///{path}"
    result = cli("seed", "--users", str(users), "--quiet", cwd=tmp_path, GATEWAY_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    return path


def _users(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    conn.close()
    return count


def test_demo_refuses_other_users_on_an_existing_database(tmp_path: Path) -> None:
    path = _seeded(tmp_path, 30)
    before = path.read_bytes()
    result = cli("demo", "--db", str(path), "--users", "40", "--port", "1", cwd=tmp_path)
    assert_one_line_failure(result, "already holds 30 users, not 40")
    assert "--fresh" in result.stderr
    assert path.read_bytes() == before, "the database is left as it was"


def test_demo_fresh_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    result = cli("demo", "--db", str(notes), "--fresh", cwd=tmp_path)
    assert_one_line_failure(result, "is not a SQLite database")
    assert notes.read_text() == "not a database"


def test_demo_fresh_recreates_the_database(tmp_path: Path) -> None:
    path = _seeded(tmp_path, 30)
    port = _free_port()
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*COMMAND, "demo", "--db", str(path), "--users", "35", "--fresh", "--port", str(port)],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"demo did not become ready:\n{log.read_text()}")
            try:  # the pause between polls doubles as a check that it is still alive
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"demo exited with {process.returncode}:\n{log.read_text()}")
        assert _users(path) == 35
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
