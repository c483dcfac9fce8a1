"""Links agree both ways on generated data: hypothesis moves random people into random
deletion and consent states, and every route that ties a person to a record (forward,
`review.author`; backward, `user.reviews`) must still tell each viewer the same thing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from gateway.app import create_app
from gateway.db.engine import create_engine
from gateway.db.models import User
from tests.conftest import BACKENDS, Database, employee_token, exhaustive, make_database, user_token
from tests.test_route_independence import _truth, disagreements, read_links

STATES = ("ACTIVE", "ERASURE_PENDING", "ERASED")
VIEWERS = (
    ("anonymous", None, None),
    ("seller", "seller", None),
    ("analyst", "analyst", "ANALYTICS"),
)


@dataclass
class Private:
    db: Database
    http: httpx.AsyncClient


@pytest.fixture(scope="module", params=BACKENDS)
async def private(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Private]:
    tmp = str(tmp_path_factory.mktemp(f"links-{request.param}"))
    database, drop = await asyncio.to_thread(make_database, request.param, tmp, users=40)
    app = create_app(exhaustive(database.settings))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Private(database, http)
    finally:
        await app.state.gateway.aclose()
        await asyncio.to_thread(drop)


# Demo users 1-3 are the viewers; everyone else may be moved. Erased people are not
# un-erased (their data is gone), so states only move forward, as erasure does.
changes = st.lists(
    st.tuples(st.integers(4, 40), st.sampled_from(STATES), st.booleans()),
    min_size=1,
    max_size=6,
    unique_by=lambda change: change[0],
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
@given(changes=changes)
async def test_links_agree_both_ways_whatever_the_states(
    private: Private, changes: list[tuple[int, str, bool]]
) -> None:
    engine = create_engine(private.db.settings)
    try:
        async with engine.begin() as conn:
            for user_id, state, consent in changes:
                await conn.execute(
                    update(User)
                    .where(User.id == user_id, User.deletion_state != "ERASED")
                    .values(deletion_state=state, analytics_consent=consent)
                )
    finally:
        await engine.dispose()
    owners, members = await _truth(private.db)
    for label, who, purpose in VIEWERS:
        if who is None:
            token = None
        elif purpose is None:
            token = user_token(private.db, who)
        else:
            token = employee_token(private.db, who)
        links = await read_links(private.http, token, purpose)
        found = disagreements(links, owners, members)
        assert not found, (label, changes, found[:10])
