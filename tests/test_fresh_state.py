"""A committed consent withdrawal or deletion request shows on the very next request,
on every gateway process serving the same database (nothing is cached across requests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, update

from gateway.app import create_app
from gateway.db.engine import create_engine
from gateway.db.models import Consent, User
from gateway.seed import DEMO_USERS
from tests.conftest import BACKENDS, Database, employee_token, gql, make_database

QUERY = "query($id: ID!) { user(id: $id) { fullName email } }"


@pytest.fixture(scope="module", params=BACKENDS)
def private_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(request.param, str(tmp_path_factory.mktemp("fresh")), users=30)
    yield database
    drop()


@pytest.fixture
async def two_gateways(
    private_db: Database,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    apps = [create_app(private_db.settings), create_app(private_db.settings)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g")
        for app in apps
    ]
    yield clients[0], clients[1]
    for client, app in zip(clients, apps, strict=True):
        await client.aclose()
        await app.state.gateway.engine.dispose()


async def _commit(db: Database, *statements: object) -> None:
    engine = create_engine(db.settings)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(statement)  # type: ignore[call-overload]
    finally:
        await engine.dispose()


async def test_consent_withdrawal_reaches_every_process(
    private_db: Database, two_gateways: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    first, second = two_gateways
    subject = DEMO_USERS["buyer"]
    token = employee_token(private_db, "analyst")
    for client in (first, second):
        before = await gql(client, QUERY, {"id": str(subject)}, token=token, purpose="ANALYTICS")
        assert before["data"]["user"]["fullName"].startswith("psn_")
    await _commit(
        private_db,
        update(User).where(User.id == subject).values(analytics_consent=False),
        insert(Consent).values(
            subject_id=subject,
            purpose="ANALYTICS",
            granted=False,
            notice_version="2026-01",
            method="SETTINGS",
            recorded_at=datetime.now(UTC),
        ),
    )
    for client in (second, first):
        after = await gql(client, QUERY, {"id": str(subject)}, token=token, purpose="ANALYTICS")
        assert after["data"]["user"] == {"fullName": None, "email": None}
        assert {r["reason"] for r in after["extensions"]["privacy"]["redactions"]} == {
            "CONSENT_WITHDRAWN"
        }


async def test_deletion_request_hides_the_profile_at_once(
    private_db: Database, two_gateways: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    first, second = two_gateways
    subject = DEMO_USERS["seller"]
    before = await gql(first, QUERY, {"id": str(subject)})
    assert before["data"]["user"]["fullName"] not in (None, "Deleted user")
    await _commit(
        private_db,
        update(User)
        .where(User.id == subject)
        .values(deletion_state="ERASURE_PENDING", erasure_requested_at=datetime.now(UTC)),
    )
    for client in (second, first):
        after = await gql(client, QUERY, {"id": str(subject)})
        assert after["data"]["user"]["fullName"] == "Deleted user"
        assert "ERASURE_PENDING" in {
            r["reason"] for r in after["extensions"]["privacy"]["redactions"]
        }
