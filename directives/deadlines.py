"""Deadlines as data: when a privacy request or a breach notice is due.

The rules of `jurisdictions.md` live in `directives/data/jurisdictions.csv`, one row per
jurisdiction, kind and stage, so counsel can correct a figure without a code change. Each row
gives the figure the gateway counts (unit and amount), the extension the law allows, the legal
reference, how certain the figure is, the law's own word where it has no number ("timely",
"immediately") and whether the figure is the platform's internal SLA rather than the law's.
Where the law is silent the row says which fallback it uses: no default is hidden in code.

How time is counted (not legal advice; the choices lean early, never late):

- HOURS: exact elapsed time, weekends and holidays included.
- CALENDAR_DAYS and MONTHS: the same local wall-clock time N days or months later, in the
  jurisdiction's time zone, so a DST change does not move the hour. Months clamp to the end of
  a shorter month (31 January + 1 month = 28 February, 29 in a leap year). A wall time that
  does not exist (spring forward) falls forward by the gap; an ambiguous one takes its first
  occurrence. These deadlines stay on a weekend or holiday: some laws would move them to the
  next working day (EU Regulation 1182/71 Art. 3(4), RU Civil Code Art. 193), but the earlier
  date is the safe one.
- WORKING_DAYS: the day of receipt is never counted, whatever its hour and whether or not it is
  a working day; the deadline is the end (23:59:59.999999 local) of the Nth working day after
  it, as periods in days end at the end of their last day (Reg. 1182/71 Art. 3(2), RU Civil
  Code Art. 194). So a request on Friday evening, on Saturday or on a holiday starts counting
  on the next working day. Working days are the `holidays` package's: weekends, the country's
  public holidays and the days they move to, less the weekend days a government declares
  working (Russia's and China's make-up days). The receipt day is the local date.

A request's due date is the earliest of its jurisdiction's rule and the platform's own
promise for that kind (`PLATFORM_PROMISES`); on a tie the law's own figure is named, then the
promise, then an internal SLA. Every datetime in and out is aware; results are in UTC.

Errors: `DeadlineRuleError` (a ValueError) for a bad rules file, one line naming the file and
the row; `NoExtensionAllowed` (a ValueError) when no longer date is allowed; a plain
ValueError for a naive datetime or an unknown jurisdiction, kind or stage.
"""

from __future__ import annotations

import csv
import re
from calendar import monthrange
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from importlib.resources import files
from io import StringIO
from pathlib import Path
from types import MappingProxyType
from typing import TypeAlias, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

JURISDICTIONS = ("EU", "KZ", "RU", "CN")
PLATFORM = "PLATFORM"


class RequestKind(StrEnum):
    """A data subject's request (privacy policy Art. 4); EXPORT is portability."""

    ACCESS = "ACCESS"
    EXPORT = "EXPORT"
    CORRECTION = "CORRECTION"
    DELETION = "DELETION"
    CONSENT_WITHDRAWAL = "CONSENT_WITHDRAWAL"
    INQUIRY = "INQUIRY"


class IncidentNotice(StrEnum):
    """Who must hear of a personal data breach (privacy policy Art. 3.4)."""

    BREACH_AUTHORITY = "BREACH_AUTHORITY"
    BREACH_SUBJECTS = "BREACH_SUBJECTS"


Kind: TypeAlias = RequestKind | IncidentNotice


class Unit(StrEnum):
    HOURS = "HOURS"
    CALENDAR_DAYS = "CALENDAR_DAYS"
    WORKING_DAYS = "WORKING_DAYS"
    MONTHS = "MONTHS"


class Certainty(StrEnum):
    """How the figure was read (jurisdictions.md): law text, a summary, or not yet checked."""

    FIRM = "FIRM"
    SECONDARY = "SECONDARY"
    UNVERIFIED = "UNVERIFIED"


# Beyond these a figure is a typo, not a deadline.
MAX_AMOUNT: Mapping[Unit, int] = MappingProxyType(
    {Unit.HOURS: 720, Unit.CALENDAR_DAYS: 366, Unit.WORKING_DAYS: 250, Unit.MONTHS: 12}
)
_UNITS: Mapping[Unit, str] = MappingProxyType(
    {
        Unit.HOURS: "hour",
        Unit.CALENDAR_DAYS: "calendar day",
        Unit.WORKING_DAYS: "working day",
        Unit.MONTHS: "month",
    }
)

