"""GraphQL over HTTP: transport, IDE, health, SDL, and clear 401/400s instead of 500s."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import issue_token
from gateway.settings import Settings
from tests.conftest import Database, employee_token, gql, user_token

QUERY = "{ me { id kind } }"


async def test_post_json(client: httpx.AsyncClient, db: Database) -> None:
    body = await gql(client, QUERY, token=user_token(db, "buyer"))
    assert body["data"]["me"]["kind"] == "BUYER"


async def test_get_with_query_string(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.get(
        "/graphql",
        params={"query": QUERY},
        headers={"Authorization": f"Bearer {user_token(db, 'seller')}"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["me"]["kind"] == "SELLER"


async def test_graphql_response_media_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ products(first: 1) { nodes { id } } }"},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert len(response.json()["data"]["products"]["nodes"]) == 1


async def test_graphiql_for_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_healthz_reports_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "database": "up"}


async def test_healthz_when_database_is_down(tmp_path: pytest.TempPathFactory) -> None:
    settings = Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://g"
    ) as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


async def test_schema_endpoint_serves_sdl(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema.graphql")
    assert response.status_code == 200
    assert "directive @personal" in response.text


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer not-a-token", "token is invalid"),
        ("Basic Zm9vOmJhcg==", "Bearer <token>"),
    ],
)
async def test_malformed_credentials_are_401(
    client: httpx.AsyncClient, header: str, message: str
) -> None:
    response = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert message in response.json()["errors"][0]["message"]
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_wrongly_signed_and_unknown_tokens_are_401(
    client: httpx.AsyncClient, db: Database
) -> None:
    expired = issue_token(db.settings, user_id=1, now=time.time() - 7200, ttl_seconds=60)
    forged = issue_token(Settings(jwt_secret="f" * 40), user_id=1)
    unknown = issue_token(db.settings, user_id=10_000_000)
    erased = user_token(db, "buyer_erased")
    for token, message in [
        (expired, "expired"),
        (forged, "signature"),
        (unknown, "unknown"),
        (erased, "unknown"),
    ]:
        response = await client.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token
        assert message in response.json()["errors"][0]["message"]


async def test_employee_needs_a_known_purpose(client: httpx.AsyncClient, db: Database) -> None:
    token = employee_token(db, "support")
    missing = await client.post(
        "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status_code == 400
    assert "X-Processing-Purpose" in missing.json()["errors"][0]["message"]
    unknown = await client.post(
        "/graphql",
        json={"query": QUERY},
        headers={"Authorization": f"Bearer {token}", "X-Processing-Purpose": "MARKETING"},
    )
    assert unknown.status_code == 400
    assert "unknown processing purpose" in unknown.json()["errors"][0]["message"]
    ok = await gql(client, "{ users(first: 2) { nodes { id } } }", token=token, purpose="SUPPORT")
    assert len(ok["data"]["users"]["nodes"]) == 2


async def test_page_size_has_a_hard_cap(client: httpx.AsyncClient, db: Database) -> None:
    body = await gql(
        client,
        "{ users(first: 5000) { nodes { id } } }",
        token=employee_token(db, "dpo"),
        purpose="LEGAL",
        expect_errors=True,
    )
    assert "between 1 and 100" in body["errors"][0]["message"]


async def test_cursor_pagination_walks_every_row(client: httpx.AsyncClient, db: Database) -> None:
    token = employee_token(db, "dpo")
    seen: list[str] = []
    after = None
    while True:
        body = await gql(
            client,
            "query($after: String) { users(first: 30, after: $after) "
            "{ nodes { id } pageInfo { hasNextPage endCursor } } }",
            {"after": after},
            token=token,
            purpose="LEGAL",
        )
        page = body["data"]["users"]
        seen += [node["id"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) >= 80
    bad = await gql(
        client,
        '{ users(after: "nope") { nodes { id } } }',
        token=token,
        purpose="LEGAL",
        expect_errors=True,
    )
    assert "not a cursor" in bad["errors"][0]["message"]


async def test_graphql_response_media_type_on_request_errors(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ products { nope } }"},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert "nope" in response.json()["errors"][0]["message"]
