"""The deletion grace period ends before the earliest deadline of a deletion, or nothing starts.

A deletion can be taken back for GATEWAY_DELETION_GRACE_DAYS, and the worker erases only
once that has passed. A grace period that reached the due date of a deletion in some
jurisdiction would make erasures late by design, so the gateway and the worker refuse such
a configuration at start, naming the setting and the earliest deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from directives.deadlines import JURISDICTIONS, RequestKind, RuleBook, due
from gateway.errors import ConfigurationError
from gateway.settings import Settings


def shortest_deletion_period(book: RuleBook, around: datetime) -> tuple[timedelta, str, str]:
    """The shortest time from receipt to the due date of a deletion: (period, jurisdiction,
    rule reference), over every jurisdiction and a request received at the start of each
    month of `around`'s year and the next (months differ in length, and at most one of two
    consecutive years is a leap year, so February's 28 days are always among them)."""
    starts = [
        datetime(year, month, 1, tzinfo=UTC)
        for year in (around.year, around.year + 1)
        for month in range(1, 13)
    ]
    return min(
        (
            (deadline.due_at - received, jurisdiction, deadline.reference)
            for jurisdiction in JURISDICTIONS
            for received in starts
            for deadline in (due(book, RequestKind.DELETION, jurisdiction, received),)
        ),
        key=lambda found: found[0],
    )


def check_grace(settings: Settings, book: RuleBook, now: datetime | None = None) -> None:
    """Refuse a grace period that ends at or after the earliest deadline of a deletion."""
    period, jurisdiction, reference = shortest_deletion_period(book, now or datetime.now(UTC))
    if timedelta(days=settings.deletion_grace_days) < period:
        return
    days = f"{period / timedelta(days=1):.2f}".rstrip("0").rstrip(".")
    raise ConfigurationError(
        f"GATEWAY_DELETION_GRACE_DAYS={settings.deletion_grace_days} ends at or after the "
        f"earliest deadline of a deletion ({days} days: {jurisdiction}, {reference}); "
        f"set it below {days} days so erasures can run before they are due"
    )