COLUMNS = (
    "jurisdiction",
    "kind",
    "stage",
    "unit",
    "amount",
    "extension_unit",
    "extension_amount",
    "reference",
    "certainty",
    "term",
    "internal",
    "time_zone",
    "holiday_country",
    "counted_from",
    "subjects_told",
    "note",
)
_STAGE = re.compile(r"[a-z][a-z_]*")
_AMOUNT = re.compile(r"[0-9]{1,4}")
_E = TypeVar("_E", bound=StrEnum)


class CountedFrom(StrEnum):
    """What a breach notice's period counts from (jurisdictions.md, "breach to authority")."""

    AWARE = "AWARE"  # when the platform became aware of the breach (GDPR, PIPL)
    DETECTED = "DETECTED"  # when it was detected (KZ, RU)


class SubjectsTold(StrEnum):
    """When a jurisdiction's affected subjects are told of a breach (jurisdictions.md)."""

    HIGH_RISK = "HIGH_RISK"  # GDPR Art. 34: a likely high risk (severity HIGH or CRITICAL)
    UNLESS_HARM_AVOIDED = "UNLESS_HARM_AVOIDED"  # PIPL Art. 57
    ALWAYS = "ALWAYS"  # no general duty found (KZ via the authority, RU): Art. 3.4 promises it


class DeadlineRuleError(ValueError):
    """The rules file is wrong; the message names the file, the row and what to fix."""


class NoExtensionAllowed(ValueError):
    """Neither the law nor the platform's promise allows a later date than the current one."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One row of the rules file: a period, who set it, and how sure we are of it."""

    jurisdiction: str
    kind: Kind
    stage: str = ""
    unit: Unit
    amount: int
    extension_unit: Unit | None = None
    extension_amount: int | None = None
    reference: str
    certainty: Certainty
    term: str = ""
    internal: bool = False
    counted_from: CountedFrom | None = None  # breach notices only
    subjects_told: SubjectsTold | None = None  # the subjects' breach notice only
    note: str = ""

    @property
    def period(self) -> str:
        """What a subject or the DPO reads, e.g. "timely (internal SLA: 15 working days)"."""
        figure = _quantity(self.unit, self.amount)
        if self.term and self.internal:
            return f"{self.term} (internal SLA: {figure})"
        if self.internal:
            return f"{figure} (internal SLA)"
        return f"{self.term}, within {figure}" if self.term else figure


@dataclass(frozen=True)
class Calendar:
    """Where a jurisdiction's days begin and end, and which of them are working days."""

    jurisdiction: str
    time_zone: str
    holiday_country: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        return _public_holidays(self.holiday_country).is_working_day(day)


@dataclass(frozen=True)
class Deadline:
    """A due instant and the rule that decided it (a jurisdiction's row or a promise)."""

    due_at: datetime
    rule: Rule

    @property
    def reference(self) -> str:
        return self.rule.reference

    @property
    def certainty(self) -> Certainty:
        return self.rule.certainty

    @property
    def internal(self) -> bool:
        return self.rule.internal

    @property
    def stage(self) -> str:
        return self.rule.stage


# The platform's own published promises, on top of the law (privacy policy Art. 6.2).
PLATFORM_PROMISES: Mapping[RequestKind, Rule] = MappingProxyType(
    {
        RequestKind.DELETION: Rule(
            jurisdiction=PLATFORM,
            kind=RequestKind.DELETION,
            unit=Unit.CALENDAR_DAYS,
            amount=30,
            reference="Privacy Policy Art. 6.2",
            certainty=Certainty.FIRM,
            note="No later than 30 calendar days from receipt, except data the law requires "
            "to be kept.",
        ),
    }
)


