"""Executing an erasure: the plan of directives/erasure.py, interpreted as set-based SQL.

One transaction per subject, run by the worker inside the transaction that claimed the
job, so a crash leaves nothing half-done. Idempotent: a subject already erased is left as
it is. Set-based: the statements are the same for a subject with 10 messages and with
10,000 (a fixed number per plan rule). What was done is summarised per table with counts
and hold end dates, never a value.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    case,
    delete,
    exists,
    extract,
    func,
    insert,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from directives.erasure import HOLDS, PLAN, Action, Hold, Owner, Rule
from gateway.db import models as m
from gateway.db.types import UTCDateTime

_ERASED_STATES = ("ERASED", "PURGED")


@dataclass
class Summary:
    """Per table and action, how many rows; per held record type, until when."""

    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    held_until: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, table: str, action: Action | str, count: int) -> None:
        if count:
            done = self.counts[table]
            done[str(action)] = done.get(str(action), 0) + count

    def as_json(self) -> str:
        return json.dumps(
            {
                "tables": {t: dict(sorted(c.items())) for t, c in sorted(self.counts.items())},
                "held_until": {k: {"from": a, "to": b} for k, (a, b) in self.held_until.items()},
            },
            sort_keys=True,
        )

    def sentence(self) -> str:
        kinds: defaultdict[str, int] = defaultdict(int)
        for actions in self.counts.values():
            for action, count in actions.items():
                kinds[action] += count
        order = ("DELETE", "ANONYMIZE", "DETACH", "HOLD")
        words = {"DELETE": "deleted", "ANONYMIZE": "anonymized", "DETACH": "detached"}
        done = [f"{kinds[a]} rows {words.get(a, 'held')}" for a in order if kinds.get(a)]
        return "Erased: " + ", ".join(done) if done else "Erased: nothing left to erase"


def _table(name: str) -> Table:
    return m.Base.metadata.tables[name]


def _owned(table: Table, owner: Owner, subject_id: int) -> ColumnElement[bool]:
    column = table.c[owner.column]
    if owner.via is None:
        return column == subject_id
    via_table, key, naming = owner.via
    linked = _table(via_table)
    return column.in_(select(linked.c[key]).where(linked.c[naming] == subject_id))


async def erase(session: AsyncSession, subject_id: int, now: datetime) -> Summary | None:
    """Erase one subject in the caller's transaction; None if already erased (or unknown)."""
    users = _table("users")
    state = (
        await session.execute(
            select(users.c.deletion_state).where(users.c.id == subject_id).with_for_update()
        )
    ).scalar_one_or_none()
    if state is None or state in _ERASED_STATES:
        return None
    summary = Summary()
    for hold in HOLDS:
        await _hold(session, hold, subject_id, now, summary)
    await _recompute_ratings(session, subject_id)
    await _drop_abandoned_conversations(session, subject_id, summary)
    for rule in PLAN:
        await _apply(session, rule, subject_id, summary)
    await _end_consent(session, subject_id, now)
    holds = _table("legal_holds")
    held = await session.scalar(
        select(func.count()).select_from(holds).where(holds.c.subject_id == subject_id)
    )
    # Nothing kept under a hold: nothing is retained, so the subject is PURGED at once.
    state = "ERASED" if held else "PURGED"
    await session.execute(
        update(users).where(users.c.id == subject_id).values(deletion_state=state, erased_at=now)
    )
    return summary


async def _end_consent(session: AsyncSession, subject_id: int, now: datetime) -> None:
    """Erasure ends consent: the ledger records it like any withdrawal, so the current
    state (anonymized to False) is still the last ledger row's."""
    consents = _table("consents")
    await session.execute(
        insert(consents).values(
            subject_id=subject_id,
            purpose="ANALYTICS",
            granted=False,
            notice_version="-",
            method="ERASURE",
            recorded_at=now,
        )
    )


