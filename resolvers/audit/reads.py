"""Reads of personal data by an employee, collected while a request runs and turned into
audit events when it ends: per type, one event for each set of subjects read alike (the
same fields, each SHOW or MASK), naming them all.

Projection decides once per (type, stance) and stamps each object it builds with its plan
and its subjects; when a resolver hands objects to GraphQL, `report()` (schema/privacy.py)
knows which fields the query selected there and calls `saw` once per plan, with the set of
subjects. So recording costs a set update per list, not a call per field per row, and an
event names exactly the fields the response carried for that subject: SHOW (the value) or
MASK (a masked value). Stripped fields were not read and are not recorded.

A subject's fields are merged over every place the request carried them, so each subject
of a type is in exactly one event of the request: "who read what of whom" is one lookup in
the subject index, and an employee's list of a thousand people costs one chained event and
a thousand narrow index rows, not a thousand chained events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from resolvers.audit.chain import Event

READ = "READ"


class Read(NamedTuple):
    """One field of one subject as the response carried it."""

    name: str  # the GraphQL field name
    action: str  # SHOW | MASK
    category: str  # its data category (directives/taxonomy.py)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a request acts as, for every event it causes."""

    actor: str  # employee:<id>, user:<id> or anonymous
    role: str | None
    purpose: str | None
    request_id: str


@dataclass(eq=False)
class ReadLog:
    """An employee's reads in one request: (type, reads) -> the subjects read so."""

    actor: Actor
    groups: dict[tuple[str, tuple[Read, ...]], set[int]] = field(default_factory=dict)

    def saw(self, entity: str, reads: tuple[Read, ...], subjects: set[int]) -> None:
        known = self.groups.get((entity, reads))
        if known is None:
            self.groups[(entity, reads)] = subjects
        else:
            known |= subjects

    def __bool__(self) -> bool:
        return any(self.groups.values())

    def events(self) -> list[Event]:
        """READ events, one per (type, fields) naming every subject read so: the fields
        merged over every place a subject appeared (SHOW wins over MASK); by type, then as
        read, subjects in id order."""
        by_entity: dict[str, list[tuple[tuple[Read, ...], set[int]]]] = {}
        for (entity, reads), subjects in self.groups.items():
            if subjects:
                by_entity.setdefault(entity, []).append((reads, subjects))
        described: dict[frozenset[Read], tuple[str, str]] = {}
        found: list[Event] = []
        for entity in sorted(by_entity):
            groups = by_entity[entity]
            once = _read_once(groups)
            merged: dict[frozenset[Read], list[int]] = {}
            for reads, subjects in groups:
                alike = subjects & once if len(groups) > 1 else subjects
                if alike:
                    merged.setdefault(frozenset(reads), []).extend(alike)
            for sid in subjects_of(groups) - once:
                key = frozenset(r for reads, seen in groups if sid in seen for r in reads)
                merged.setdefault(key, []).append(sid)
            for reads_of, sids in merged.items():
                text = described.get(reads_of)
                if text is None:
                    text = described[reads_of] = describe(reads_of)
                found.append(self._event(entity, *text, sorted(sids)))
        return found

    def _event(self, entity: str, fields: str, categories: str, subjects: list[int]) -> Event:
        actor = self.actor
        one = len(subjects) == 1
        return Event(
            subject_id=subjects[0] if one else None,
            subjects=None if one else tuple(subjects),
            action=READ,
            actor=actor.actor,
            actor_role=actor.role,
            purpose=actor.purpose,
            entity=entity,
            fields=fields,
            categories=categories,
            request_id=actor.request_id,
        )


def describe(reads: Iterable[Read]) -> tuple[str, str]:
    """The `fields` JSON (name -> SHOW | MASK, SHOW winning) and the `categories` list."""
    actions: dict[str, str] = {}
    categories = set()
    for read in reads:
        if actions.get(read.name) != "SHOW":
            actions[read.name] = read.action
        categories.add(read.category)
    fields = json.dumps(dict(sorted(actions.items())), separators=(",", ":"))
    return fields, ",".join(sorted(categories))


def subjects_of(groups: list[tuple[tuple[Read, ...], set[int]]]) -> set[int]:
    found: set[int] = set()
    for _, subjects in groups:
        found |= subjects
    return found


def _read_once(groups: list[tuple[tuple[Read, ...], set[int]]]) -> set[int]:
    """Subjects that appear in one group only (the usual case): no merging needed."""
    if len(groups) == 1:
        return set(groups[0][1])
    seen: set[int] = set()
    again: set[int] = set()
    for _, subjects in groups:
        again |= subjects & seen
        seen |= subjects
    return seen - again


# What the DPO queue carries of a request's subject (schema/rights/types.py): who filed it,
# and their own words. Requests are not built by projection, so the queue records them.
REQUEST_READS = (
    Read("subjectId", "SHOW", "user.privacy.state"),
    Read("details", "SHOW", "user.privacy.state"),
)


def requests_read(log: ReadLog | None, subject_ids: Iterable[int]) -> None:
    """Record that staff read these subjects' privacy requests (None: not audited)."""
    if log is not None:
        subjects = set(subject_ids)
        if subjects:
            log.saw("PrivacyRequest", REQUEST_READS, subjects)
