"""A committed consent withdrawal, deletion request or correction shows on the very next
request, on every gateway process serving the same database (decisions and projection plans
are remembered per viewer class and subject state, never per subject, and no personal value
is cached across requests; masks are remembered only by a fingerprint of the value)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import insert, select, update

from directives.masking import pseudonym
from directives.taxonomy import Purpose
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
        await app.state.gateway.aclose()


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
        # Not found from the next request on, and the report does not say why.
        assert after["data"]["user"] is None
        assert after["extensions"]["privacy"]["redactions"] == []


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
        reasons = {r["reason"] for r in after["extensions"]["privacy"]["redactions"]}
        # The public may not learn why: NOT_PERMITTED, never ERASURE_PENDING.
        assert "NOT_PERMITTED" in reasons and "ERASURE_PENDING" not in reasons


async def test_a_corrected_email_is_pseudonymised_afresh(
    private_db: Database, two_gateways: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """Each process remembers pseudonyms by a fingerprint of the value: a corrected value is
    a new one, so the next request pseudonymises what is stored now."""
    first, second = two_gateways
    subject = DEMO_USERS["logistics"]
    token = employee_token(private_db, "analyst")
    seen = set()
    for client in (first, second, first):  # the last one answers from the memo
        before = await gql(client, QUERY, {"id": str(subject)}, token=token, purpose="ANALYTICS")
        seen.add(before["data"]["user"]["email"])
    corrected = "corrected.address@example.org"
    await _commit(private_db, update(User).where(User.id == subject).values(email=corrected))
    key = private_db.settings.pseudonym_key.encode()
    expected = f"{pseudonym(corrected, key=key, purpose='ANALYTICS')}@pseudonym.invalid"
    assert len(seen) == 1 and expected not in seen
    for client in (second, first):
        after = await gql(client, QUERY, {"id": str(subject)}, token=token, purpose="ANALYTICS")
        assert after["data"]["user"]["email"] == expected


async def test_the_pseudonym_memo_holds_no_personal_value(private_db: Database) -> None:
    app = create_app(private_db.settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://g"
    ) as client:
        body = await gql(
            client,
            "{ users(first: 100) { nodes { fullName email phone } } }",
            token=employee_token(private_db, "analyst"),
            purpose="ANALYTICS",
        )
    await app.state.gateway.aclose()
    memo = app.state.gateway.masks.pseudonymizer(Purpose.ANALYTICS.value)._known
    nodes = body["data"]["users"]["nodes"]
    shown = {v for node in nodes for v in node.values() if v and v.startswith("psn_")}
    assert len(memo) == len(shown) > 30  # one entry per value pseudonymised
    assert all(isinstance(fingerprint, int) for fingerprint in memo)
    assert set(memo.values()) == shown
    engine = create_engine(private_db.settings)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(User.full_name, User.email, User.phone))).all()
    finally:
        await engine.dispose()
    raw = {value for row in rows for value in row if value}
    assert raw and not raw & set(memo.values())
