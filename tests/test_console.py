"""The DPO console (/console): a static page and its own assets, driven in Debian's headless
Chromium through Playwright against a real uvicorn server on 127.0.0.1.

The browser tests need `chromium` (`.ci/run` installs it). Without it they fail, naming the
fix; they never skip. Every request the page makes to another origin is aborted and recorded,
and the tests assert there were none (and no Content-Security-Policy violation either).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, Playwright, Route, async_playwright

from gateway.app import create_app
from gateway.console.pages import PAGE_CSP, digest
from gateway.settings import Settings
from tests.conftest import (
    BACKENDS,
    Database,
    employee_token,
    fetch,
    make_database,
    user_token,
)

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
SCRIPT_WITHOUT_SRC = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
REFERENCE = re.compile(r"\b(?:src|href)=\"([^\"]*)\"", re.I)
# Run before any script of the page; CDP injects it, so the page's CSP does not apply to it.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""
WAIT = 15_000  # milliseconds: the longest a page step may take


# -- a real server and a real browser (also used by test_graphiql_offline) ----------------------


def chromium_executable() -> str:
    """Debian's chromium: GATEWAY_TEST_CHROMIUM, the package's binary, or `chromium` on PATH."""
    named = os.environ.get("GATEWAY_TEST_CHROMIUM")
    for candidate in (named, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "Debian's chromium is not installed, and the browser tests need it: "
        "apt-get install -y chromium (.ci/run does), or set GATEWAY_TEST_CHROMIUM",
        pytrace=False,
    )


@contextlib.contextmanager
def live_gateway(settings: Settings) -> Iterator[str]:
    """The app under a real uvicorn server on 127.0.0.1 (an ephemeral port, in a thread);
    yields its base URL once /healthz answers."""
    app = create_app(settings)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(app, log_config=None, http="h11", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        _wait_until_healthy(base, thread)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        listener.close()
    assert not thread.is_alive(), "the test server did not stop"


def _wait_until_healthy(base: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert thread.is_alive(), "the test server stopped before it answered"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling interval, not synchronisation: the loop asks again
    pytest.fail(f"{base}/healthz did not answer within 20 s", pytrace=False)


class OwnOriginOnly:
    """A page route handler: requests to `base` go through, any other is aborted and noted."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.elsewhere: list[str] = []

    async def __call__(self, route: Route) -> None:
        url = route.request.url
        if url == self.base or url.startswith(self.base + "/"):
            await route.continue_()
        else:
            self.elsewhere.append(url)
            await route.abort("internetdisconnected")


@contextlib.asynccontextmanager
async def offline_page(browser: Browser, base: str) -> AsyncIterator[tuple[Page, OwnOriginOnly]]:
    """A fresh page that can reach `base` only, recording CSP violations and page errors."""
    context = await browser.new_context(
        viewport={"width": 1300, "height": 900}, service_workers="block"
    )
    try:
        guard = OwnOriginOnly(base)
        await context.route("**/*", guard)
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.set_default_timeout(WAIT)
        yield page, guard
        violations = await page.evaluate("() => window.__cspViolations")
        assert violations == [], violations
        assert errors == [], errors
        assert guard.elsewhere == [], f"the page tried to load {guard.elsewhere}"
    finally:
        await context.close()


