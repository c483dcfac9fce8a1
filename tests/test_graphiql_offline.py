"""GraphiQL at GET /graphql is the package's own page: React, ReactDOM and GraphiQL come from
/static (gateway/console/static/vendor), so it loads and runs a query with the network cut
off. Driven in Debian's headless Chromium against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Request, Response, async_playwright

from gateway.app import create_app
from gateway.console.pages import PAGE_CSP
from gateway.migrate import upgrade
from gateway.settings import Settings
from tests.conftest import fresh_database
from tests.test_console import chromium_executable, live_gateway, offline_page

REFERENCE = re.compile(r"\b(?:src|href)=\"([^\"]*)\"", re.I)
VENDORED = (
    "/static/vendor/react.production.min.js",
    "/static/vendor/react-dom.production.min.js",
    "/static/vendor/graphiql.min.js",
    "/static/vendor/graphiql.min.css",
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    url, drop = fresh_database("sqlite", str(tmp_path_factory.mktemp("graphiql")))
    migrated = Settings(database_url=url, env="test")
    upgrade(migrated)
    yield migrated
    drop()


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[str]:
    with live_gateway(settings) as base:
        yield base


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(
            executable_path=chromium_executable(), timeout=30_000
        )
        yield chromium
        await chromium.close()


async def test_graphiql_runs_a_query_with_the_network_cut_off(
    gateway: str, browser: Browser
) -> None:
    async with offline_page(browser, gateway) as (page, guard):
        asked: list[str] = []

        def note(request: Request) -> None:
            asked.append(request.url)

        page.on("request", note)
        response = await page.goto(f"{gateway}/graphql")
        assert response is not None and response.status == 200
        assert response.headers["content-security-policy"] == PAGE_CSP
        editor = page.locator(".graphiql-container .graphiql-query-editor .CodeMirror")
        await editor.wait_for()
        # The schema came in by introspection, through the same origin; now run the query.
        async with page.expect_response(_the_query) as answered:
            await page.locator(".graphiql-execute-button").click()
        body = await (await answered.value).json()
        assert {e["fieldName"] for e in body["data"]["privacyCatalog"]} >= {"email", "phone"}
        assert "policyVersion" in body["extensions"]["privacy"]
        shown = page.locator(".result-window", has_text="privacyCatalog")
        await shown.wait_for()
        assert "typeName" in await shown.inner_text()

    assert guard.elsewhere == [], "nothing was asked of another origin"
    assert asked and all(url.startswith(gateway + "/") for url in asked), asked
    paths = {url.removeprefix(gateway).split("?")[0] for url in asked}
    assert set(VENDORED) <= paths
    assert "/graphql" in paths


def _the_query(response: Response) -> bool:
    sent = response.request
    return sent.method == "POST" and "privacyCatalog" in (sent.post_data or "")


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return replace(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/gw.db", env="test"), **changes
    )


async def _get(settings: Settings, path: str, **headers: str) -> httpx.Response:
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            return await http.get(path, headers=headers)
    finally:
        await app.state.gateway.aclose()


async def test_the_page_names_only_the_gateways_own_files(tmp_path: Path) -> None:
    page = await _get(_settings(tmp_path), "/graphql", accept="text/html")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == PAGE_CSP
    assert "https://" not in page.text and "http://" not in page.text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) is None, "no inline script"
    references = REFERENCE.findall(page.text)
    assert all(url.startswith(("/static/", "data:")) for url in references), references
    named = {url.split("?")[0] for url in references}
    assert set(VENDORED) <= named
    for url in references:
        if url.startswith("/static/"):
            asset = await _get(_settings(tmp_path), url)
            assert asset.status_code == 200, url
            assert "immutable" in asset.headers["cache-control"]


async def test_graphiql_can_be_turned_off(tmp_path: Path) -> None:
    off = _settings(tmp_path, graphiql=False)
    page = await _get(off, "/graphql", accept="text/html")
    assert page.status_code == 404
    assert page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "GATEWAY_GRAPHIQL" in page.json()["errors"][0]["message"]
    query = await _get(off, "/graphql?query={__typename}", accept="text/html")
    assert query.json()["data"] == {"__typename": "Query"}, "queries still run"
    assert Settings.from_env({"GATEWAY_GRAPHIQL": "0"}).graphiql is False
