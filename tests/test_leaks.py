"""Canary leak test: every personal value in a private database is a unique canary, and
every viewer class reads every root field and relationship the schema offers. A canary
may reach only the viewers the policy shows it to; `tests/leakcheck.py` is the oracle,
built from plain SQL and `DEFAULT_POLICY`, not from the gateway's resolvers."""

from __future__ import annotations

import asyncio
from itertools import product
from typing import Any

import graphql
import pytest

from directives.decision import Action
from directives.policy import DEFAULT_POLICY, Audience, SubjectState
from directives.taxonomy import DeletionState, Purpose, Relationship, Role
from gateway.seed import DEMO_USERS
from schema.build import build_schema
from tests.leakcheck import (
    COLUMNS,
    PAGE_SIZE,
    Canary,
    CanaryGateway,
    CheckResult,
    ViewerClass,
    answered,
    canary_fixture,
    demo_lookups,
    lookup_roots,
    page_roots,
    personal_fields,
)
from tests.test_route_independence import refused_by_design

canary = canary_fixture()


def every_audience() -> list[Audience]:
    platform = [
        Audience(r, None, Purpose.FULFILLMENT) for r in Relationship if r.value != "EMPLOYEE"
    ]
    return platform + [Audience(Relationship.EMPLOYEE, r, p) for r in Role for p in Purpose]


def every_state() -> list[SubjectState]:
    return [SubjectState(d, c) for d in DeletionState for c in (True, False)]


# Breadth: every row of every root list. A platform user's relationship differs from
# subject to subject, so their rows are followed one relationship further; an employee's
# decisions depend on role, purpose and subject state only, which the rows themselves cover.
USER_BREADTH_HOPS = 1
EMPLOYEE_BREADTH_HOPS = 0
DEPTH_HOPS = 2  # the demo subjects' rows by id, and two relationships further
ME_HOPS = 3
CONCURRENT_VIEWERS = 4


async def read_everything(canary: CanaryGateway, viewer: ViewerClass) -> CheckResult:
    """Every root list to its last page, the demo rows by id, `me`, and the privacy tools."""
    schema, builder = canary.oracle.schema, canary.builder
    result = CheckResult()
    pages = page_roots(schema)
    hops = EMPLOYEE_BREADTH_HOPS if viewer.employee else USER_BREADTH_HOPS
    after: dict[str, str | None] = dict.fromkeys(pages)
    while after:
        roots = [
            f"{name}(first: {PAGE_SIZE}"
            + (f', after: "{cursor}"' if cursor else "")
            + f") {builder.select(pages[name], hops)}"
            for name, cursor in after.items()
        ]
        body, checked = await canary.run(viewer, builder.document(roots))
        errors = [e for e in body.get("errors", ()) if not refused_by_design(e)]
        assert not errors, (viewer.label, errors)
        result.merge(checked)
        after = {
            name: page["pageInfo"]["endCursor"]
            for name in after
            if (page := body["data"][name]) is not None and page["pageInfo"]["hasNextPage"]
        }

    lookups = lookup_roots(schema)
    roots = [
        f'{name}_{row_id}: {name}(id: "{row_id}") {builder.select(lookups[name], DEPTH_HOPS)}'
        for name, ids in demo_lookups(canary.oracle.world).items()
        for row_id in ids
    ]
    roots.append(f"me {builder.select(lookups['user'], ME_HOPS)}")
    # For the DPO and support only; an error (and null) for everyone else.
    roots += [
        f'status_{subject}: redactionStatus(subjectId: "{subject}") '
        "{ subjectId deletionState analyticsConsent policyVersion "
        "fields { typeName fieldName category outcomes { action reason viewer { label } } } }"
        for subject in (DEMO_USERS["buyer"], DEMO_USERS["buyer_erased"])
    ]
    body, checked = await canary.run(viewer, builder.document(roots))
    errors = [
        e
        for e in body.get("errors", ())
        if not e.get("path", [""])[0].startswith("status_") and not refused_by_design(e)
    ]
    assert not errors, (viewer.label, errors)
    result.merge(checked)

    catalog = "{ privacyCatalog { typeName fieldName category subject seenBy { label } } }"
    _, checked = await canary.run(viewer, catalog)
    result.merge(checked)
    return result


