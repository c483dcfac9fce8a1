"""User-generated content besides reviews: short videos and comments on videos or products.

Erased subjects have none (deleted on erasure); pending ones keep theirs, hidden by the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from random import Random

from gateway.seed.commerce import Product
from gateway.seed.demo import DEMO_USERS
from gateway.seed.population import (
    BUYER,
    ORDER_END_DAY,
    SELLER,
    Person,
    Population,
    Row,
    at,
    days_after,
)
from gateway.seed.vocabulary import CAPTIONS, COMMENTS

_LAST_DAY = ORDER_END_DAY + 30  # before any pending erasure request
# Demo accounts that always post, so every privacy state shows up in UGC.
_POSTERS = frozenset(
    DEMO_USERS[key]
    for key in ("buyer", "seller", "buyer_withdrawn", "buyer_erasure_pending", "other_buyer")
)
_VIDEO_SHARE = {BUYER: 0.08, SELLER: 0.3}
_COMMENT_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class _Video:
    id: int
    created_at: datetime
    seller_id: int  # of the product it shows


class Content:
    def __init__(
        self, rng: Random, population: Population, catalogue: dict[int, list[Product]]
    ) -> None:
        self.rng = rng
        self.population = population
        self.catalogue = catalogue
        self.products = [p for products in catalogue.values() for p in products]
        # Buyers film products titled in their own language.
        self.products_by_language: dict[str, list[Product]] = {}
        for seller in population.sellers:
            self.products_by_language.setdefault(seller.language, []).extend(catalogue[seller.id])
        self.videos: list[_Video] = []

    def video_rows(self) -> Iterator[Row]:
        rng = self.rng
        for person in self.population.people:
            share = _VIDEO_SHARE.get(person.kind, 0.0)
            if person.erased or (person.id not in _POSTERS and rng.random() >= share):
                continue
            for _ in range(rng.randint(1, 2)):
                if person.kind == SELLER:
                    product = rng.choice(self.catalogue[person.id])
                else:
                    product = rng.choice(self.products_by_language[person.language])
                video = _Video(len(self.videos) + 1, self._when(person), product.seller_id)
                self.videos.append(video)
                yield {
                    "id": video.id,
                    "author_id": person.id,
                    "product_id": product.id,
                    "url": f"https://video.cistech.example.com/v/{video.id:08d}.mp4",
                    "caption": rng.choice(CAPTIONS[person.language]).format(p=product.title),
                    "created_at": video.created_at,
                }

    def comment_rows(self) -> Iterator[Row]:
        """Run after video_rows: comments point at the videos it made."""
        rng, comment_id = self.rng, 0
        for buyer in self.population.buyers:
            if buyer.erased or (buyer.id not in _POSTERS and rng.random() >= _COMMENT_SHARE):
                continue
            for _ in range(rng.randint(1, 3)):
                video: _Video | None = None
                product: Product | None = None
                if self.videos and rng.random() < 0.6:
                    video = rng.choice(self.videos)
                    seller_id, earliest = video.seller_id, video.created_at
                else:
                    product = rng.choice(self.products)
                    seller_id, earliest = product.seller_id, buyer.created_at
                if buyer.id == DEMO_USERS["other_buyer"] and seller_id == DEMO_USERS["seller"]:
                    continue
                comment_id += 1
                start = max(days_after(earliest), days_after(buyer.created_at)) + 0.01
                yield {
                    "id": comment_id,
                    "author_id": buyer.id,
                    "video_id": video.id if video else None,
                    "product_id": product.id if product else None,
                    "text": rng.choice(COMMENTS[buyer.language]),
                    "created_at": at(rng, start, max(start + 1, _LAST_DAY)),
                }

    def _when(self, person: Person) -> datetime:
        start = days_after(person.created_at) + 0.5
        return at(self.rng, start, _LAST_DAY)
