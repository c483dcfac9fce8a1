"""Serving: real processes (`serve --workers N`, TLS), the fast path, security headers, CORS,
request ids, access lines, and structured logs that hold nothing personal.

Real servers listen on 127.0.0.1 ephemeral ports and are waited for by polling /healthz in
a bounded loop. `serving()` is shared with tests/test_ratelimit.py.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import gateway.app
from directives.taxonomy import Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.logs import JsonFormatter, TextFormatter
from gateway.migrate import upgrade
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from gateway.serving import fast_path, uvicorn_options
from gateway.settings import Settings
from resolvers import queries
from tests.leakcheck import TOKEN_RE, CanaryGateway, canary_fixture

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = shutil.which("privacy-gateway", path=str(Path(sys.executable).parent))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "gateway.cli"]
READY_SECONDS = 60

canary = canary_fixture()


# -- real processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def migrated_sqlite(directory: Path) -> str:
    """A migrated, empty SQLite database (anonymous requests need no rows)."""
    url = f"sqlite+aiosqlite:///{directory / 'gateway.db'}"
    upgrade(Settings(database_url=url, env="test"))
    return url


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    verify: ssl.SSLContext | bool = True
    children: set[int] = field(default_factory=set)

    def lines(self) -> list[dict[str, Any]]:
        """Every stderr line, each of which must be a JSON object."""
        text = self.log.read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=10)


@contextlib.contextmanager
def serving(
    directory: Path,
    env: dict[str, str],
    *args: str,
    verify: ssl.SSLContext | None = None,
) -> Iterator[Served]:
    """`privacy-gateway serve` on a free port of 127.0.0.1 with exactly `env`'s GATEWAY_*
    settings, until it answers /healthz; stopped (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    scheme = "https" if verify is not None else "http"
    log = directory / f"serve-{port}.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", str(port), *args],
            cwd=directory,
            env={**environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    served = Served(f"{scheme}://127.0.0.1:{port}", process, log, verify or True)
    try:
        deadline = time.monotonic() + READY_SECONDS
        with served.client() as http:
            while True:
                try:
                    if http.get("/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"serve did not become ready:\n{log.read_text()}")
                try:  # the pause between polls doubles as a check that it is still alive
                    process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    continue
                pytest.fail(f"serve exited with {process.returncode}:\n{log.read_text()}")
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in served.children:  # workers whose supervisor was killed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`serve --workers 2` over TLS with a self-signed certificate."""
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = self_signed_certificate(directory)
    env = {
        "GATEWAY_DATABASE_URL": migrated_sqlite(directory),
        "GATEWAY_TLS_CERT_FILE": str(cert_file),
        "GATEWAY_TLS_KEY_FILE": str(key_file),
    }
    trust = ssl.create_default_context(cafile=str(cert_file))
    with serving(directory, env, "--workers", "2", verify=trust) as served:
        yield served


def _started_workers(served: Served, count: int) -> set[int]:
    """The pids of `count` workers that logged their startup (bounded wait)."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        pids = {
            line["pid"]
            for line in served.lines()
            if line["message"] == "Application startup complete."
        }
        served.children |= pids
        if len(pids) >= count or time.monotonic() > deadline:
            return pids
        try:
            served.process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"serve exited:\n{served.log.read_text()}")


def test_tls_with_a_certificate_and_hsts(tls_workers: Served) -> None:
    with tls_workers.client() as http:
        response = http.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    with (
        httpx.Client(base_url=tls_workers.url, timeout=10) as untrusting,
        pytest.raises(httpx.ConnectError),
    ):
        untrusting.get("/healthz")  # the system's trust store does not know this certificate
    plain = tls_workers.url.replace("https://", "http://")
    with httpx.Client(base_url=plain, timeout=10) as http, pytest.raises(httpx.TransportError):
        http.get("/healthz")


def test_workers_are_separate_processes_logging_json(tls_workers: Served) -> None:
    workers = _started_workers(tls_workers, 2)
    assert len(workers) == 2, tls_workers.log.read_text()
    assert tls_workers.process.pid not in workers
    with tls_workers.client() as http:
        for _ in range(6):
            assert http.get("/healthz").status_code == 200
    lines = tls_workers.lines()  # every line parses as JSON
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert len(access) >= 6
    assert {line["pid"] for line in access} <= workers
    assert all(line["request_id"] for line in access)
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
    (started,) = [line["message"] for line in lines if line["logger"] == "gateway.serve"]
    assert started == "2 process(es), event loop uvloop, HTTP parser httptools, TLS"


def test_fast_path_uses_uvloop_and_httptools_and_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert fast_path() == ("uvloop", "httptools")
    options = uvicorn_options(Settings())
    assert (options["loop"], options["http"]) == ("uvloop", "httptools")
    assert options["access_log"] is False and options["proxy_headers"] is False
    assert "ssl_certfile" not in options

    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert fast_path() == ("asyncio", "h11")


# -- in-process apps ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def client(
    tmp_path: Path, *, peer: str = "127.0.0.1", **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on an empty SQLite file; `peer` is the address the app sees."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", env="test")
    app = create_app(replace(settings, **overrides))
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http
    finally:
        await app.state.gateway.rate_limits.aclose()
        await app.state.gateway.aclose()


TYPENAME = {"query": "{ __typename }"}
SECURITY = ("x-content-type-options", "referrer-policy", "x-frame-options")


async def test_security_headers_on_every_response(tmp_path: Path) -> None:
    async with client(tmp_path) as http:
        responses = [
            await http.post("/graphql", json=TYPENAME),
            await http.post("/graphql", content=b"{", headers={"content-type": "application/json"}),
            await http.get("/healthz"),
            await http.get("/no-such-page"),
        ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "strict-transport-security" not in response.headers  # no TLS here
        assert "server" not in response.headers


async def test_security_headers_can_be_turned_off(tmp_path: Path) -> None:
    async with client(tmp_path, security_headers=False) as http:
        response = await http.post("/graphql", json=TYPENAME)
    assert not {*SECURITY, "content-security-policy"} & set(response.headers)


_SCRIPT_SRC = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


async def test_the_graphiql_page_is_allowed_what_it_loads(tmp_path: Path) -> None:
    """Whichever GraphiQL page is served, its CSP admits each of its scripts (by origin, or
    by hash when inline) and its stylesheets, and lets it fetch /graphql."""
    import base64
    import hashlib

    async with client(tmp_path) as http:
        response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    policy = dict(
        (part.split()[0], part.split()[1:])
        for part in response.headers["content-security-policy"].split(";")
        if part.strip()
    )
    assert "'self'" in policy["connect-src"]
    assert "'none'" in policy["frame-ancestors"]
    assert "'unsafe-eval'" not in policy["script-src"]
    for attributes, body in _SCRIPT_SRC.findall(response.text):
        src = re.search(r'\bsrc="([^"]+)"', attributes)
        if src is None:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy["script-src"], "an inline script is blocked"
        elif src.group(1).startswith("https://"):
            origin = "/".join(src.group(1).split("/")[:3])
            assert origin in policy["script-src"], origin
        else:
            assert "'self'" in policy["script-src"]
    for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', response.text):
        origin = "/".join(href.split("/")[:3]) if href.startswith("https://") else "'self'"
        assert origin in policy["style-src"], href


async def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-processing-purpose",
    }
    async with client(tmp_path) as http:
        response = await http.post(
            "/graphql", json=TYPENAME, headers={"Origin": preflight["Origin"]}
        )
        assert "access-control-allow-origin" not in response.headers  # default: none
    async with client(tmp_path, cors_origins=("https://shop.example",)) as http:
        response = await http.options("/graphql", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert "x-processing-purpose" in response.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        response = await http.post(
            "/graphql", json=TYPENAME, headers={"Origin": preflight["Origin"]}
        )
        assert response.headers["access-control-allow-origin"] == "https://shop.example"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        other = await http.options(
            "/graphql", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


@contextlib.contextmanager
def captured(level: int = logging.INFO) -> Iterator[io.StringIO]:
    """Everything logged to the root logger while inside, as the JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    # The test's own HTTP client logs its URLs; a server has no such client.
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


async def test_request_ids_are_generated_echoed_and_believed_only_from_proxies(
    tmp_path: Path,
) -> None:
    async with client(tmp_path) as http:
        first = (await http.get("/healthz")).headers["x-request-id"]
        second = (await http.get("/healthz")).headers["x-request-id"]
        told = await http.get("/healthz", headers={"X-Request-Id": "lb-1234"})
    assert re.fullmatch(r"[0-9a-f]{16}", first) and first != second
    assert told.headers["x-request-id"] != "lb-1234", "a client's id is not believed"

    async with client(tmp_path, trusted_proxies=("127.0.0.0/8",)) as http:
        told = await http.get("/healthz", headers={"X-Request-Id": "lb-1234"})
        unsafe = await http.get("/healthz", headers={"X-Request-Id": "a b@c"})
        long = await http.get("/healthz", headers={"X-Request-Id": "x" * 65})
    assert told.headers["x-request-id"] == "lb-1234"
    assert unsafe.headers["x-request-id"] != "a b@c"
    assert long.headers["x-request-id"] != "x" * 65


async def test_access_lines_carry_the_route_not_the_path(tmp_path: Path) -> None:
    with captured() as logs:
        async with client(tmp_path) as http:
            ok = await http.get("/graphql?query={__typename}&variables={}")
            missing = await http.get("/users/zqhhhhhhhh/secret?x=zqmmmmmmmm")
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access] == [
        ("GET", "/graphql", 200),
        ("GET", None, 404),
    ]
    assert [a["request_id"] for a in access] == [
        ok.headers["x-request-id"],
        missing.headers["x-request-id"],
    ]
    assert all(isinstance(a["duration_ms"], float) for a in access)
    assert not TOKEN_RE.search(logs.getvalue()) and "typename" not in logs.getvalue()

    with captured() as logs:
        async with client(tmp_path, access_log=False) as http:
            await http.get("/healthz")
    assert "gateway.access" not in logs.getvalue()


async def test_an_escaping_exception_is_a_masked_500_logged_by_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("zqhhhhhhhh in a message")

    monkeypatch.setattr(gateway.app, "ping", broken)
    with captured() as logs:
        async with client(tmp_path) as http:
            response = await http.get("/healthz")
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    (error,) = [json.loads(line) for line in logs.getvalue().splitlines() if "ERROR" in line]
    assert error["message"].startswith("unexpected RuntimeError at ")
    assert error["request_id"] == response.headers["x-request-id"]
    assert "zqhhhhhhhh" not in logs.getvalue()


def test_log_lines_name_an_exception_by_type_and_place_only() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    try:
        raise ValueError("zqhhhhhhhh")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here"
    assert line["error"] == "ValueError"
    assert line["origin"].startswith("test_serving.py:")
    assert "zqhhhhhhhh" not in JsonFormatter().format(record)
    assert "zqhhhhhhhh" not in TextFormatter().format(record)
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "pid",
        "error",
        "origin",
    }