class RuleBook:
    """The rules of every jurisdiction, checked for coverage at construction."""

    def __init__(
        self, rules: Iterable[Rule], calendars: Mapping[str, Calendar], source: str = "rules"
    ) -> None:
        self._rules: dict[tuple[str, Kind], list[Rule]] = {}
        for rule in rules:
            self._rules.setdefault((rule.jurisdiction, rule.kind), []).append(rule)
        self._calendars = dict(calendars)
        for jurisdiction in JURISDICTIONS:
            if jurisdiction not in self._calendars:
                raise DeadlineRuleError(f"{source}: no time zone or holidays for {jurisdiction}")
            for kind in (*RequestKind, *IncidentNotice):
                if (jurisdiction, kind) not in self._rules:
                    raise DeadlineRuleError(
                        f"{source}: no rule for {jurisdiction} {kind}; add a row (where the law "
                        "is silent, the fallback it uses, marked internal=true)"
                    )

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rules in self._rules.values() for rule in rules)

    def calendar(self, jurisdiction: str) -> Calendar:
        try:
            return self._calendars[jurisdiction]
        except KeyError:
            raise ValueError(_unknown_jurisdiction(jurisdiction)) from None

    def rules_for(self, jurisdiction: str, kind: Kind) -> list[Rule]:
        """Every stage of a kind, in the file's order."""
        self.calendar(jurisdiction)
        return list(self._rules[jurisdiction, kind])

    def subjects_told(self, jurisdiction: str) -> SubjectsTold:
        """When the jurisdiction's affected subjects are told of a breach."""
        told = self.rule(jurisdiction, IncidentNotice.BREACH_SUBJECTS).subjects_told
        assert told is not None  # the parser requires it on every BREACH_SUBJECTS row
        return told

    def rule(self, jurisdiction: str, kind: Kind, stage: str = "") -> Rule:
        for rule in self.rules_for(jurisdiction, kind):
            if rule.stage == stage:
                return rule
        stages = ", ".join(repr(r.stage) for r in self._rules[jurisdiction, kind])
        raise ValueError(f"{jurisdiction} {kind} has no stage {stage!r} (stages: {stages})")


def add(unit: Unit, amount: int, start: datetime, *, jurisdiction: Calendar) -> datetime:
    """`start` plus a period, counted in the jurisdiction's local time (module docstring)."""
    _require_aware("start", start)
    if amount < 0:
        raise ValueError(f"a period cannot be negative, got {amount} {unit}")
    if unit is Unit.HOURS:
        return start.astimezone(UTC) + timedelta(hours=amount)
    zone = jurisdiction.zone
    local = start.astimezone(zone).replace(tzinfo=None)
    if unit is Unit.CALENDAR_DAYS:
        return _utc(local + timedelta(days=amount), zone)
    if unit is Unit.MONTHS:
        return _utc(_add_months(local, amount), zone)
    day, counted = local.date(), 0
    while counted < amount:
        day += timedelta(days=1)
        if jurisdiction.is_working_day(day):
            counted += 1
    return _utc(datetime.combine(day, time.max), zone)


def due(book: RuleBook, kind: RequestKind, jurisdiction: str, received_at: datetime) -> Deadline:
    """The earliest of the jurisdiction's rule and the platform's promise for `kind`."""
    calendar = book.calendar(jurisdiction)
    return min(
        (
            Deadline(add(r.unit, r.amount, received_at, jurisdiction=calendar), r)
            for r in _applicable(book, kind, jurisdiction)
        ),
        key=_precedence,
    )


def extend(
    book: RuleBook,
    kind: RequestKind,
    jurisdiction: str,
    received_at: datetime,
    current_due_at: datetime,
) -> datetime:
    """The latest due date the law allows after its extension, never past a promise.

    Counted from receipt, not from the current due date: GDPR's "two further months" on a
    request of 31 January end on 30 April, not on 28 April (28 February + 2 months).
    Raises NoExtensionAllowed where the law allows none, where the platform's promise caps the
    date, or where the request has been extended already.
    """
    _require_aware("current_due_at", current_due_at)
    calendar = book.calendar(jurisdiction)
    law = book.rule(jurisdiction, kind)
    if law.extension_unit is None or law.extension_amount is None:
        raise NoExtensionAllowed(
            f"{jurisdiction} {kind}: {law.reference} allows no extension of {law.period}"
        )
    latest: list[tuple[datetime, Rule]] = []
    for rule in _applicable(book, kind, jurisdiction):
        if rule.extension_unit is None or rule.extension_amount is None:
            latest.append((add(rule.unit, rule.amount, received_at, jurisdiction=calendar), rule))
        elif rule.extension_unit is rule.unit:
            total = rule.amount + rule.extension_amount
            latest.append((add(rule.unit, total, received_at, jurisdiction=calendar), rule))
        else:
            first = add(rule.unit, rule.amount, received_at, jurisdiction=calendar)
            extended = add(rule.extension_unit, rule.extension_amount, first, jurisdiction=calendar)
            latest.append((extended, rule))
    extended_at, binding = min(latest, key=lambda pair: pair[0])
    if extended_at <= current_due_at.astimezone(UTC):
        why = "already extended" if binding is law else f"{binding.reference} allows no later"
        raise NoExtensionAllowed(
            f"{jurisdiction} {kind}: {why}; latest due date {extended_at.isoformat()}"
        )
    return extended_at


