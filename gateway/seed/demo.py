"""The well-known demo accounts and staff: fixed ids, so the `demo` command can print tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DemoProfile:
    key: str
    kind: str
    country: str
    full_name: str
    email_local: str
    state: str = "ACTIVE"
    analytics_withdrawn: bool = False


# Ids are positions in this tuple (1-based); generated users follow.
DEMO_PROFILES: tuple[DemoProfile, ...] = (
    # buyer, seller and logistics share an order in transit, a delivered order and two chats.
    DemoProfile("buyer", "BUYER", "DE", "Anna Schmidt", "anna.schmidt"),
    DemoProfile("seller", "SELLER", "DE", "Lukas Becker", "lukas.becker"),
    DemoProfile("logistics", "LOGISTICS", "PL", "Piotr Nowak", "piotr.nowak"),
    DemoProfile(
        "buyer_withdrawn",
        "BUYER",
        "RU",
        "Ольга Кузнецова",
        "olga.kuznetsova",
        analytics_withdrawn=True,
    ),
    DemoProfile(
        "buyer_erasure_pending", "BUYER", "CN", "王芳", "wang.fang", state="ERASURE_PENDING"
    ),
    DemoProfile("buyer_erased", "BUYER", "FR", "Marie Dubois", "marie.dubois", state="ERASED"),
    # Shares nothing with the demo seller: no order, shipment or conversation.
    DemoProfile("other_buyer", "BUYER", "KZ", "Ержан Сапаров", "erzhan.saparov"),
)

DEMO_USERS: dict[str, int] = {p.key: i for i, p in enumerate(DEMO_PROFILES, start=1)}

# (id, full name, e-mail, comma-separated roles, active)
_STAFF: tuple[tuple[int, str, str, str, bool], ...] = (
    (1, "Sofia Marin", "sofia.marin", "SUPPORT", True),
    (2, "Jonas Weber", "jonas.weber", "FINANCE", True),
    (3, "陈静", "chen.jing", "ANALYST", True),
    (4, "Айгуль Жанибекова", "aigul.zhanibekova", "DPO", True),
    (5, "Павел Орлов", "pavel.orlov", "SECURITY", True),
    (6, "Nina Kovač", "nina.kovac", "SUPPORT,SECURITY", True),
    (7, "Tom Berger", "tom.berger", "FINANCE", False),  # left the company: must not get in
)

DEMO_EMPLOYEES: dict[str, tuple[int, str]] = {
    roles.lower(): (employee_id, roles) for employee_id, _, _, roles, _ in _STAFF[:5]
}


def employee_rows() -> list[dict[str, Any]]:
    return [
        {
            "id": employee_id,
            "full_name": name,
            "email": f"{local}@staff.cistech.example.com",
            "roles": roles,
            "active": active,
        }
        for employee_id, name, local, roles, active in _STAFF
    ]