@pytest.fixture(scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    chromium = await playwright.chromium.launch(
        executable_path=chromium_executable(), timeout=30_000
    )
    yield chromium
    await chromium.close()


# -- the page and its assets, without a browser ----------------------------------------------


def _settings(**changes: Any) -> Settings:
    return replace(Settings(database_url="sqlite+aiosqlite:///:memory:", env="test"), **changes)


async def _get(settings: Settings, path: str, **headers: str) -> httpx.Response:
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            return await http.get(path, headers=headers)
    finally:
        await app.state.gateway.aclose()


async def test_the_console_is_a_static_page_under_a_strict_policy() -> None:
    anonymous = await _get(_settings(), "/console")
    assert anonymous.status_code == 200
    assert anonymous.headers["content-type"].startswith("text/html")
    assert anonymous.headers["content-security-policy"] == PAGE_CSP
    assert "'unsafe-inline'" not in PAGE_CSP and "'unsafe-eval'" not in PAGE_CSP
    assert anonymous.headers["cache-control"] == "no-cache"
    # No data in the page: whoever asks gets the same bytes.
    signed = await _get(_settings(), "/console", authorization="Bearer x.y.z")
    assert signed.content == anonymous.content
    assert SCRIPT_WITHOUT_SRC.search(anonymous.text) is None, "no inline script"
    assert " style=" not in anonymous.text, "no inline style"
    for url in REFERENCE.findall(anonymous.text):
        assert url.startswith(("/static/", "#", "data:")), url


async def test_assets_come_from_the_package_with_long_cache_headers() -> None:
    settings = _settings()
    page = (await _get(settings, "/console")).text
    assets = [url for url in REFERENCE.findall(page) if url.startswith("/static/")]
    assert {"/static/console.js", "/static/console.css"} <= {a.split("?")[0] for a in assets}
    for url in assets:
        name = url.removeprefix("/static/").split("?")[0]
        assert url.endswith(f"?v={digest(name)}")
        current = await _get(settings, url, **{"accept-encoding": "gzip"})
        assert current.status_code == 200
        assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert current.headers["x-content-type-options"] == "nosniff"
        assert current.headers["content-encoding"] == "gzip"
    stale = await _get(settings, "/static/console.js?v=0000")
    assert (stale.status_code, stale.headers["cache-control"]) == (200, "no-cache")
    for missing in ("/static/nothing.js", "/static/../pages.py", "/static/%2e%2e/pages.py"):
        assert (await _get(settings, missing)).status_code == 404, missing


async def test_console_and_metrics_can_be_turned_off() -> None:
    assert (await _get(_settings(console=False), "/console")).status_code == 404
    assert (await _get(_settings(metrics=False), "/metrics")).status_code == 404
    env = Settings.from_env({"GATEWAY_CONSOLE": "0", "GATEWAY_METRICS": "false"})
    assert (env.console, env.metrics) == (False, False)
    assert (Settings.from_env({}).console, Settings.from_env({}).metrics) == (True, True)


# -- the console in a browser -----------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A private database: the test changes requests in it."""
    db, drop = make_database(request.param, str(tmp_path_factory.mktemp("console")))
    yield db
    drop()


@pytest.fixture(scope="module")
def gateway(database: Database) -> Iterator[str]:
    with live_gateway(database.settings) as base:
        yield base


async def _graphql(base: str, query: str, token: str, purpose: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose:
        headers["X-Processing-Purpose"] = purpose
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.post("/graphql", json={"query": query}, headers=headers)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


async def _sign_in(page: Page, token: str) -> None:
    await page.fill("#token", token)
    await page.click("#sign-in-form button[type=submit]")


async def test_a_dpo_resolves_an_inquiry_in_the_console(
    database: Database, gateway: str, browser: Browser
) -> None:
    message = "Which of my data do sellers see? <b>not markup</b>"
    filed = (
        await _graphql(
            gateway,
            "mutation { submitPrivacyInquiry(kind: QUESTION, "
            f'message: "{message}") {{ request {{ id }} errors {{ code }} }} }}',
            user_token(database, "buyer"),
        )
    )["submitPrivacyInquiry"]
    assert filed["errors"] == []
    request_id = filed["request"]["id"]
    dpo = employee_token(database, "dpo")

    async with offline_page(browser, gateway) as (page, _):
        await page.goto(f"{gateway}/console")

        # A buyer's token signs in to the page, and sees the API's refusal.
        await _sign_in(page, user_token(database, "buyer"))
        refusal = page.locator("[data-testid=problem]")
        await refusal.wait_for()
        assert "FORBIDDEN" in await refusal.inner_text()
        await page.click("#sign-out")
        await page.locator("#sign-in-form").wait_for()

        # The DPO's queue: open requests by due date, the overdue ones marked.
        await _sign_in(page, dpo)
        row = page.locator(f'[data-testid=queue] tr[data-request="{request_id}"]')
        await row.wait_for()
        shown = [
            (
                await r.get_attribute("data-request"),
                await r.get_attribute("data-due"),
                await r.get_attribute("class") or "",
            )
            for r in await page.locator("[data-testid=queue] tbody tr").all()
        ]
        queue = await _graphql(
            gateway,
            "{ a: privacyRequests(status: RECEIVED, first: 100) { nodes { id overdue } }"
            "  b: privacyRequests(status: IN_PROGRESS, first: 100) { nodes { id overdue } } }",
            dpo,
            "LEGAL",
        )
        open_requests = queue["a"]["nodes"] + queue["b"]["nodes"]
        assert {r[0] for r in shown} == {r["id"] for r in open_requests}
        assert [r[1] for r in shown] == sorted((r[1] for r in shown), key=_moment)
        overdue = {r["id"] for r in open_requests if r["overdue"]}
        assert overdue, "the seed has overdue requests"
        assert {r[0] for r in shown if "overdue" in r[2].split()} == overdue
        assert await page.locator("[data-testid=queue] .badge.overdue").count() == len(overdue)

        # The request, its history, and its resolution.
        await row.locator("a").first.click()
        title = page.locator("[data-testid=request-title]")
        await title.wait_for()
        assert "INQUIRY" in await title.inner_text()
        assert "RECEIVED" in await title.inner_text()
        assert message in await page.locator("dl.facts").inner_text(), "shown as text, not HTML"
        assert await page.locator("dl.facts b").count() == 0
        assert "FILED" in await page.locator("[data-testid=history]").inner_text()
        summary = await page.locator("[data-testid=erasure-summary]").inner_text()
        assert "Not a deletion" in summary
        answer = "Sellers see your name and shipping address while an order is open."
        form = page.locator("[data-testid=resolve-form]")
        await form.locator("select[name=status]").select_option("COMPLETED")
        await form.locator("textarea[name=answer]").fill(answer)
        await form.locator("button[type=submit]").click()
        done = f"Request #{request_id} resolved: COMPLETED."
        await page.locator("#flash", has_text=done).wait_for()
        await page.locator("[data-testid=request-title]", has_text="COMPLETED").wait_for()
        assert await page.locator("[data-testid=outcome]").inner_text() == answer
        assert "ANSWERED" in await page.locator("[data-testid=history]").inner_text()
        assert await page.locator("[data-testid=resolve-form]").count() == 0, "closed: no form"

        # The queue no longer lists it among the open ones.
        await page.click("#tabs a[data-tab=queue]")
        await page.locator("[data-testid=queue] tbody tr").first.wait_for()
        assert await page.locator(f'tr[data-request="{request_id}"]').count() == 0

    stored = await fetch(
        database,
        "SELECT status, outcome, completed_at FROM privacy_requests WHERE id = :id",
        id=int(request_id),
    )
    assert [(status, outcome) for status, outcome, _ in stored] == [("COMPLETED", answer)]
    assert stored[0][2] is not None


async def test_the_other_pages_show_what_the_api_returns(
    database: Database, gateway: str, browser: Browser
) -> None:
    dpo = employee_token(database, "dpo")
    async with offline_page(browser, gateway) as (page, _):
        await page.goto(f"{gateway}/console")
        await _sign_in(page, dpo)
        await page.locator("[data-testid=queue]").wait_for()

        await page.click("#tabs a[data-tab=catalog]")
        catalog = page.locator("[data-testid=catalog] tbody tr")
        await catalog.first.wait_for()
        entries = await _graphql(gateway, "{ privacyCatalog { fieldName } }", dpo, "LEGAL")
        assert await catalog.count() == len(entries["privacyCatalog"])

        await page.click("#tabs a[data-tab=subject]")
        await page.fill("[data-testid=subject-form] input[name=id]", "4")
        await page.click("[data-testid=subject-form] button")
        matrix = page.locator("[data-testid=redaction-status] table.matrix")
        await matrix.wait_for()
        status = await _graphql(
            gateway, "{ redactionStatus(subjectId: 4) { fields { fieldName } } }", dpo, "LEGAL"
        )
        fields = status["redactionStatus"]["fields"]
        assert await matrix.locator("tbody tr").count() == len(fields)

        await page.click("#tabs a[data-tab=chart]")
        chart = page.locator("[data-testid=due-week-chart]")
        await chart.wait_for()
        every = await _graphql(
            gateway, "{ privacyRequests(first: 100) { nodes { id } } }", dpo, "LEGAL"
        )
        weeks = await chart.locator("g.week").all()
        drawn = sum([int(await w.get_attribute("data-total") or 0) for w in weeks])
        assert drawn == len(every["privacyRequests"]["nodes"])


async def test_incidents_with_their_deadlines_and_the_audit_chain(
    database: Database, gateway: str, browser: Browser
) -> None:
    dpo = employee_token(database, "dpo")
    known = await _graphql(
        gateway,
        "{ securityIncidents(first: 10) { nodes { id overdue authorityNotifications "
        "{ id jurisdiction sentAt overdue } } } }",
        dpo,
        "LEGAL",
    )
    incidents = known["securityIncidents"]["nodes"]
    late = [n for i in incidents for n in i["authorityNotifications"] if n["overdue"]]
    assert late, "the seed has an authority notice past due"
    notice = late[0]
    async with offline_page(browser, gateway) as (page, _):
        await page.goto(f"{gateway}/console#incidents")
        await _sign_in(page, dpo)
        cards = page.locator("[data-testid=incidents] article")
        await cards.first.wait_for()
        assert await cards.count() == len(incidents)
        marked = page.locator("[data-testid=incidents] article.overdue")
        assert await marked.count() == sum(1 for i in incidents if i["overdue"])
        row = page.locator(f'table.notices tr[data-notice="{notice["id"]}"]')
        assert "OVERDUE" in await row.inner_text()

        await row.locator("input[name=reference]").fill("DPA-2026-0042")
        await row.locator("button[type=submit]").click()
        await page.locator("#flash", has_text="recorded as made").wait_for()
        row = page.locator(f'table.notices tr[data-notice="{notice["id"]}"]')
        await row.locator(".badge", has_text="MADE").wait_for()
        assert "DPA-2026-0042" in await row.inner_text()

        await page.click("#tabs a[data-tab=audit]")
        verdict = page.locator("[data-testid=audit-chain] .verdict")
        await verdict.wait_for()
        text = await verdict.inner_text()
        chain = await _graphql(gateway, "{ verifyAuditChain { intact events } }", dpo, "LEGAL")
        assert chain["verifyAuditChain"]["intact"] is True
        checked = re.search(r"^Intact — (\d+) events? checked$", text)
        assert checked is not None, text
        # Recording the notice was audited; the page walked the chain just before we did.
        assert 0 < int(checked.group(1)) <= chain["verifyAuditChain"]["events"]

    stored = await fetch(
        database,
        "SELECT sent_at, reference FROM notifications WHERE id = :id",
        id=int(notice["id"]),
    )
    assert stored[0][0] is not None and stored[0][1] == "DPA-2026-0042"


def _moment(value: str | None) -> float:
    assert value is not None
    return datetime.fromisoformat(value).timestamp()
