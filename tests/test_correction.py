"""Correction (Art. 4.2, 5.2) end to end over HTTP, on a private database per backend: the
profile and addresses corrected at once, company details through the DPO, typed refusals
that change nothing, a history that never holds a value, and every viewer seeing the
corrected value on the next request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from directives.masking import pseudonym
from directives.taxonomy import Role
from gateway.app import create_app
from gateway.auth import issue_token
from gateway.db.engine import create_engine
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from resolvers.rights import correction
from tests.conftest import BACKENDS, Database, fetch, make_database

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
BUYER, SELLER, LOGISTICS = DEMO_USERS["buyer"], DEMO_USERS["seller"], DEMO_USERS["logistics"]
RU_BUYER, KZ_BUYER = DEMO_USERS["buyer_withdrawn"], DEMO_USERS["other_buyer"]
PENDING = DEMO_USERS["buyer_erasure_pending"]
TABLES = (
    "users",
    "addresses",
    "companies",
    "correction_events",
    "privacy_requests",
    "privacy_request_events",
)
ERRORS = "errors { code field message }"
PROFILE = f"""mutation($input: ProfileInput!) {{ updateMyProfile(input: $input) {{
    user {{ id fullName email phone }} {ERRORS} }} }}"""
ADD = f"""mutation($input: AddressInput!) {{ addAddress(input: $input) {{
    address {{ id line1 city postalCode country isDefault }}
    user {{ addresses {{ id isDefault }} }} {ERRORS} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: AddressPatch!) {{ updateAddress(id: $id, input: $input) {{
    address {{ id line1 city postalCode country isDefault }}
    user {{ addresses {{ id isDefault }} }} {ERRORS} }} }}"""
REMOVE = f"""mutation($id: ID!) {{ removeAddress(id: $id) {{
    removedId address {{ id }} user {{ addresses {{ id }} }} {ERRORS} }} }}"""
REQUEST = f"""mutation($field: CompanyField!, $value: String!, $reason: String!) {{
    requestCorrection(field: $field, proposedValue: $value, reason: $reason) {{
        created request {{ id kind status target details }} {ERRORS} }} }}"""
RESOLVE = f"""mutation($id: ID!, $status: PrivacyRequestStatus!) {{
    resolvePrivacyRequest(id: $id, status: $status, answer: "checked against the register") {{
        request {{ id status proposedValue }} {ERRORS} }} }}"""
HISTORY = "{ myCorrections { field occurredAt actor requestId } }"
READ = "query($id: ID!) { user(id: $id) { fullName email } }"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Gateway:
    db: Database
    http: httpx.AsyncClient

    def user(self, user_id: int, *, signed_in_ago: float = 0) -> dict[str, str]:
        token = issue_token(
            self.db.settings, user_id=user_id, auth_time=NOW.timestamp() - signed_in_ago
        )
        return {"Authorization": f"Bearer {token}"}

    def staff(self, role: str, purpose: str) -> dict[str, str]:
        employee_id, role_name = DEMO_EMPLOYEES[role]
        token = issue_token(self.db.settings, employee_id=employee_id, role=Role(role_name))
        return {"Authorization": f"Bearer {token}", "X-Processing-Purpose": purpose}

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, headers: Any = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def mutate(
        self, query: str, variables: dict[str, Any], headers: Any = None
    ) -> dict[str, Any]:
        body = await self.gql(query, variables, headers)
        assert "errors" not in body, body["errors"]
        (payload,) = body["data"].values()
        result: dict[str, Any] = payload
        return result

    async def snapshot(self) -> dict[str, list[Any]]:
        return {
            table: await fetch(self.db, f"SELECT * FROM {table} ORDER BY 1") for table in TABLES
        }

    async def one(self, sql: str, **params: Any) -> Any:
        (row,) = await fetch(self.db, sql, **params)
        return row

    async def execute(self, sql: str, **params: Any) -> None:
        """Commit a change behind the gateway's back (a state the API cannot make)."""
        engine = create_engine(self.db.settings)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(sql), params)
        finally:
            await engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def correction_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    database, drop = make_database(
        request.param, str(tmp_path_factory.mktemp("correction")), users=30
    )
    yield database
    drop()


@pytest.fixture(scope="module")
async def gw(correction_db: Database) -> AsyncIterator[Gateway]:
    app = create_app(correction_db.settings, clock=Clock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield Gateway(correction_db, http)
    await app.state.gateway.aclose()


def _codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


# -- the profile ----------------------------------------------------------------------------


async def test_a_profile_correction_is_normalised_stored_and_recorded(gw: Gateway) -> None:
    before = await gw.one("SELECT full_name, email, phone FROM users WHERE id = :u", u=LOGISTICS)
    payload = await gw.mutate(
        PROFILE,
        {
            "input": {
                "fullName": "  Piotr Jan Nowak ",
                "email": "Piotr.Nowak@Example.ORG",
                "phone": "+48 (22) 123-45-67",
            }
        },
        gw.user(LOGISTICS),
    )
    assert payload["errors"] == []
    assert payload["user"] == {
        "id": str(LOGISTICS),
        "fullName": "Piotr Jan Nowak",
        "email": "Piotr.Nowak@example.org",  # the domain normalised, the local part kept
        "phone": "+48221234567",
    }
    stored = await gw.one("SELECT full_name, email, phone FROM users WHERE id = :u", u=LOGISTICS)
    assert tuple(stored) == ("Piotr Jan Nowak", "Piotr.Nowak@example.org", "+48221234567")

    history = (await gw.gql(HISTORY, headers=gw.user(LOGISTICS)))["data"]["myCorrections"]
    assert sorted(r["field"] for r in history) == ["email", "fullName", "phone"]
    assert {(r["actor"], r["requestId"]) for r in history} == {(f"user:{LOGISTICS}", None)}
    assert {datetime.fromisoformat(r["occurredAt"]) for r in history} == {NOW}

    # The history holds the field, the time, the actor and the request: never a value.
    rows = await fetch(gw.db, "SELECT * FROM correction_events WHERE subject_id = :u", u=LOGISTICS)
    assert set(rows[0]._fields) == {
        "id",
        "subject_id",
        "field",
        "occurred_at",
        "actor",
        "request_id",
    }
    values = {str(v) for row in rows for v in row}
    assert not values & ({*before} | {*stored}), "a correction event holds a value"


async def test_only_the_given_fields_change_and_null_removes_the_phone(gw: Gateway) -> None:
    before = await gw.one("SELECT full_name, email FROM users WHERE id = :u", u=RU_BUYER)
    events = len(await fetch(gw.db, "SELECT id FROM correction_events"))
    payload = await gw.mutate(PROFILE, {"input": {"phone": None}}, gw.user(RU_BUYER))
    assert payload["errors"] == [] and payload["user"]["phone"] is None
    after = await gw.one("SELECT full_name, email, phone FROM users WHERE id = :u", u=RU_BUYER)
    assert tuple(after) == (*before, None)
    # Sending what is stored already changes nothing and records nothing.
    same = {"fullName": before[0], "email": before[1]}
    stale = gw.user(RU_BUYER, signed_in_ago=10_000)  # an unchanged email needs no sign-in
    assert (await gw.mutate(PROFILE, {"input": same}, stale))["errors"] == []
    rows = await fetch(
        gw.db, "SELECT field FROM correction_events WHERE subject_id = :u", u=RU_BUYER
    )
    assert [r.field for r in rows] == ["phone"]
    assert len(await fetch(gw.db, "SELECT id FROM correction_events")) == events + 1


# As a CJK keyboard may type it: the full-width forms of "+49 151 4346 4099".
FULL_WIDTH = "+49 151 4346 4099".translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


@pytest.mark.parametrize(
    ("jurisdiction", "typed", "stored"),
    [
        ("KZ", "8 701 555 12 34", "+77015551234"),  # a national number is read as KZ
        ("RU", "8 (912) 345-67-89", "+79123456789"),
        ("CN", "(010) 6552 9988", "+861065529988"),
        ("KZ", "+49 (0) 151 43464097", "+4915143464097"),  # any country with its code
        ("EU", "+7 701 555 12 35", "+77015551235"),  # EU accounts: with the country code
        ("EU", FULL_WIDTH, "+4915143464099"),
    ],
)
async def test_phones_are_stored_in_e164(
    gw: Gateway, jurisdiction: str, typed: str, stored: str
) -> None:
    # A generated account (not a demo one other tests follow) of this jurisdiction.
    (who,) = await gw.one(
        "SELECT min(id) FROM users WHERE jurisdiction = :j AND deletion_state = 'ACTIVE' "
        "AND id > :demo",
        j=jurisdiction,
        demo=max(DEMO_USERS.values()),
    )
    payload = await gw.mutate(PROFILE, {"input": {"phone": typed}}, gw.user(who))
    assert payload["errors"] == [] and payload["user"]["phone"] == stored
    row = await gw.one("SELECT phone FROM users WHERE id = :u", u=who)
    assert row.phone == stored


LONG_EMAIL = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".org"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"email": "not-an-email"}, [("INVALID", "email")]),
        ({"email": "anna@localhost"}, [("INVALID", "email")]),
        ({"email": "anna@pseudonym.invalid"}, [("INVALID", "email")]),
        ({"email": ""}, [("INVALID", "email")]),
        ({"email": None}, [("INVALID", "email")]),
        ({"email": LONG_EMAIL}, [("TOO_LONG", "email")]),
        ({"phone": "+49 123"}, [("INVALID", "phone")]),
        ({"phone": "0151 43464097"}, [("INVALID", "phone")]),  # EU: no default country
        ({"phone": "call +49 151 43464097"}, [("INVALID", "phone")]),
        ({"phone": "+49 151 43464097 ext. 12"}, [("INVALID", "phone")]),
        ({"phone": ""}, [("INVALID", "phone")]),
        ({"phone": "+49 151 " + "1" * 40}, [("TOO_LONG", "phone")]),
        ({"fullName": "x" * 201}, [("TOO_LONG", "fullName")]),
        ({"fullName": "   "}, [("INVALID", "fullName")]),
        ({"fullName": None}, [("INVALID", "fullName")]),
        ({"fullName": "Anna\nSchmidt"}, [("INVALID", "fullName")]),
        ({"fullName": "Anna\u202eSchmidt"}, [("INVALID", "fullName")]),
        # Every field at fault at once, and the valid one is not applied either.
        (
            {"fullName": "x" * 201, "phone": "12", "email": "anna.new@example.org"},
            [("TOO_LONG", "fullName"), ("INVALID", "phone")],
        ),
    ],
)
async def test_a_bad_value_is_refused_by_field_and_changes_nothing(
    gw: Gateway, change: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    before = await gw.snapshot()
    payload = await gw.mutate(PROFILE, {"input": change}, gw.user(BUYER))
    assert payload["user"] is None and _codes(payload) == expected
    for error in payload["errors"]:  # the rule, never the submitted value
        submitted = (change[error["field"]] or "").strip()
        assert not submitted or submitted not in error["message"]
    assert await gw.snapshot() == before


async def test_an_email_in_use_is_taken_without_saying_whose(gw: Gateway) -> None:
    other = await gw.one("SELECT full_name, email FROM users WHERE id = :u", u=SELLER)
    before = await gw.snapshot()
    payload = await gw.mutate(PROFILE, {"input": {"email": other.email.upper()}}, gw.user(BUYER))
    assert _codes(payload) == [("TAKEN", "email")]
    message = payload["errors"][0]["message"]
    local = other.email.split("@")[0]
    assert local not in message.lower() and other.full_name not in message
    assert not any(c.isdigit() for c in message)  # not even the other account's id
    assert await gw.snapshot() == before


async def test_a_lost_race_for_an_email_is_taken_too(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two accounts claiming one address at once: the check passes for both, the UNIQUE
    constraint keeps one, and the other gets TAKEN with nothing changed."""

    async def nobody(*_: object) -> bool:
        return False

    monkeypatch.setattr(correction, "email_in_use", nobody)
    other = await gw.one("SELECT email FROM users WHERE id = :u", u=SELLER)
    before = await gw.snapshot()
    payload = await gw.mutate(
        PROFILE, {"input": {"email": other.email, "fullName": "Anna S."}}, gw.user(BUYER)
    )
    assert _codes(payload) == [("TAKEN", "email")]
    assert other.email not in payload["errors"][0]["message"]
    assert await gw.snapshot() == before


async def test_changing_the_email_needs_a_recent_sign_in(gw: Gateway) -> None:
    limit = gw.db.settings.reauth_seconds
    before = await gw.snapshot()
    stale = gw.user(BUYER, signed_in_ago=limit + 1)
    payload = await gw.mutate(PROFILE, {"input": {"email": "anna.new@example.org"}}, stale)
    assert _codes(payload) == [("REAUTHENTICATION_REQUIRED", "email")]
    # A stale token does not learn whether an address is taken: sign in first.
    seller = await gw.one("SELECT email FROM users WHERE id = :u", u=SELLER)
    payload = await gw.mutate(PROFILE, {"input": {"email": seller.email}}, stale)
    assert _codes(payload) == [("REAUTHENTICATION_REQUIRED", "email")]
    assert await gw.snapshot() == before
    # Other fields need no fresh sign-in.
    payload = await gw.mutate(PROFILE, {"input": {"fullName": "Anna Schmidt"}}, stale)
    assert payload["errors"] == []
    fresh = gw.user(BUYER, signed_in_ago=limit - 1)
    payload = await gw.mutate(PROFILE, {"input": {"email": "anna.new@example.org"}}, fresh)
    assert payload["errors"] == [] and payload["user"]["email"] == "anna.new@example.org"


async def test_an_account_being_deleted_is_not_corrected(gw: Gateway) -> None:
    before = await gw.snapshot()
    payload = await gw.mutate(PROFILE, {"input": {"fullName": "W. Fang"}}, gw.user(PENDING))
    assert _codes(payload) == [("NOT_ALLOWED", None)]
    assert await gw.snapshot() == before


async def test_each_change_in_one_operation_sees_the_one_before(gw: Gateway) -> None:
    body = await gw.gql(
        """mutation {
            a: updateMyProfile(input: {fullName: "Ержан Болатович Сапаров"}) { user { fullName } }
            b: updateMyProfile(input: {fullName: "Ержан Сапаров"}) { user { fullName } }
        }""",
        headers=gw.user(KZ_BUYER),
    )
    assert body["data"]["a"]["user"]["fullName"] == "Ержан Болатович Сапаров"
    assert body["data"]["b"]["user"]["fullName"] == "Ержан Сапаров"


async def test_each_address_change_in_one_operation_sees_the_one_before(gw: Gateway) -> None:
    who = DEMO_USERS["seller"]
    body = await gw.gql(
        """mutation {
            a: addAddress(input: {line1: "Gartenweg 150", city: "Berlin", country: "DE"}) {
                address { id } user { addresses { id } } }
            b: addAddress(input: {line1: "Lager 2", city: "Spandau", country: "DE"}) {
                address { id } user { addresses { id } } }
        }""",
        headers=gw.user(who),
    )
    first, second = body["data"]["a"], body["data"]["b"]
    assert [a["id"] for a in second["user"]["addresses"]] == [
        *[a["id"] for a in first["user"]["addresses"]],
        second["address"]["id"],
    ]
    for added in (first, second):
        removed = await gw.mutate(REMOVE, {"id": added["address"]["id"]}, gw.user(who))
        assert removed["errors"] == []


# -- who may correct -----------------------------------------------------------------------

SELF_SERVICE = [
    (PROFILE, {"input": {"fullName": "Someone"}}),
    (ADD, {"input": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}}),
    (UPDATE, {"id": "1", "input": {"city": "Potsdam"}}),
    (REMOVE, {"id": "1"}),
    (REQUEST, {"field": "TAX_ID", "value": "DE999999999", "reason": "new registration"}),
]


@pytest.mark.parametrize(("query", "variables"), SELF_SERVICE)
async def test_anonymous_callers_and_staff_are_refused(
    gw: Gateway, query: str, variables: dict[str, Any]
) -> None:
    before = await gw.snapshot()
    anonymous = await gw.mutate(query, variables)
    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    for role, purpose in (("dpo", "LEGAL"), ("support", "SUPPORT")):
        staff = await gw.mutate(query, variables, gw.staff(role, purpose))
        assert [e["code"] for e in staff["errors"]] == ["FORBIDDEN"]
    assert await gw.snapshot() == before


async def test_the_history_is_the_subjects_own(gw: Gateway) -> None:
    anonymous = await gw.gql(HISTORY)
    assert anonymous["data"]["myCorrections"] is None
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    staff = await gw.gql(HISTORY, headers=gw.staff("dpo", "LEGAL"))
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mine = await gw.gql(HISTORY, headers=gw.user(SELLER))
    rows = await fetch(gw.db, "SELECT id FROM correction_events WHERE subject_id = :u", u=SELLER)
    assert len(mine["data"]["myCorrections"]) == len(rows)


# -- addresses ------------------------------------------------------------------------------


async def _address_rows(gw: Gateway, user_id: int) -> list[Any]:
    return await fetch(
        gw.db,
        "SELECT id, line1, city, postal_code, country, is_default FROM addresses "
        "WHERE user_id = :u ORDER BY id",
        u=user_id,
    )


async def test_addresses_are_added_changed_and_removed_with_one_default(gw: Gateway) -> None:
    who = RU_BUYER
    (old,) = await _address_rows(gw, who)
    assert old.is_default
    added = await gw.mutate(
        ADD,
        {
            "input": {
                "line1": "  ул. Тверская, д. 7 ",
                "city": "Москва",
                "postalCode": "125009",
                "country": "ru",
                "isDefault": True,
            }
        },
        gw.user(who),
    )
    assert added["errors"] == []
    new_id = added["address"]["id"]
    assert added["address"] == {
        "id": new_id,
        "line1": "ул. Тверская, д. 7",
        "city": "Москва",
        "postalCode": "125009",
        "country": "RU",
        "isDefault": True,
    }
    # The old default was cleared in the same transaction.
    assert added["user"]["addresses"] == [
        {"id": str(old.id), "isDefault": False},
        {"id": new_id, "isDefault": True},
    ]
    changed = await gw.mutate(
        UPDATE,
        {"id": str(old.id), "input": {"isDefault": True, "postalCode": None}},
        gw.user(who),
    )
    assert changed["errors"] == []
    rows = await _address_rows(gw, who)
    assert [(r.id, r.is_default, r.postal_code) for r in rows] == [
        (old.id, True, None),
        (int(new_id), False, "125009"),
    ]
    removed = await gw.mutate(REMOVE, {"id": new_id}, gw.user(who))
    assert removed["errors"] == [] and removed["removedId"] == new_id
    assert removed["address"] is None and removed["user"]["addresses"] == [{"id": str(old.id)}]
    history = await fetch(
        gw.db,
        "SELECT field FROM correction_events WHERE subject_id = :u AND field LIKE 'address.%' "
        "ORDER BY id",
        u=who,
    )
    assert [r.field for r in history] == [
        f"address.{new_id}.added",
        f"address.{old.id}.isDefault",  # cleared by the new default
        f"address.{old.id}.postalCode",
        f"address.{old.id}.isDefault",
        f"address.{new_id}.isDefault",  # cleared again
        f"address.{new_id}.removed",
    ]


async def test_another_persons_address_is_not_found(gw: Gateway) -> None:
    (theirs, *_) = await _address_rows(gw, KZ_BUYER)
    before = await gw.snapshot()
    results = []
    for address_id in (str(theirs.id), "999999"):
        changed = await gw.mutate(
            UPDATE, {"id": address_id, "input": {"city": "Алматы"}}, gw.user(BUYER)
        )
        removed = await gw.mutate(REMOVE, {"id": address_id}, gw.user(BUYER))
        results.append((changed["errors"], removed["errors"]))
    # Exactly the same answer as for an address that does not exist.
    assert results[0] == results[1]
    assert _codes({"errors": results[0][0]}) == [("NOT_FOUND", "id")]
    assert await gw.snapshot() == before


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (
            ADD,
            {"input": {"line1": "x" * 201, "city": "Berlin", "country": "DE"}},
            [("TOO_LONG", "line1")],
        ),
        (
            ADD,
            {"input": {"line1": "Hauptstr. 1", "city": "B" * 101, "country": "Deu"}},
            [("TOO_LONG", "city"), ("INVALID", "country")],
        ),
        (
            ADD,
            {"input": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "ß"}},
            [("INVALID", "country")],
        ),
        (
            ADD,
            {"input": {"line1": "", "city": "Berlin", "country": "DE", "postalCode": "10;115"}},
            [("INVALID", "line1"), ("INVALID", "postalCode")],
        ),
        (
            ADD,
            {"input": {"line1": "A", "city": "Berlin", "country": "DE", "postalCode": "1" * 21}},
            [("TOO_LONG", "postalCode")],
        ),
        (UPDATE, {"id": "1", "input": {"line1": None}}, [("INVALID", "line1")]),
        (UPDATE, {"id": "1", "input": {"isDefault": None}}, [("INVALID", "isDefault")]),
        (UPDATE, {"id": "01", "input": {"city": "Potsdam"}}, [("INVALID", "id")]),
        (REMOVE, {"id": "abc"}, [("INVALID", "id")]),
    ],
)
async def test_a_bad_address_is_refused_by_field_and_changes_nothing(
    gw: Gateway, query: str, variables: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    before = await gw.snapshot()
    payload = await gw.mutate(query, variables, gw.user(BUYER))
    assert _codes(payload) == expected
    assert await gw.snapshot() == before


# -- every viewer sees the corrected value ------------------------------------------------


async def test_every_viewer_sees_a_corrected_email_on_the_next_request(gw: Gateway) -> None:
    """The analyst's pseudonym is computed afresh from the corrected value (the mask memo
    is keyed by a fingerprint of the value); the subject and support read the new value."""
    who = SELLER
    analyst = gw.staff("analyst", "ANALYTICS")
    key = gw.db.settings.pseudonym_key.encode()
    first = await gw.gql(READ, {"id": str(who)}, analyst)
    old = await gw.one("SELECT email FROM users WHERE id = :u", u=who)
    old_pseudonym = f"{pseudonym(old.email, key=key, purpose='ANALYTICS')}@pseudonym.invalid"
    assert first["data"]["user"]["email"] == old_pseudonym

    corrected = "lukas.becker@example.net"
    payload = await gw.mutate(PROFILE, {"input": {"email": corrected}}, gw.user(who))
    assert payload["errors"] == []

    after = await gw.gql(READ, {"id": str(who)}, analyst)
    new_pseudonym = f"{pseudonym(corrected, key=key, purpose='ANALYTICS')}@pseudonym.invalid"
    assert after["data"]["user"]["email"] == new_pseudonym != old_pseudonym
    me = await gw.gql("{ me { email } }", headers=gw.user(who))
    assert me["data"]["me"]["email"] == corrected
    support = await gw.gql(READ, {"id": str(who)}, gw.staff("support", "SUPPORT"))
    assert support["data"]["user"]["email"] == corrected


# -- company details, through the DPO -------------------------------------------------------


async def _company(gw: Gateway, user_id: int) -> Any:
    return await gw.one(
        "SELECT c.id, c.legal_name, c.tax_id, c.registered_address FROM companies c "
        "JOIN users u ON u.company_id = c.id WHERE u.id = :u",
        u=user_id,
    )


async def _request(gw: Gateway, request_id: str) -> Any:
    return await gw.one(
        "SELECT status, target, details, proposed_value, open_key FROM privacy_requests "
        "WHERE id = :r",
        r=int(request_id),
    )


async def test_a_company_correction_is_applied_when_the_dpo_completes_it(gw: Gateway) -> None:
    company = await _company(gw, SELLER)
    filed = await gw.mutate(
        REQUEST,
        {"field": "TAX_ID", "value": " DE 123/456-789 ", "reason": "re-registered in 2026"},
        gw.user(SELLER),
    )
    assert filed["errors"] == [] and filed["created"] is True
    request = filed["request"]
    assert (request["kind"], request["status"], request["target"], request["details"]) == (
        "CORRECTION",
        "RECEIVED",
        "company.taxId",
        "re-registered in 2026",
    )
    row = await _request(gw, request["id"])
    assert row.proposed_value == "DE 123/456-789"  # kept on the request until resolved
    assert (await _company(gw, SELLER)).tax_id == company.tax_id  # not applied yet

    # Asking again while it is open returns the open request, with its own value.
    again = await gw.mutate(
        REQUEST,
        {"field": "TAX_ID", "value": "DE000000000", "reason": "typo"},
        gw.user(SELLER),
    )
    assert again["created"] is False and again["request"]["id"] == request["id"]
    assert (await _request(gw, request["id"])).proposed_value == "DE 123/456-789"
    # The DPO sees what would be applied before approving it.
    queued = await gw.gql(
        "query($id: ID!) { privacyRequest(id: $id) { proposedValue } }",
        {"id": request["id"]},
        gw.staff("dpo", "LEGAL"),
    )
    assert queued["data"]["privacyRequest"]["proposedValue"] == "DE 123/456-789"

    resolved = await gw.mutate(
        RESOLVE, {"id": request["id"], "status": "COMPLETED"}, gw.staff("dpo", "LEGAL")
    )
    assert resolved["errors"] == [] and resolved["request"]["status"] == "COMPLETED"
    assert resolved["request"]["proposedValue"] is None
    assert (await _company(gw, SELLER)).tax_id == "DE 123/456-789"
    row = await _request(gw, request["id"])
    assert row.proposed_value is None and row.open_key is None
    event = await gw.one(
        "SELECT field, actor, request_id FROM correction_events WHERE request_id = :r",
        r=int(request["id"]),
    )
    dpo = DEMO_EMPLOYEES["dpo"][0]
    assert tuple(event) == ("company.taxId", f"employee:{dpo}", int(request["id"]))
    mine = await gw.gql(
        "{ me { company { taxId } } myCorrections { field requestId } }", headers=gw.user(SELLER)
    )
    assert mine["data"]["me"]["company"]["taxId"] == "DE 123/456-789"
    assert {"field": "company.taxId", "requestId": request["id"]} in mine["data"]["myCorrections"]


async def test_a_rejected_company_correction_changes_nothing_and_forgets_the_value(
    gw: Gateway,
) -> None:
    company = await _company(gw, SELLER)
    filed = await gw.mutate(
        REQUEST,
        {"field": "LEGAL_NAME", "value": "Becker Handel AG", "reason": "converted to an AG"},
        gw.user(SELLER),
    )
    request_id = filed["request"]["id"]
    assert (await _request(gw, request_id)).proposed_value == "Becker Handel AG"
    resolved = await gw.mutate(
        RESOLVE, {"id": request_id, "status": "REJECTED"}, gw.staff("dpo", "LEGAL")
    )
    assert resolved["errors"] == [] and resolved["request"]["status"] == "REJECTED"
    assert tuple(await _company(gw, SELLER)) == tuple(company)
    row = await _request(gw, request_id)
    assert (row.status, row.proposed_value, row.open_key) == ("REJECTED", None, None)
    events = await fetch(
        gw.db, "SELECT id FROM correction_events WHERE request_id = :r", r=int(request_id)
    )
    assert events == []


async def test_the_dpo_cannot_apply_a_value_that_breaks_the_rules(gw: Gateway) -> None:
    """The proposed value is checked again when applied; refused, the request stays open."""
    filed = await gw.mutate(
        REQUEST,
        {"field": "REGISTERED_ADDRESS", "value": "Gartenweg 151, Berlin", "reason": "moved"},
        gw.user(SELLER),
    )
    request_id = int(filed["request"]["id"])
    # A value that slipped past the rules at filing time (or rules that changed since).
    await gw.execute(
        "UPDATE privacy_requests SET proposed_value = :v WHERE id = :r",
        v="Gartenweg 151\u202e, Berlin",
        r=request_id,
    )
    before = await gw.snapshot()
    resolved = await gw.mutate(
        RESOLVE, {"id": str(request_id), "status": "COMPLETED"}, gw.staff("dpo", "LEGAL")
    )
    assert _codes(resolved) == [("NOT_ALLOWED", "id")]
    assert "Gartenweg" not in resolved["errors"][0]["message"]
    assert await gw.snapshot() == before
    rejected = await gw.mutate(
        RESOLVE, {"id": str(request_id), "status": "REJECTED"}, gw.staff("dpo", "LEGAL")
    )
    assert rejected["errors"] == []
    assert (await _request(gw, str(request_id))).proposed_value is None


async def test_only_the_contact_person_asks_to_correct_a_company(gw: Gateway) -> None:
    company = await _company(gw, SELLER)
    member = DEMO_USERS["other_buyer"]
    await gw.execute("UPDATE users SET company_id = :c WHERE id = :u", c=company.id, u=member)
    try:
        before = await gw.snapshot()
        variables = {"field": "LEGAL_NAME", "value": "Anything GmbH", "reason": "why not"}
        as_member = await gw.mutate(REQUEST, variables, gw.user(member))
        assert _codes(as_member) == [("FORBIDDEN", None)]
        without_company = await gw.mutate(REQUEST, variables, gw.user(BUYER))
        assert _codes(without_company) == [("NOT_FOUND", None)]
        bad = await gw.mutate(
            REQUEST,
            {"field": "TAX_ID", "value": "DE#1", "reason": "new"},
            gw.user(SELLER),
        )
        assert _codes(bad) == [("INVALID", "proposedValue")]
        too_long = await gw.mutate(
            REQUEST,
            {"field": "LEGAL_NAME", "value": "G" * 201, "reason": "new"},
            gw.user(SELLER),
        )
        assert _codes(too_long) == [("TOO_LONG", "proposedValue")]
        no_reason = await gw.mutate(
            REQUEST,
            {"field": "LEGAL_NAME", "value": "Becker GmbH", "reason": "  "},
            gw.user(SELLER),
        )
        assert _codes(no_reason) == [("INVALID", "reason")]
        assert await gw.snapshot() == before
    finally:
        await gw.execute("UPDATE users SET company_id = NULL WHERE id = :u", u=member)


async def test_a_cancelled_company_correction_forgets_the_value(gw: Gateway) -> None:
    filed = await gw.mutate(
        REQUEST,
        {"field": "LEGAL_NAME", "value": "Becker Handel KG", "reason": "changed form"},
        gw.user(SELLER),
    )
    request_id = filed["request"]["id"]
    cancelled = await gw.mutate(
        "mutation($id: ID!) { cancelPrivacyRequest(id: $id) { request { status } "
        f"{ERRORS} }} }}",
        {"id": request_id},
        gw.user(SELLER),
    )
    assert cancelled["errors"] == [] and cancelled["request"]["status"] == "CANCELLED"
    assert (await _request(gw, request_id)).proposed_value is None