# -- no personal data in the logs ----------------------------------------------------------------


def _canaries(canary: CanaryGateway) -> list[str]:
    """Planted tokens of the demo buyer (user 1), whom the requests below read and quote."""
    mine = [c.token for c in canary.oracle.canaries if c.table == "users" and c.row_id == 1]
    assert len(mine) >= 3
    return mine


async def test_no_canary_reaches_the_logs(
    canary: CanaryGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Canary values through the gateway every way a request can carry or fetch them, with
    refusals and errors that echo them in responses; the whole log holds none of them, and
    every line parses as JSON and names its request."""
    name, email, phone = _canaries(canary)[:3]
    settings = replace(
        canary.settings,
        access_log=True,
        rate_limit="40/minute",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens: a degradation
        max_batch_operations=2,
        max_body_bytes=20_000,
    )
    support_id, _ = DEMO_EMPLOYEES["support"]
    buyer = {"Authorization": f"Bearer {issue_token(settings, user_id=DEMO_USERS['buyer'])}"}
    staff = issue_token(settings, employee_id=support_id, role=Role.SUPPORT)
    support = {"Authorization": f"Bearer {staff}", "X-Processing-Purpose": "SUPPORT"}
    as_json = {"Content-Type": "application/json"}
    reads = [
        ("{ me { fullName email phone addresses { line1 city postalCode } } }", buyer),
        ("{ user(id: 1) { fullName email phone } }", support),
    ]
    echoing: list[dict[str, Any]] = [
        {"query": f'{{ user(id: "{name}") {{ id }} }}'},
        {"query": f"{{ {name} }}"},
        {"query": f'{{ me {{ "{email}" }} }}'},
        {"query": "query($id: ID!) { user(id: $id) { id } }", "variables": {"id": phone}},
        {"query": "query($n: Int) { users(first: $n) { id } }", "variables": {"n": {"v": name}}},
        {"query": f'mutation {{ updateMyProfile(input: {{phone: "{phone}"}}) {{ __typename }} }}'},
        {"documentId": f"sha256:{name}"},
        {"query": "{ __typename }", "extensions": {"persistedQuery": {"sha256Hash": email}}},
        {"query": "{ __typename }", "operationName": name},
    ]

    async def unexpected(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"row {name} {email} failed")

    app = create_app(settings)
    sent: list[str] = []
    with captured() as logs:
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:

                async def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
                    response = await http.request(method, url, **kwargs)
                    sent.append(response.headers["x-request-id"])
                    return response

                for query, headers in reads:
                    response = await send(
                        "POST", "/graphql", json={"query": query}, headers=headers
                    )
                    assert TOKEN_RE.search(response.text), "the read fetched canaries"
                for body in echoing:
                    await send("POST", "/graphql", json=body, headers=buyer)
                for bad in ({"Authorization": f"Bearer {name}"}, {"Authorization": email}):
                    await send("POST", "/graphql", json=echoing[0], headers=bad)
                purpose = {**support, "X-Processing-Purpose": name}
                await send("POST", "/graphql", json=echoing[0], headers=purpose)
                told = {"X-Request-Id": name, "X-Forwarded-For": email, "X-Privacy-Report": phone}
                await send("POST", "/graphql", json={"query": "{ __typename }"}, headers=told)
                await send("GET", f'/graphql?query={{{name}}}&variables={{"a":"{email}"}}')
                await send("GET", f"/graphql/{name}?{email}")
                await send("GET", f"/{name}")
                await send(
                    "POST", "/graphql", content=f'{{"query": "{name}'.encode(), headers=as_json
                )
                await send(
                    "POST", "/graphql", content=f'"{email}"'.encode() * 2000, headers=as_json
                )
                await send("POST", "/graphql", json=[echoing[0]] * 3, headers=buyer)
                await send("PUT", "/graphql", json=echoing[0])
                with monkeypatch.context() as patched:
                    patched.setattr(queries, "page", unexpected)
                    products = {"query": "{ products(first: 1) { nodes { id } } }"}
                    response = await send("POST", "/graphql", json=products)
                    assert "Unexpected error." in response.text
                for _ in range(45):  # past the limit: 429s, counted in memory (Redis is down)
                    await send("POST", "/graphql", json={"query": "{ __typename }"})
        finally:
            await app.state.gateway.rate_limits.aclose()
            await app.state.gateway.aclose()

    text = logs.getvalue()
    assert not TOKEN_RE.findall(text), TOKEN_RE.findall(text)[:5]
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(line["request_id"] for line in lines), "every line names its request"
    access = [line for line in lines if line["logger"] == "gateway.access"]
    assert [line["request_id"] for line in access] == sent
    assert {200, 400, 401, 404, 405, 413, 429} <= {line["status"] for line in access}
    warnings = [line for line in lines if line["logger"] == "gateway.ratelimit"]
    assert [line["level"] for line in warnings] == ["WARNING"], "one warning, however many hits"
    assert any(line["level"] == "ERROR" for line in lines), "the masked error is logged"
    assert "redis://" not in text and "127.0.0.1" not in text