def incident_deadlines(
    book: RuleBook, jurisdiction: str, detected_at: datetime, aware_at: datetime
) -> list[Deadline]:
    """Every notice a breach needs: the authority's stages first, then the subjects'; each
    counted from detection or awareness, as its row says (`counted_from`)."""
    calendar = book.calendar(jurisdiction)
    deadlines: list[Deadline] = []
    for notice in IncidentNotice:
        stages = [
            Deadline(
                add(
                    r.unit,
                    r.amount,
                    aware_at if r.counted_from is CountedFrom.AWARE else detected_at,
                    jurisdiction=calendar,
                ),
                r,
            )
            for r in book.rules_for(jurisdiction, notice)
        ]
        deadlines.extend(sorted(stages, key=lambda d: d.due_at))
    return deadlines


def load_rules(path: Path | None = None) -> RuleBook:
    """Read and check the rules file; the packaged one unless `path` is given.

    Errors name row N for line N of the file (the header is row 1), as a spreadsheet does.
    """
    if path is None:
        resource = files("directives") / "data" / "jurisdictions.csv"
        return _parse(resource.read_text(encoding="utf-8"), "directives/data/jurisdictions.csv")
    return _parse(path.read_text(encoding="utf-8-sig"), str(path))


def _parse(text: str, source: str) -> RuleBook:
    reader = csv.reader(StringIO(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DeadlineRuleError(f"{source}: empty; row 1 must name the columns") from None
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in COLUMNS if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise DeadlineRuleError(
            f"{source}, row 1: the columns must be exactly {', '.join(COLUMNS)}"
            f" (unknown: {', '.join(unknown) or 'none'}; missing: {', '.join(missing) or 'none'})"
        )
    rules: list[Rule] = []
    calendars: dict[str, tuple[Calendar, int]] = {}
    stages: dict[tuple[str, Kind], dict[str, int]] = {}
    while True:
        row = reader.line_num + 1
        fail = _failure(source, row)
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise fail(str(error)) from None
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            raise fail(f"{len(values)} fields, but the header names {len(header)}")
        cells = dict(zip(header, (value.strip() for value in values), strict=True))
        rule, calendar = _row(cells, fail)
        named = f"{rule.jurisdiction} {rule.kind}"
        rows_by_stage = stages.setdefault((rule.jurisdiction, rule.kind), {})
        if rule.stage in rows_by_stage:
            raise fail(f"{named} stage {rule.stage!r} repeats row {rows_by_stage[rule.stage]}")
        if rows_by_stage and "" in {rule.stage, *rows_by_stage}:
            raise fail(f"{named} has several rows: give each a stage name")
        rows_by_stage[rule.stage] = row
        known, first = calendars.setdefault(rule.jurisdiction, (calendar, row))
        if known != calendar:
            raise fail(
                f"{rule.jurisdiction} time_zone/holiday_country {calendar.time_zone}/"
                f"{calendar.holiday_country} differ from {known.time_zone}/"
                f"{known.holiday_country} in row {first}"
            )
        rules.append(rule)
    return RuleBook(rules, {j: c for j, (c, _) in calendars.items()}, source)


def _row(
    cells: Mapping[str, str], fail: Callable[[str], DeadlineRuleError]
) -> tuple[Rule, Calendar]:
    jurisdiction = cells["jurisdiction"]
    if jurisdiction not in JURISDICTIONS:
        raise fail(_unknown_jurisdiction(jurisdiction))
    kind = _kind(cells["kind"], fail)
    stage = cells["stage"]
    if stage and (isinstance(kind, RequestKind) or not _STAGE.fullmatch(stage)):
        raise fail(f"stage {stage!r}: only a notice has stages, named in lowercase_letters")
    unit, amount = _figure(cells["unit"], cells["amount"], "unit", fail)
    extension_unit = extension_amount = None
    if cells["extension_unit"] or cells["extension_amount"]:
        extension_unit, extension_amount = _figure(
            cells["extension_unit"], cells["extension_amount"], "extension_unit", fail
        )
    if not cells["reference"]:
        raise fail("reference is empty: name the article, or the law and why none is found")
    certainty = _member(Certainty, cells["certainty"], "certainty", fail)
    if cells["internal"] not in ("true", "false"):
        raise fail(f"internal {cells['internal']!r} must be true or false")
    internal = cells["internal"] == "true"
    if internal and not cells["note"]:
        raise fail("an internal figure needs a note saying why the law gives none")
    counted_from = subjects_told = None
    if isinstance(kind, IncidentNotice):
        counted_from = _member(CountedFrom, cells["counted_from"], "counted_from", fail)
    elif cells["counted_from"]:
        raise fail("counted_from is for breach notices only: leave it empty on a request")
    if kind is IncidentNotice.BREACH_SUBJECTS:
        subjects_told = _member(SubjectsTold, cells["subjects_told"], "subjects_told", fail)
    elif cells["subjects_told"]:
        raise fail("subjects_told is for the subjects' breach notice only: leave it empty")
    try:
        ZoneInfo(cells["time_zone"])
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise fail(f"time_zone {cells['time_zone']!r} is not an IANA zone") from None
    if cells["holiday_country"] not in holidays.list_supported_countries():
        raise fail(f"holiday_country {cells['holiday_country']!r} unknown to `holidays`")
    rule = Rule(
        jurisdiction=jurisdiction,
        kind=kind,
        stage=stage,
        unit=unit,
        amount=amount,
        extension_unit=extension_unit,
        extension_amount=extension_amount,
        reference=cells["reference"],
        certainty=certainty,
        term=cells["term"],
        internal=internal,
        counted_from=counted_from,
        subjects_told=subjects_told,
        note=cells["note"],
    )
    return rule, Calendar(jurisdiction, cells["time_zone"], cells["holiday_country"])


def _failure(source: str, row: int) -> Callable[[str], DeadlineRuleError]:
    return lambda message: DeadlineRuleError(f"{source}, row {row}: {message}")


def _kind(value: str, fail: Callable[[str], DeadlineRuleError]) -> Kind:
    if value in RequestKind.__members__:
        return RequestKind(value)
    if value in IncidentNotice.__members__:
        return IncidentNotice(value)
    expected = ", ".join((*RequestKind, *IncidentNotice))
    raise fail(f"kind {value!r} is not one of {expected}")


def _figure(
    unit_text: str, amount_text: str, column: str, fail: Callable[[str], DeadlineRuleError]
) -> tuple[Unit, int]:
    if unit_text == "QUALITATIVE":
        raise fail(
            f"{column} QUALITATIVE: put the law's word in term and the internal SLA's unit and "
            "amount here, with internal=true"
        )
    unit = _member(Unit, unit_text, column, fail)
    amount_column = column.replace("unit", "amount")
    if not _AMOUNT.fullmatch(amount_text) or not 1 <= int(amount_text) <= MAX_AMOUNT[unit]:
        raise fail(
            f"{amount_column} {amount_text!r}: a whole number of {unit} from 1 to "
            f"{MAX_AMOUNT[unit]}"
        )
    return unit, int(amount_text)


def _member(
    enum: type[_E], value: str, column: str, fail: Callable[[str], DeadlineRuleError]
) -> _E:
    if value not in enum.__members__:
        raise fail(f"{column} {value!r} is not one of {', '.join(enum)}")
    return enum(value)


@cache
def _public_holidays(country: str) -> holidays.HolidayBase:
    # One calendar per country, filled year by year as dates are asked about.
    return holidays.country_holidays(country)


def _add_months(local: datetime, months: int) -> datetime:
    year, month = divmod(local.month - 1 + months, 12)
    year += local.year
    day = min(local.day, monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def _utc(wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a gap falls forward, an ambiguous hour takes its first (earlier) occurrence.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _applicable(book: RuleBook, kind: RequestKind, jurisdiction: str) -> list[Rule]:
    promise = PLATFORM_PROMISES.get(kind)
    return [book.rule(jurisdiction, kind), *([promise] if promise else [])]


def _precedence(deadline: Deadline) -> tuple[datetime, bool, bool]:
    return deadline.due_at, deadline.rule.internal, deadline.rule.jurisdiction == PLATFORM


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware, got naive {value.isoformat()}; attach the zone it "
            "was recorded in, e.g. datetime(..., tzinfo=UTC)"
        )


def _unknown_jurisdiction(value: str) -> str:
    return f"jurisdiction {value!r} is not one of {', '.join(JURISDICTIONS)}"


def _quantity(unit: Unit, amount: int) -> str:
    return f"{amount} {_UNITS[unit]}{'' if amount == 1 else 's'}"
