"""The audit chain: each event's hash covers its fields and the hash before it.

    hash(n) = sha256(hash(n-1) + canonical(event n)),   hash(0) = GENESIS

`canonical` is the JSON array of the event's columns in `CHAINED` order (compact, UTF-8,
timestamps as `YYYY-MM-DDTHH:MM:SS.ffffffZ`), then `subjects` where the event names several
(events written before there was such a column hash as they did). Appending locks the
one-row chain head (`UPDATE ... RETURNING` takes the row lock on PostgreSQL and the write
lock on SQLite), so two processes appending at once still make one chain; ids are the
head's `last_id + 1...`, contiguous, so a deleted event leaves a gap. `verify` streams the
chain in id order and names the first event that does not hold: altered (its hash),
unlinked (its previous hash), missing (a gap, or a chain shorter than its head), inserted
(past the head), or misindexed (`audit_event_subjects`, the lookup by subject, does not
say whom it names).

The chain is tamper-evident, not tamper-proof: whoever can rewrite every row after the one
they change, and the head, can forge it. `verifyAuditChain` returns the head hash so that
it can be written down elsewhere (an anchor) and compared later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db.models import AuditChainHead, AuditEvent, AuditEventSubject, AuditIndexHead

GENESIS = "0" * 64
HEAD_ID = 1
# The columns a hash covers, in this order (the id too: an event cannot move).
CHAINED = (
    "id",
    "occurred_at",
    "actor",
    "actor_role",
    "purpose",
    "action",
    "subject_id",
    "entity",
    "fields",
    "categories",
    "request_id",
    "detail",
)
_EVENTS = cast(Table, AuditEvent.__table__)
_SUBJECTS = cast(Table, AuditEventSubject.__table__)
_INDEXED = cast(Table, AuditIndexHead.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class Event:
    """An event to append; the chain gives it an id, a time and its hashes. It is about one
    subject (`subject_id`), or several read alike (`subjects`, ascending ids), or none."""

    action: str
    actor: str
    actor_role: str | None = None
    purpose: str | None = None
    subject_id: int | None = None
    entity: str | None = None
    fields: str | None = None
    categories: str | None = None
    request_id: str | None = None
    detail: str | None = None
    subjects: tuple[int, ...] | None = None

    def named(self) -> tuple[int, ...]:
        """Whom the event names, in id order."""
        if self.subjects is not None:
            return self.subjects
        return () if self.subject_id is None else (self.subject_id,)


def stamp(at: datetime) -> str:
    """The canonical text of a time: UTC, microseconds, `Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[Any, Any]) -> str:
    """The reference serialisation of a stored event (`verify` uses it)."""
    values = [row[name] for name in CHAINED]
    values[1] = stamp(values[1])
    if row["subjects"] is not None:
        values.append(row["subjects"])
    return _dumps(values)


def subjects_text(subjects: Sequence[int]) -> str:
    """How `audit_events.subjects` stores several subjects: ascending ids, comma-separated."""
    return ",".join(map(str, subjects))


def named(row: Mapping[Any, Any]) -> list[int]:
    """Whom a stored event names (what `audit_event_subjects` must say of it)."""
    if row["subjects"] is not None:
        return [int(part) for part in row["subjects"].split(",")]
    return [] if row["subject_id"] is None else [row["subject_id"]]


def chained(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


@dataclass(eq=False)
class KnownHead:
    """A process's last sight of the chain head: when no other process appended since,
    appending is two statements, else three (`append`). A wrong guess costs a hash of the
    rows, no more."""

    last: tuple[int, str] | None = None


_STORED = (*CHAINED, "subjects", "prev_hash", "hash")
_PLACEHOLDERS = {
    "qmark": ", ".join("?" for _ in _STORED),
    "numeric_dollar": ", ".join(f"${n}" for n in range(1, len(_STORED) + 1)),
    "format": ", ".join("%s" for _ in _STORED),
}
_PG_TYPES = ("int4", "timestamp", *("text",) * 4, "int4", *("text",) * 8)


def append(
    conn: Connection, events: Sequence[Event], at: datetime, known: KnownHead | None = None
) -> int:
    """Append `events` at time `at` in the connection's transaction; the caller commits.

    The first statement locks the head row, so concurrent appenders queue there and each
    links to the one before. It also moves the head if it is still where this process last
    saw it (the rows were hashed from there) and returns where it is: then one insert
    follows, two statements in all. Otherwise the rows are hashed from the head it
    returned, inserted, and the head moved: three. The rows go to the driver as plain
    tuples in one statement. Their subjects are indexed later (index.py). Returns the last
    id appended (0 if nothing was)."""
    if not events:
        return 0
    stored_at = _stored_time(conn.dialect)
    when = stored_at(at) if stored_at is not None else at
    guess = known.last if known is not None else None
    rows = _link(events, at, when, *guess) if guess is not None else None
    moved = (-1, "") if rows is None else (rows[-1][0], rows[-1][-1])
    seen = guess or moved
    head = conn.execute(
        _MOVE_IF_SEEN,
        {"seen_id": seen[0], "seen_hash": seen[1], "new_id": moved[0], "new_hash": moved[1]},
    ).one()
    if rows is not None and tuple(head) == moved:
        _insert(conn, rows)
        return _seen(known, rows)
    rows = _link(events, at, when, head[0], head[1])
    _insert(conn, rows)
    conn.execute(_MOVE, {"new_id": rows[-1][0], "new_hash": rows[-1][-1]})
    return _seen(known, rows)


# The head's two moves, built once (a statement built per append was a third of its cost):
# moved only if still where this process last saw it, returning where it is; moved.
_STILL = and_(_HEAD.c.last_id == bindparam("seen_id"), _HEAD.c.last_hash == bindparam("seen_hash"))
_MOVE_IF_SEEN = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(
        last_id=case((_STILL, bindparam("new_id", type_=Integer)), else_=_HEAD.c.last_id),
        last_hash=case((_STILL, bindparam("new_hash", type_=String)), else_=_HEAD.c.last_hash),
    )
    .returning(_HEAD.c.last_id, _HEAD.c.last_hash)
)
_MOVE = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_id=bindparam("new_id"), last_hash=bindparam("new_hash"))
)
_TIME_PROCESSORS: dict[str, Any] = {}


def _stored_time(dialect: Any) -> Any:
    """How the driver stores `occurred_at` (UTCDateTime's bind processor), per dialect."""
    name = dialect.name
    if name not in _TIME_PROCESSORS:
        _TIME_PROCESSORS[name] = _EVENTS.c.occurred_at.type.bind_processor(dialect)
    return _TIME_PROCESSORS[name]


def _insert(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """One statement on PostgreSQL (the rows as arrays, unnested by the server: a thousand
    rows in one execution); an executemany of tuples elsewhere."""
    columns = ", ".join(_STORED)
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_PG_TYPES, start=1))
        conn.exec_driver_sql(
            f"INSERT INTO audit_events ({columns}) SELECT * FROM unnest({arrays})",
            tuple(list(column) for column in zip(*rows, strict=True)),
        )
        return
    marks = _PLACEHOLDERS[conn.dialect.paramstyle]
    conn.exec_driver_sql(f"INSERT INTO audit_events ({columns}) VALUES ({marks})", rows)


# PostgreSQL, when this process's last sight of the head still holds: the head moved and
# the rows inserted by one statement, outside an explicit transaction (one statement is
# atomic; the head row is locked while it runs), so a request's reads cost one round trip
# instead of five (BEGIN, UPDATE, INSERT, COMMIT and the pool's ping). The INSERT adds the
# rows only if the UPDATE moved the head, i.e. it was still where the rows were hashed from.
_PG_ONE_TRIP = (
    "WITH head AS (UPDATE audit_chain_head SET "
    "last_id = CASE WHEN last_id = $1::int4 AND last_hash = $2::text "
    "THEN $3::int4 ELSE last_id END, "
    "last_hash = CASE WHEN last_id = $1::int4 AND last_hash = $2::text "
    "THEN $4::text ELSE last_hash END "
    f"WHERE id = {HEAD_ID} RETURNING last_id, last_hash), "
    f"added AS (INSERT INTO audit_events ({', '.join(_STORED)}) SELECT * FROM unnest("
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_PG_TYPES, start=5))
    + ") WHERE EXISTS (SELECT 1 FROM head WHERE last_id = $3::int4 AND last_hash = $4::text) "
    "RETURNING 1) SELECT last_id, last_hash FROM head"
)


async def append_in_one_trip(
    driver: Any, dialect: Any, events: Sequence[Event], at: datetime, known: KnownHead
) -> bool:
    """Append `events` on an asyncpg connection outside any transaction, in one statement,
    if the head is still where `known` last saw it; False (nothing written) otherwise, and
    the caller appends through `append`."""
    if not events or known.last is None:
        return False
    stored_at = _stored_time(dialect)
    when = stored_at(at) if stored_at is not None else at
    guess = known.last
    rows = _link(events, at, when, *guess)
    moved = (rows[-1][0], rows[-1][-1])
    columns = [list(column) for column in zip(*rows, strict=True)]
    head = await driver.fetchrow(_PG_ONE_TRIP, guess[0], guess[1], moved[0], moved[1], *columns)
    if head is None or (head[0], head[1]) != moved:
        return False
    _seen(known, rows)
    return True


def _seen(known: KnownHead | None, rows: list[tuple[Any, ...]]) -> int:
    # Remembered before the commit: if it fails, the next append's guess misses, no more.
    last = rows[-1]
    if known is not None:
        known.last = (last[0], last[-1])
    return int(last[0])


def _link(
    events: Sequence[Event], at: datetime, stored_at: Any, last_id: int, prev: str
) -> list[tuple[Any, ...]]:
    """The rows to insert (columns in `_STORED` order), hashed in order: what `canonical`
    would produce of each (tests/test_audit.py proves it equal)."""
    when = stamp(at)
    rows = []
    next_id = last_id
    sha = hashlib.sha256
    for event in events:
        next_id += 1
        several = None if event.subjects is None else subjects_text(event.subjects)
        values = [
            next_id,
            when,
            event.actor,
            event.actor_role,
            event.purpose,
            event.action,
            event.subject_id,
            event.entity,
            event.fields,
            event.categories,
            event.request_id,
            event.detail,
        ]
        if several is not None:
            values.append(several)
        digest = sha((prev + _dumps(values)).encode()).hexdigest()
        values[1] = stored_at
        if several is None:
            values.append(None)
        rows.append((*values, prev, digest))
        prev = digest
    return rows


def rows_of(events: Iterable[Event], at: datetime, last_id: int, prev: str) -> list[dict[str, Any]]:
    """The rows `append` would insert after (last_id, prev), as mappings (the time as it
    is, not as a driver stores it): for tests of the fast path."""
    return [
        dict(zip(_STORED, row, strict=True)) for row in _link(list(events), at, at, last_id, prev)
    ]


class Break(StrEnum):
    """How the chain fails at the event `Verdict.broken_at` names."""

    ALTERED = "ALTERED"  # its columns do not give its hash: changed after it was written
    UNLINKED = "UNLINKED"  # it does not name the previous event's hash: inserted or moved
    MISSING = "MISSING"  # no event has this id, yet a later one does (or the head does)
    INSERTED = "INSERTED"  # beyond the chain head, or before the chain's first event
    MISINDEXED = "MISINDEXED"  # the subject index does not list whom it names


@dataclass(frozen=True, slots=True)
class Verdict:
    events: int  # events checked
    head_id: int
    head_hash: str
    broken_at: int | None = None
    reason: Break | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None

    @property
    def message(self) -> str:
        if self.reason is None:
            return f"audit chain intact: {self.events} events, head {self.head_hash}"
        return f"audit chain broken at event {self.broken_at}: {_EXPLAINED[self.reason]}"


_EXPLAINED = {
    Break.ALTERED: "its columns do not match its hash (changed after it was written)",
    Break.UNLINKED: "it does not link to the event before it (inserted or moved)",
    Break.MISSING: "it is missing (deleted); the chain continues past it or its head says so",
    Break.INSERTED: "it is not part of the chain the head describes (inserted)",
    Break.MISINDEXED: (
        "the subject index does not list whom it names (an index row was changed, deleted or added)"
    ),
}
_ROWS = select(*(_EVENTS.c[name] for name in _STORED))


async def verify(conn: AsyncConnection, *, batch: int = 2000) -> Verdict:
    """Walk the chain in id order, `batch` rows at a time, up to the head read first (an
    append while this runs moves the head past it, and is checked next time); stop at the
    first event that does not hold. The subject index must list whom each event names up
    to the index head, and nothing after it (index.py builds it behind the chain)."""
    head_id, head_hash = (
        await conn.execute(select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID))
    ).one()
    indexed = await _indexed(conn)
    prev_id, prev_hash, checked = 0, GENESIS, 0
    stream = await conn.stream(
        _ROWS.where(_EVENTS.c.id <= head_id)
        .order_by(_EVENTS.c.id)
        .execution_options(yield_per=batch)
    )
    async for rows in stream.partitions():
        index = await _index(conn, prev_id + 1, rows[-1].id)
        for row in rows:
            found = _check(row._mapping, prev_id, prev_hash)
            listed = index.pop(row.id, [])
            if found is None and listed and row.id > indexed:  # indexed while this ran?
                indexed = await _indexed(conn)
            if found is None and listed != (named(row._mapping) if row.id <= indexed else []):
                found = row.id, Break.MISINDEXED
            if found is not None:
                await stream.close()
                return Verdict(checked, head_id, head_hash, *found)
            prev_id, prev_hash = row.id, row.hash
            checked += 1
        if index:  # index rows of an event id the chain does not have
            await stream.close()
            return Verdict(checked, head_id, head_hash, min(index), Break.MISINDEXED)
    if prev_id < head_id:  # the last events are gone, yet the head names them
        return Verdict(checked, head_id, head_hash, prev_id + 1, Break.MISSING)
    if prev_hash != head_hash:
        return Verdict(checked, head_id, head_hash, prev_id, Break.ALTERED)
    return await _beyond(conn, Verdict(checked, head_id, head_hash))


async def _indexed(conn: AsyncConnection) -> int:
    """The last event the subject index covers (index.py)."""
    return int(await conn.scalar(select(_INDEXED.c.last_id).where(_INDEXED.c.id == HEAD_ID)) or 0)


async def _index(conn: AsyncConnection, low: int, high: int) -> dict[int, list[int]]:
    """What the subject index says of events `low`..`high`: event id -> subjects, ascending."""
    found: dict[int, list[int]] = {}
    rows = await conn.execute(
        select(_SUBJECTS.c.event_id, _SUBJECTS.c.subject_id)
        .where(_SUBJECTS.c.event_id.between(low, high))
        .order_by(_SUBJECTS.c.event_id, _SUBJECTS.c.subject_id)
    )
    for event_id, subject_id in rows:
        found.setdefault(event_id, []).append(subject_id)
    return found


def _check(row: Mapping[Any, Any], prev_id: int, prev_hash: str) -> tuple[int, Break] | None:
    event_id = row["id"]
    if event_id <= prev_id:
        return event_id, Break.INSERTED
    if event_id != prev_id + 1:
        return prev_id + 1, Break.MISSING
    if row["prev_hash"] != prev_hash:
        return event_id, Break.UNLINKED
    if chained(row["prev_hash"], canonical(row)) != row["hash"]:
        return event_id, Break.ALTERED
    return None


async def _beyond(conn: AsyncConnection, verdict: Verdict) -> Verdict:
    """An event past the head is legitimate only if the head (read again, after a
    concurrent append) covers it: appenders move the head in the same transaction. So is
    an index row past the head only if the index head covers it."""
    first = await conn.scalar(
        select(_EVENTS.c.id).where(_EVENTS.c.id > verdict.head_id).order_by(_EVENTS.c.id).limit(1)
    )
    if first is not None:
        head_now = await conn.scalar(select(_HEAD.c.last_id).where(_HEAD.c.id == HEAD_ID))
        if head_now is None or first > head_now:
            return replace(verdict, broken_at=first, reason=Break.INSERTED)
    covered = max(verdict.head_id, await _indexed(conn))
    stray = await conn.scalar(
        select(func.min(_SUBJECTS.c.event_id)).where(
            (_SUBJECTS.c.event_id > covered) | (_SUBJECTS.c.event_id < 1)
        )
    )
    if stray is not None:
        return replace(verdict, broken_at=stray, reason=Break.MISINDEXED)
    return verdict