@pytest.fixture(scope="module")
async def readings(canary: CanaryGateway) -> dict[str, CheckResult]:
    """What every viewer class got when it read everything."""
    gate = asyncio.Semaphore(CONCURRENT_VIEWERS)

    async def read(viewer: ViewerClass) -> CheckResult:
        async with gate:
            return await read_everything(canary, viewer)

    viewers = list(canary.viewers.values())
    results = await asyncio.gather(*(read(v) for v in viewers))
    return {v.label: r for v, r in zip(viewers, results, strict=True)}


def subject_of(canary: CanaryGateway, planted: Canary) -> int | None:
    return canary.oracle.canary_subject(planted)


async def test_no_canary_reaches_a_viewer_the_policy_hides_it_from(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    leaks = [str(f) for r in readings.values() for f in r.leaks]
    by_viewer = ", ".join(f"{label}: {len(r.leaks)}" for label, r in readings.items() if r.leaks)
    assert not leaks, (
        f"{len(leaks)} leaks on {canary.backend} ({by_viewer}); viewer | path | why:\n"
        + "\n".join(leaks[:50])
    )


def stripped_only_with_the_record(oracle_fields: dict[tuple[str, str], Any]) -> set[str]:
    """Fields of a `@personalRecord` (a user, an address, a review) that no viewer class
    gets stripped while it gets anything else of the record: wherever they are stripped,
    the record is not found, so no read can observe the STRIP."""
    schema = graphql.build_schema(build_schema().as_str())
    records = {
        name
        for name, type_ in schema.type_map.items()
        if isinstance(type_, graphql.GraphQLObjectType)
        and type_.ast_node is not None
        and any(d.name.value == "personalRecord" for d in type_.ast_node.directives or ())
    }
    found = set()
    for record in records:
        fields = [pf for (t, _), pf in oracle_fields.items() if t == record and not pf.each]
        for pf in fields:
            visible_without = False
            for audience, state in product(every_audience(), every_state()):
                actions = {
                    other.name: answered(DEFAULT_POLICY, audience, other, state).action
                    for other in fields
                }
                if actions[pf.name] is Action.STRIP and set(actions.values()) != {Action.STRIP}:
                    visible_without = True
                    break
            if not visible_without:
                found.add(f"{record}.{pf.name}")
    return found


async def test_the_reads_reached_every_personal_field_both_shown_and_hidden(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    """The leak test can fail: its queries reach every column, shown to some and not others."""
    shown = set().union(*(r.shown for r in readings.values()))
    columns = {f"{c.table}.{c.column}" for c in COLUMNS}
    assert columns == {f"{c.table}.{c.column.column}" for c in shown}
    checked = {(name, action) for r in readings.values() for _, name, action in r.checked}
    never_read_stripped = stripped_only_with_the_record(canary.oracle.fields)
    assert "Review.text" in never_read_stripped and "User.email" not in never_read_stripped
    for type_name, field_name in canary.oracle.fields:
        name = f"{type_name}.{field_name}"
        assert (name, Action.SHOW) in checked, f"{name} never read where the policy shows it"
        if name in never_read_stripped:
            assert (name, Action.STRIP) not in checked, f"{name} is read stripped after all"
            continue
        assert (name, Action.STRIP) in checked, f"{name} never read where the policy strips it"
    assert {action for _, action in checked} == set(Action)
    # Every viewer class had its reads checked, along many distinct paths.
    for label, result in readings.items():
        assert result.checked, label
    assert sum(len({p for p, _, _ in r.checked}) for r in readings.values()) > 5000


async def test_self_sees_own_profile_and_strangers_see_no_contact_data(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    buyer = DEMO_USERS["buyer"]
    own = {c for c in canary.oracle.canaries if c.table == "users" and c.row_id == buyer}
    assert own <= readings["buyer (self)"].shown
    for stranger in ("anonymous", "other buyer", "logistics (unassigned)"):
        seen = {c for c in readings[stranger].shown if subject_of(canary, c) == buyer}
        assert not {c for c in seen if c.column.column in ("email", "phone")}, stranger


async def test_analyst_sees_nothing_of_a_subject_who_withdrew_analytics_consent(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    withdrawn = DEMO_USERS["buyer_withdrawn"]
    reading = readings["ANALYST/ANALYTICS"]
    assert not {c for c in reading.shown if subject_of(canary, c) == withdrawn}
    analyst = canary.viewers["ANALYST/ANALYTICS"]
    query = f'{{ user(id: "{withdrawn}") {{ id fullName email phone createdAt }} }}'
    body, result = await canary.run(analyst, query)
    assert not result.leaks
    # Not found at all: a person who withdrew consent contributes nothing linked to them.
    assert body["data"]["user"] is None
    assert body["extensions"]["privacy"]["redactions"] == []
    # Nor reached through their records: their orders name no buyer, their reviews are gone.
    orders = [
        i for i, r in canary.oracle.world.rows["orders"].items() if r["buyer_id"] == withdrawn
    ]
    reviews = [
        i for i, r in canary.oracle.world.rows["reviews"].items() if r["author_id"] == withdrawn
    ]
    assert orders and reviews
    roots = [f'o{i}: order(id: "{i}") {{ id buyer {{ id }} shippingAddress }}' for i in orders]
    roots += [f'r{i}: review(id: "{i}") {{ id rating }}' for i in reviews]
    body, result = await canary.run(analyst, "{ " + " ".join(roots) + " }")
    assert not result.leaks
    for i in orders:
        assert body["data"][f"o{i}"] == {"id": str(i), "buyer": None, "shippingAddress": None}
    assert all(body["data"][f"r{i}"] is None for i in reviews)
    # ... while a consenting subject reaches the analyst pseudonymised.
    other = DEMO_USERS["other_buyer"]
    body, _ = await canary.run(analyst, f'{{ user(id: "{other}") {{ email }} }}')
    assert body["data"]["user"]["email"].startswith("psn_")


async def test_erased_subject_leaves_only_retained_records_for_their_keepers(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    erased = DEMO_USERS["buyer_erased"]
    keepers = {"FINANCE/BILLING", "DPO/LEGAL"}
    for label, result in readings.items():
        theirs = {c for c in result.shown if subject_of(canary, c) == erased}
        allowed = {"invoices", "payments"} if label in keepers else set()
        assert {c.table for c in theirs} <= allowed, (label, sorted(c.name for c in theirs))
    for keeper in keepers:
        billing = {
            c.column.column
            for c in readings[keeper].shown
            if c.table == "invoices" and subject_of(canary, c) == erased
        }
        assert billing == {"billing_name", "billing_address"}, keeper


async def test_pending_erasure_hides_ugc_from_everyone_but_staff_with_a_purpose(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    pending = DEMO_USERS["buyer_erasure_pending"]
    ugc = {"reviews", "videos", "comments"}
    for label, result in readings.items():
        theirs = {c.table for c in result.shown if subject_of(canary, c) == pending} & ugc
        if "/" not in label or label.startswith("ANALYST"):
            assert not theirs, label
    assert ugc <= {c.table for c in readings["DPO/LEGAL"].shown if subject_of(canary, c) == pending}


async def test_the_oracle_catches_a_leak(canary: CanaryGateway) -> None:
    """Responses the gateway never gave: a stranger handed a person's data, a masked value
    that keeps the canary, a canary in the extensions, another person's value in one's own."""
    oracle = canary.oracle
    buyer, other = DEMO_USERS["buyer"], DEMO_USERS["other_buyer"]
    email = oracle.by_cell[("users", buyer, "email")]
    name = oracle.by_cell[("users", buyer, "full_name")]
    query = f'{{ user(id: "{buyer}") {{ __typename id email fullName }} }}'
    forged: dict[str, Any] = {
        "data": {
            "user": {
                "__typename": "User",
                "id": str(buyer),
                "email": f"x{email.token}@y.test",  # stripped for the public
                "fullName": f"{name.token[0].upper()}. {name.token}",  # a mask keeping it all
            }
        },
        "extensions": {"note": email.value},
    }
    found = "\n".join(
        str(f) for f in oracle.check(canary.viewers["anonymous"], query, forged).leaks
    )
    assert "anonymous | .user.email" in found and "expected null" in found
    assert "anonymous | .user.fullName" in found and "holds the raw canary" in found
    assert "anonymous | .extensions.note | raw text holds users" in found

    swapped = {
        "data": {
            "user": {"id": str(buyer), "email": oracle.by_cell[("users", other, "email")].value}
        }
    }
    query = f'{{ user(id: "{buyer}") {{ id email }} }}'
    found = "\n".join(
        str(f) for f in oracle.check(canary.viewers["buyer (self)"], query, swapped).leaks
    )
    assert "not this row's value" in found

    honest, result = await canary.run(canary.viewers["anonymous"], query)
    assert honest["data"]["user"]["id"] == str(buyer) and not result.leaks


def test_every_personal_field_carries_a_canary() -> None:
    schema = graphql.build_schema(build_schema().as_str())
    declared = {key for key, pf in personal_fields(schema).items() if not pf.is_link}
    planted = {f for column in COLUMNS for f in column.fields}
    assert planted <= declared, planted - declared
    # Not strings, so checked as "null when stripped (a month when masked)", not by canary:
    # a date, a state and a rating.
    not_strings = {("User", "createdAt"), ("User", "deletionState"), ("Review", "rating")}
    assert declared - planted == not_strings, declared - planted


# Found by this suite and fixed in directives/: a string rule for "city, country" kept the
# street of postal-code-first (RU/KZ) addresses, and a forced GENERALIZE let street lines
# through. Whole addresses now generalise to nothing; Address.city is the coarse form.


async def test_a_generalized_big_endian_address_keeps_no_street(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    world = canary.oracle.world
    buyer = DEMO_USERS["other_buyer"]  # consents to analytics
    order = min(i for i, r in world.rows["orders"].items() if r["buyer_id"] == buyer)
    street, city = "zqstreetmmm", "zqcityxyyy"
    address = f"101000, Россия, г. {city}, ул. {street}, д. 1, кв. 2"  # noqa: RUF001
    async with canary.replaced("orders", order, "shipping_address", address):
        for label in ("ANALYST/ANALYTICS", "SUPPORT/SUPPORT"):
            query = f'{{ order(id: "{order}") {{ shippingAddress }} }}'
            body, _ = await canary.run(canary.viewers[label], query)
            shown = body["data"]["order"]["shippingAddress"] or ""
            assert street not in shown and city not in shown, (label, shown)


async def test_support_sees_no_street_line_of_an_address(
    canary: CanaryGateway, readings: dict[str, CheckResult]
) -> None:
    buyer = DEMO_USERS["buyer"]
    world = canary.oracle.world
    address = min(i for i, r in world.rows["addresses"].items() if r["user_id"] == buyer)
    street = "zqstreetnnn"
    query = f'{{ user(id: "{buyer}") {{ addresses {{ id line1 }} }} }}'
    for line in (f"Flat 5, {street} Street", f"Am {street}"):
        async with canary.replaced("addresses", address, "line1", line):
            for label in ("SUPPORT/SUPPORT", "SECURITY/SECURITY"):
                body, _ = await canary.run(canary.viewers[label], query)
                lines = [a["line1"] for a in body["data"]["user"]["addresses"]]
                assert not any(street in (x or "") for x in lines), (label, lines)
