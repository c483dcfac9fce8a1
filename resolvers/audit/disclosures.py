"""Who saw my data (GDPR Art. 15(1)(c)): the subject's audit READ events (found through the
subject index), per day (UTC), role and purpose, with how many reads touched each category
and in how many requests.

Newest day first, then role and purpose; a page ends at a group and the cursor names it
(keyset). Roles and purposes are said, never which employee.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Date, and_, func, or_, select, type_coerce

from directives.taxonomy import Purpose, Role
from gateway.db.models import AuditEvent, AuditEventSubject
from resolvers.audit.index import update_index
from resolvers.audit.reads import READ
from resolvers.context import Context
from resolvers.errors import InputError
from resolvers.rights.refusals import subject_of

_CURSOR = "disclosure:"
_day = type_coerce(func.date(AuditEvent.occurred_at), Date())
Key = tuple[date, str, str]


@dataclass(frozen=True, slots=True)
class Disclosure:
    day: date
    role: str
    purpose: str
    requests: int  # requests that read something of the subject
    categories: tuple[tuple[str, int], ...]  # (category, reads that carried it)

    @property
    def key(self) -> Key:
        return self.day, self.role, self.purpose


async def disclosures(ctx: Context, first: int, after: Key | None) -> tuple[list[Disclosure], bool]:
    """Up to `first` groups after the group `after` (a decoded cursor), and whether more
    follow. Refuses (Refusal) anyone but a signed-in platform user."""
    subject = subject_of(ctx)
    limit = ctx.settings.max_page_size
    if not 1 <= first <= limit:
        raise InputError(f"'first' must be between 1 and {limit}, got {first}")
    await update_index(ctx.sessions)  # every event already in the chain
    e, named = AuditEvent, AuditEventSubject
    mine = [named.subject_id == subject, e.action == READ]
    conditions = list(mine)
    if after is not None:
        conditions.append(_after(after))
    groups = (
        select(_day, e.actor_role, e.purpose, func.count(func.distinct(e.request_id)))
        .join(named, named.event_id == e.id)
        .where(*conditions)
        .group_by(_day, e.actor_role, e.purpose)
        .order_by(_day.desc(), e.actor_role, e.purpose)
        .limit(first + 1)
    )
    async with ctx.sessions() as session:
        found = (await session.execute(groups)).all()
        more = len(found) > first
        page = [(day, role or "", purpose or "", n) for day, role, purpose, n in found[:first]]
        if not page:
            return [], False
        newest, oldest = page[0][0], page[-1][0]
        detail = (
            select(_day, e.actor_role, e.purpose, e.categories, func.count())
            .join(named, named.event_id == e.id)
            .where(*mine, _day >= oldest, _day <= newest)
            .group_by(_day, e.actor_role, e.purpose, e.categories)
        )
        rows = (await session.execute(detail)).all()
    counts: dict[Key, dict[str, int]] = {(day, role, purpose): {} for day, role, purpose, _ in page}
    for day, role, purpose, categories, count in rows:
        per = counts.get((day, role or "", purpose or ""))
        if per is None:
            continue
        for category in (categories or "").split(","):
            if category:
                per[category] = per.get(category, 0) + count
    return [
        Disclosure(day, role, purpose, n, tuple(sorted(counts[(day, role, purpose)].items())))
        for day, role, purpose, n in page
    ], more


def _after(key: Key) -> ColumnElement[bool]:
    day, role, purpose = key
    e = AuditEvent
    return or_(
        _day < day,
        and_(
            _day == day,
            or_(e.actor_role > role, and_(e.actor_role == role, e.purpose > purpose)),
        ),
    )


def encode_cursor(item: Disclosure) -> str:
    text = f"{_CURSOR}{item.day.isoformat()}|{item.role}|{item.purpose}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(cursor: str) -> Key:
    """The group after which a page starts; anything the gateway did not issue is refused."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (UnicodeError, binascii.Error, ValueError):
        text = ""
    head, _, rest = text.partition(_CURSOR)
    parts = rest.split("|")
    try:
        if head or len(parts) != 3:
            raise ValueError
        key = (date.fromisoformat(parts[0]), Role(parts[1]).value, Purpose(parts[2]).value)
    except ValueError:
        raise InputError("'after' is not a cursor this gateway issued") from None
    if encode_cursor(Disclosure(*key, 0, ())) != cursor:
        raise InputError("'after' is not a cursor this gateway issued")
    return key
