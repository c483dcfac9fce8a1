"""The whole demo world as a stream of (table, rows) chunks, parents before children.

One `random.Random(seed)` is drawn from in a fixed order and every timestamp is an
offset from a fixed base, so the same (users, seed) always yields the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from random import Random

from gateway.seed.commerce import Commerce, build_catalogue
from gateway.seed.content import Content
from gateway.seed.demo import employee_rows
from gateway.seed.population import Row, address_rows, build_population, user_rows
from gateway.seed.privacy import consent_rows, incident_rows, request_rows

Batch = tuple[str, list[Row]]
CHUNK = 5000


def chunks(table: str, rows: Iterable[Row], size: int = CHUNK) -> Iterator[Batch]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield table, batch


def generate(users: int, seed: int) -> Iterator[Batch]:
    rng = Random(seed)
    yield "employees", employee_rows()
    population = build_population(rng, users)
    # Companies go in without their contact person; the writer links them once users exist.
    yield from chunks("companies", population.companies)
    yield from chunks("users", user_rows(population))
    yield from chunks("addresses", address_rows(rng, population))
    catalogue, products = build_catalogue(rng, population)
    yield from chunks("products", products)
    yield from Commerce(rng, population, catalogue).batches()
    content = Content(rng, population, catalogue)
    yield from chunks("videos", content.video_rows())
    yield from chunks("comments", content.comment_rows())
    yield from chunks("consents", consent_rows(population))
    yield from chunks("privacy_requests", request_rows(rng, population))
    incidents, notifications = incident_rows(rng, population)
    yield "security_incidents", incidents
    yield from chunks("notifications", notifications)
