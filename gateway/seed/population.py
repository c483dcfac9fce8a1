"""The platform's people: demo accounts first, then generated users, and sellers' companies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from gateway.seed.demo import DEMO_PROFILES
from gateway.seed.vocabulary import (
    EU_COUNTRIES,
    LOCALES,
    Locale,
    Place,
    digits,
    feminine,
    full_name,
    place,
)

Row = dict[str, Any]

BASE = datetime(2026, 1, 1, tzinfo=UTC)
# Timeline, in days after BASE: sign-ups, then orders, then erasures, so each
# subject's history reads in order and nobody is erased before their last order.
SIGNUP_DAYS = (0, 60)
ORDER_END_DAY = 164
ERASED_REQUEST_DAYS = (170, 190)
PENDING_REQUEST_DAYS = (200, 215)

BUYER, SELLER, LOGISTICS = "BUYER", "SELLER", "LOGISTICS"
ACTIVE, ERASURE_PENDING, ERASED = "ACTIVE", "ERASURE_PENDING", "ERASED"
KINDS = (BUYER, SELLER, LOGISTICS)
JURISDICTIONS = ("EU", "KZ", "RU", "CN")
_KIND_WEIGHTS = (70, 20, 10)
_JURISDICTION_WEIGHTS = (40, 15, 25, 20)
_EU_WEIGHTS = (30, 20, 20, 15, 15)
# About 1% of all users each; only buyers are erased, and buyers are 70% of users.
_ERASED_SHARE = _PENDING_SHARE = 0.01 / 0.7
_WITHDRAWN_SHARE = 0.05


def at(rng: Random, start_day: float, end_day: float) -> datetime:
    """A whole second in [BASE + start_day, BASE + end_day)."""
    start = int(start_day * 86400)
    return BASE + timedelta(seconds=rng.randrange(start, max(start + 1, int(end_day * 86400))))


def days_after(moment: datetime) -> float:
    return (moment - BASE).total_seconds() / 86400


@dataclass(slots=True)
class Person:
    id: int
    kind: str
    locale: Locale
    full_name: str
    email: str
    phone: str
    created_at: datetime
    place: Place | None = None  # buyers: default shipping address; sellers: registered office
    state: str = ACTIVE
    erasure_requested_at: datetime | None = None
    erased_at: datetime | None = None
    analytics_withdrawn_at: datetime | None = None
    withdrawn_via_support: bool = False
    company_id: int | None = None
    tax_id: str | None = None

    @property
    def jurisdiction(self) -> str:
        return self.locale.jurisdiction

    @property
    def language(self) -> str:
        return self.locale.language

    @property
    def erased(self) -> bool:
        return self.state == ERASED


@dataclass
class Population:
    people: list[Person]
    companies: list[Row] = field(default_factory=list)
    sellers: list[Person] = field(default_factory=list)
    buyers: list[Person] = field(default_factory=list)
    sellers_by_jurisdiction: dict[str, list[Person]] = field(default_factory=dict)
    logistics_by_jurisdiction: dict[str, list[Person]] = field(default_factory=dict)

    def person(self, user_id: int) -> Person:
        return self.people[user_id - 1]


def build_population(rng: Random, users: int) -> Population:
    people = [_demo_person(rng, i) for i in range(1, len(DEMO_PROFILES) + 1)]
    # The first generated users cover every kind x jurisdiction, so the smallest seed has all.
    coverage = [(k, j) for k in KINDS for j in JURISDICTIONS]
    for user_id in range(len(people) + 1, users + 1):
        n = user_id - len(DEMO_PROFILES) - 1
        if n < len(coverage):
            kind, jurisdiction = coverage[n]
        else:
            kind = rng.choices(KINDS, _KIND_WEIGHTS)[0]
            jurisdiction = rng.choices(JURISDICTIONS, _JURISDICTION_WEIGHTS)[0]
        people.append(_random_person(rng, user_id, kind, jurisdiction))

    population = Population(people)
    for person in people:
        if person.kind == SELLER:
            population.sellers.append(person)
            population.sellers_by_jurisdiction.setdefault(person.jurisdiction, []).append(person)
            population.companies.append(_company(rng, person, len(population.companies) + 1))
        elif person.kind == BUYER:
            population.buyers.append(person)
        else:
            population.logistics_by_jurisdiction.setdefault(person.jurisdiction, []).append(person)
    return population


def _demo_person(rng: Random, user_id: int) -> Person:
    profile = DEMO_PROFILES[user_id - 1]
    locale = LOCALES[profile.country]
    person = Person(
        id=user_id,
        kind=profile.kind,
        locale=locale,
        full_name=profile.full_name,
        email=f"{profile.email_local}@example.com",
        phone=digits(rng, locale.phones[0]),
        created_at=BASE + timedelta(days=user_id, hours=9),
        place=place(rng, locale) if profile.kind != LOGISTICS else None,
        state=profile.state,
    )
    if profile.state == ERASED:
        person.erasure_requested_at = BASE + timedelta(days=175, hours=10)
        person.erased_at = BASE + timedelta(days=182, hours=3)
    elif profile.state == ERASURE_PENDING:
        person.erasure_requested_at = BASE + timedelta(days=205, hours=16)
    if profile.analytics_withdrawn:
        person.analytics_withdrawn_at = BASE + timedelta(days=40, hours=20)
    return person


def _random_person(rng: Random, user_id: int, kind: str, jurisdiction: str) -> Person:
    country = rng.choices(EU_COUNTRIES, _EU_WEIGHTS)[0] if jurisdiction == "EU" else jurisdiction
    locale = LOCALES[country]
    female = rng.random() < 0.5
    first, first_latin = rng.choice(locale.female if female else locale.male)
    last, last_latin = rng.choice(locale.surnames)
    if female:
        last, last_latin = feminine(locale, last), feminine(locale, last_latin)
    local = f"{first_latin}.{last_latin}"
    if locale.language == "zh":  # family name first
        local = f"{last_latin}.{first_latin}"
    person = Person(
        id=user_id,
        kind=kind,
        locale=locale,
        full_name=full_name(locale, first, last),
        email=f"{local}.{user_id}@example.{rng.choice(('com', 'net', 'org'))}",
        phone=digits(rng, rng.choice(locale.phones)),
        created_at=at(rng, *SIGNUP_DAYS),
        place=place(rng, locale) if kind != LOGISTICS else None,
    )
    if kind == BUYER:
        draw = rng.random()
        if draw < _ERASED_SHARE:
            person.state = ERASED
            person.erasure_requested_at = at(rng, *ERASED_REQUEST_DAYS)
            person.erased_at = person.erasure_requested_at + timedelta(
                seconds=rng.randrange(2 * 86400, 25 * 86400)
            )
        elif draw < _ERASED_SHARE + _PENDING_SHARE:
            person.state = ERASURE_PENDING
            person.erasure_requested_at = at(rng, *PENDING_REQUEST_DAYS)
    if rng.random() < _WITHDRAWN_SHARE:
        start = days_after(person.created_at)
        person.analytics_withdrawn_at = at(rng, start + 1, start + 100)
        person.withdrawn_via_support = rng.random() < 0.2
    return person


def _company(rng: Random, seller: Person, company_id: int) -> Row:
    locale = seller.locale
    assert seller.place is not None
    first, last = _name_parts(seller)
    legal_name = rng.choice(locale.company).format(
        surname=last,
        initial=first[:1],
        word=rng.choice(locale.company_words),
        city=seller.place.city.split("市")[0],
    )
    seller.company_id = company_id
    seller.tax_id = digits(rng, locale.tax_id)
    return {
        "id": company_id,
        "legal_name": legal_name,
        "tax_id": seller.tax_id,
        "registered_address": seller.place.text,
        "jurisdiction": seller.jurisdiction,
        "contact_person_id": None,  # set once users exist: companies and users point at each other
    }


def _name_parts(person: Person) -> tuple[str, str]:
    if person.language == "zh":
        return person.full_name[1:], person.full_name[:1]
    first, _, last = person.full_name.partition(" ")
    return first, last


def user_rows(population: Population) -> Iterator[Row]:
    for p in population.people:
        erased = p.erased
        yield {
            "id": p.id,
            "kind": p.kind,
            "full_name": None if erased else p.full_name,
            "email": None if erased else p.email,
            "phone": None if erased else p.phone,
            "jurisdiction": p.jurisdiction,
            "created_at": None if erased else p.created_at,  # anonymized with the profile
            "deletion_state": p.state,
            "erasure_requested_at": p.erasure_requested_at,
            "erased_at": p.erased_at,
            "analytics_consent": not erased and p.analytics_withdrawn_at is None,
            "company_id": None if erased else p.company_id,
        }


def address_rows(rng: Random, population: Population) -> Iterator[Row]:
    """A default address per buyer, a second one for some; erased buyers' are deleted."""
    address_id = 0
    for buyer in population.buyers:
        assert buyer.place is not None
        places = [buyer.place]
        if rng.random() < 0.3:
            places.append(place(rng, buyer.locale))
        if buyer.erased:  # the erasure plan deletes addresses (Art. 6.4)
            continue
        for n, where in enumerate(places):
            address_id += 1
            yield {
                "id": address_id,
                "user_id": buyer.id,
                "line1": where.line1,
                "city": where.city,
                "postal_code": where.postal_code,
                "country": buyer.locale.country,
                "is_default": n == 0,
            }