async def _apply(session: AsyncSession, rule: Rule, subject_id: int, summary: Summary) -> None:
    table = _table(rule.table)
    where = _owned(table, rule.owner, subject_id)
    if rule.action is Action.DELETE:
        result = await session.execute(delete(table).where(where))
    elif rule.action is Action.ANONYMIZE:
        result = await session.execute(
            update(table).where(where).values({column: rule.to for column in rule.columns})
        )
    elif rule.action is Action.DETACH:
        result = await session.execute(
            update(table).where(where).values(dict.fromkeys(rule.columns))
        )
    else:  # HOLD and KEEP change nothing now
        return
    summary.add(rule.table, rule.action, result.rowcount)  # type: ignore[attr-defined]


async def _hold(
    session: AsyncSession, hold: Hold, subject_id: int, now: datetime, summary: Summary
) -> None:
    """A legal hold per record, ending 5 years after the end of its date's calendar year:
    one statement for the years present, one INSERT ... SELECT for every record."""
    table = _table(hold.table)
    holds = _table("legal_holds")
    owned = _owned(table, hold.owner, subject_id)
    year = extract("year", table.c[hold.dated_by])
    years = [int(y) for y in (await session.scalars(select(year).where(owned).distinct())).all()]
    if not years:
        return
    until = {y: datetime(y + 1 + hold.years, 1, 1, tzinfo=UTC) for y in years}
    ends = case(*((year == y, literal(end, UTCDateTime())) for y, end in until.items()))
    already = exists().where(
        holds.c.record_type == hold.record_type, holds.c.record_id == table.c.id
    )
    rows = select(
        literal(subject_id),
        literal(hold.record_type),
        table.c.id,
        literal(hold.basis.value),
        ends,
        literal(now, UTCDateTime()),
    ).where(owned, not_(already))
    result = await session.execute(
        insert(holds).from_select(
            ["subject_id", "record_type", "record_id", "basis", "held_until", "created_at"], rows
        )
    )
    summary.add(hold.table, Action.HOLD, result.rowcount)  # type: ignore[attr-defined]
    summary.held_until[hold.record_type] = (
        min(until.values()).date().isoformat(),
        max(until.values()).date().isoformat(),
    )


async def _recompute_ratings(session: AsyncSession, subject_id: int) -> None:
    """Products the subject reviewed get their rating without the subject's reviews."""
    products, reviews = _table("products"), _table("reviews")
    others = and_(reviews.c.product_id == products.c.id, reviews.c.author_id != subject_id)
    await session.execute(
        update(products)
        .where(
            products.c.id.in_(select(reviews.c.product_id).where(reviews.c.author_id == subject_id))
        )
        .values(
            rating_count=select(func.count()).where(others).scalar_subquery(),
            rating_avg=select(func.avg(reviews.c.rating)).where(others).scalar_subquery(),
        )
    )


async def _drop_abandoned_conversations(
    session: AsyncSession, subject_id: int, summary: Summary
) -> None:
    """A conversation whose every other participant is erased keeps nothing worth keeping:
    it goes, with its messages, when its last participant is erased."""
    conversations = _table("conversations")
    participants, messages, users = (
        _table("conversation_participants"),
        _table("messages"),
        _table("users"),
    )
    mine = select(participants.c.conversation_id).where(participants.c.user_id == subject_id)
    someone_left = (
        select(participants.c.conversation_id)
        .join(users, users.c.id == participants.c.user_id)
        .where(participants.c.user_id != subject_id)
        .where(users.c.deletion_state.not_in(_ERASED_STATES))
    )
    abandoned = select(conversations.c.id).where(
        conversations.c.id.in_(mine), conversations.c.id.not_in(someone_left)
    )
    ids = list((await session.scalars(abandoned)).all())
    if not ids:
        return
    for table in (messages, participants):
        result = await session.execute(delete(table).where(table.c.conversation_id.in_(ids)))
        summary.add(table.name, Action.DELETE, result.rowcount)  # type: ignore[attr-defined]
    result = await session.execute(delete(conversations).where(conversations.c.id.in_(ids)))
    summary.add("conversations", Action.DELETE, result.rowcount)  # type: ignore[attr-defined]
