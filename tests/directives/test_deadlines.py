"""Deadlines as a table. Every expected instant was counted by hand on a calendar.

Offsets: Berlin +01 (CET) / +02 (CEST, from 29 Mar 2026 and 28 Mar 2027, until 25 Oct 2026),
Moscow +03, Almaty +05, Shanghai +08. "23:59:59.999999 local" ends a working-day period.
"""

import csv
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from directives import deadlines
from directives.deadlines import (
    JURISDICTIONS,
    PLATFORM,
    PLATFORM_PROMISES,
    Certainty,
    DeadlineRuleError,
    IncidentNotice,
    NoExtensionAllowed,
    RequestKind,
    Unit,
    add,
    due,
    extend,
    incident_deadlines,
    load_rules,
)

BOOK = load_rules()
K = RequestKind
A, S = IncidentNotice.BREACH_AUTHORITY, IncidentNotice.BREACH_SUBJECTS
PACKAGED = Path(deadlines.__file__).parent / "data" / "jurisdictions.csv"
FRIDAY = "2026-12-04T17:30Z"  # Fri 18:30 Berlin, 20:30 Moscow, 22:30 Almaty, Sat 01:30 Shanghai


ZONES = {"EU": "Europe/Berlin", "KZ": "Asia/Almaty", "RU": "Europe/Moscow", "CN": "Asia/Shanghai"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def expect(text: str, jurisdiction: str) -> datetime:
    """A UTC instant, or a bare date: the end of that day in the jurisdiction's local time."""
    if "T" in text:
        return utc(text)
    end_of_day = datetime.combine(date.fromisoformat(text), time.max)
    return end_of_day.replace(tzinfo=ZoneInfo(ZONES[jurisdiction])).astimezone(UTC)


# (id, jurisdiction, kind, received, due, who decided)
# fmt: off
DUE = [
    # EU: calendar months in Berlin time, at the same wall-clock time.
    ("eu-jan31-month-feb28", "EU", K.ACCESS, "2027-01-31T09:00Z", "2027-02-28T09:00Z", "EU"),
    ("eu-leap-year-feb29", "EU", K.ACCESS, "2028-01-31T09:00Z", "2028-02-29T09:00Z", "EU"),
    ("eu-mar31-month-apr30", "EU", K.ACCESS, "2026-03-31T08:00Z", "2026-04-30T08:00Z", "EU"),
    # 12:00 CET -> 12:00 CEST; 12:00 CEST -> 12:00 CET.
    ("eu-spring-dst", "EU", K.EXPORT, "2027-03-15T11:00Z", "2027-04-15T10:00Z", "EU"),
    ("eu-autumn-dst", "EU", K.CORRECTION, "2026-10-10T10:00Z", "2026-11-10T11:00Z", "EU"),
    # 00:30 CET on 1 Mar is still 28 Feb in UTC: the month runs from the local date.
    ("eu-local-date", "EU", K.INQUIRY, "2027-02-28T23:30Z", "2027-03-31T22:30Z", "EU"),
    ("eu-friday-evening", "EU", K.ACCESS, FRIDAY, "2027-01-04T17:30Z", "EU"),
    ("eu-consent-24h", "EU", K.CONSENT_WITHDRAWAL, FRIDAY, "2026-12-05T17:30Z", "EU"),
    # Deletion: the earliest of the platform's 30 calendar days and the law.
    ("eu-deletion-platform", "EU", K.DELETION, FRIDAY, "2027-01-03T17:30Z", PLATFORM),
    ("eu-deletion-gdpr", "EU", K.DELETION, "2027-01-31T09:00Z", "2027-02-28T09:00Z", "EU"),
    ("ru-deletion-tie-law", "RU", K.DELETION, FRIDAY, "2027-01-03T17:30Z", "RU"),
    ("kz-deletion-tie-promise", "KZ", K.DELETION, FRIDAY, "2027-01-03T17:30Z", PLATFORM),
    ("cn-deletion-tie-promise", "CN", K.DELETION, FRIDAY, "2027-01-03T17:30Z", PLATFORM),
    # RU: 10 WD from Fri 4 Dec = Mon 7 .. Fri 18 Dec.
    ("ru-friday-evening", "RU", K.ACCESS, FRIDAY, "2026-12-18", "RU"),
    ("ru-saturday", "RU", K.ACCESS, "2026-12-05T09:00Z", "2026-12-18", "RU"),
    # Thu 21:30 UTC is Fri 00:30 in Moscow: the receipt day is Friday.
    ("ru-moscow-date", "RU", K.ACCESS, "2026-12-03T21:30Z", "2026-12-18", "RU"),
    # Tue 29 Dec: Wed 30 (1); 31 Dec off (moved from 4 Jan); 1-10 Jan off; 11-15 (6); 18-21.
    ("ru-new-year", "RU", K.ACCESS, "2026-12-29T07:00Z", "2027-01-21", "RU"),
    # Received on a holiday (Tue 5 Jan): 11-15 Jan and 18-22 Jan.
    ("ru-on-a-holiday", "RU", K.INQUIRY, "2027-01-05T09:00Z", "2027-01-22", "RU"),
    # Wed 17 Feb 2027: 18, 19, Sat 20 (a working Saturday), 22-23 off, 24-26, Mon 1 Mar.
    ("ru-working-saturday", "RU", K.CORRECTION, "2027-02-17T09:00Z", "2027-03-01", "RU"),
    ("ru-consent-30-days", "RU", K.CONSENT_WITHDRAWAL, "2027-01-31T09:00Z", "2027-03-02T09:00Z",
     "RU"),
    # KZ: Fri 20 Mar 2026; Nauryz 21-23, the weekend days moved to 24-25; 26, 27, Mon 30.
    ("kz-nauryz", "KZ", K.ACCESS, "2026-03-20T05:00Z", "2026-03-30", "KZ"),
    ("kz-friday-evening", "KZ", K.ACCESS, FRIDAY, "2026-12-09", "KZ"),
    # Independence Day Wed 16 Dec: 17, 18, 21.
    ("kz-independence-day", "KZ", K.EXPORT, "2026-12-15T05:00Z", "2026-12-21", "KZ"),
    # 18:30 UTC is 23:30 Thursday at UTC+5 (Friday at the old +06): 4, 7, 8 Dec.
    ("kz-utc-plus-5", "KZ", K.INQUIRY, "2026-12-03T18:30Z", "2026-12-08", "KZ"),
    # Fri 1 Jan 2027; the Sat 2 Jan holiday moves to Mon 4 Jan; Tue 5 Jan is the first WD.
    ("kz-new-year", "KZ", K.CORRECTION, "2027-01-01T05:00Z", "2027-01-05", "KZ"),
    # CN: Fri 17:30 UTC is Sat 01:30 in Shanghai: 15 WD from Mon 7 Dec.
    ("cn-saturday-in-beijing", "CN", K.ACCESS, FRIDAY, "2026-12-25", "CN"),
    # Wed 30 Sep: 1-7 Oct off; 8, 9, Sat 10 (make-up day), 12-16, 19-23, 26, 27.
    ("cn-golden-week", "CN", K.ACCESS, "2026-09-30T02:00Z", "2026-10-27", "CN"),
    # Fri 13 Feb: Sat 14 (make-up), 15-23 off, 24-27, Sat 28 (make-up), 2-6, 9-12 Mar.
    ("cn-spring-festival", "CN", K.CORRECTION, "2026-02-13T02:00Z", "2026-03-12", "CN"),
    ("cn-consent-24h", "CN", K.CONSENT_WITHDRAWAL, FRIDAY, "2026-12-05T17:30Z", "CN"),
]
# fmt: on


@pytest.mark.parametrize(
    ("jurisdiction", "kind", "received", "expected", "decided_by"),
    [pytest.param(*case[1:], id=case[0]) for case in DUE],
)
def test_due(
    jurisdiction: str, kind: RequestKind, received: str, expected: str, decided_by: str
) -> None:
    deadline = due(BOOK, kind, jurisdiction, utc(received))
    assert deadline.due_at == expect(expected, jurisdiction)
    assert deadline.due_at.tzinfo is UTC
    assert deadline.rule.jurisdiction == decided_by


# (id, unit, amount, start, jurisdiction, expected): the arithmetic alone.
# fmt: off
ADD = [
    # 10:00 CET Sat -> 10:00 CEST Sun is 23 elapsed hours; 24 hours is 11:00 CEST.
    ("eu-day-spring-dst", Unit.CALENDAR_DAYS, 1, "2027-03-27T09:00Z", "EU", "2027-03-28T08:00Z"),
    ("eu-24h-spring-dst", Unit.HOURS, 24, "2027-03-27T09:00Z", "EU", "2027-03-28T09:00Z"),
    ("eu-day-autumn-dst", Unit.CALENDAR_DAYS, 1, "2026-10-24T08:00Z", "EU", "2026-10-25T09:00Z"),
    # 02:30 on 28 Mar 2027 does not exist in Berlin: it falls forward to 03:30 CEST.
    ("eu-missing-hour", Unit.CALENDAR_DAYS, 1, "2027-03-27T01:30Z", "EU", "2027-03-28T01:30Z"),
    # 02:30 on 25 Oct 2026 happens twice: the first, CEST, is taken.
    ("eu-repeated-hour", Unit.CALENDAR_DAYS, 1, "2026-10-24T00:30Z", "EU", "2026-10-25T00:30Z"),
    ("eu-72h-over-dst", Unit.HOURS, 72, "2027-03-26T10:00Z", "EU", "2027-03-29T10:00Z"),
    # Thu 24 Dec; 25 Dec a German holiday, 26-27 the weekend; Mon 28 (1), Tue 29 (2).
    ("eu-german-christmas", Unit.WORKING_DAYS, 2, "2026-12-24T10:00Z", "EU", "2026-12-29"),
    # 00:30 on 31 Jan 2028 in Shanghai (30 Jan in UTC) -> 00:30 on 29 Feb.
    ("cn-month-leap-local", Unit.MONTHS, 1, "2028-01-30T16:30Z", "CN", "2028-02-28T16:30Z"),
    ("ru-month-end", Unit.MONTHS, 1, "2027-01-31T20:00Z", "RU", "2027-02-28T20:00Z"),
]
# fmt: on


@pytest.mark.parametrize(
    ("unit", "amount", "start", "jurisdiction", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ADD],
)
def test_add(unit: Unit, amount: int, start: str, jurisdiction: str, expected: str) -> None:
    got = add(unit, amount, utc(start), jurisdiction=BOOK.calendar(jurisdiction))
    assert got == expect(expected, jurisdiction)


# (id, jurisdiction, kind, received, extended due)
EXTEND = [
    # Three months from receipt (30 Apr), not two from the clamped 28 Feb (28 Apr).
    ("eu-gdpr-from-jan31", "EU", K.ACCESS, "2027-01-31T09:00Z", "2027-04-30T08:00Z"),
    ("eu-gdpr-friday", "EU", K.CORRECTION, FRIDAY, "2027-03-04T17:30Z"),
    # 18 Dec + 5 WD: 21-25 Dec (not holidays in Russia).
    ("ru-plus-5-wd", "RU", K.ACCESS, FRIDAY, "2026-12-25"),
    # Tue 22 Dec: 23-25, 28-30, 11-14 Jan (10), then 15, 18-21 Jan (15).
    ("ru-over-new-year", "RU", K.INQUIRY, "2026-12-22T09:00Z", "2027-01-21"),
]


@pytest.mark.parametrize(
    ("jurisdiction", "kind", "received", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in EXTEND],
)
def test_extend(jurisdiction: str, kind: RequestKind, received: str, expected: str) -> None:
    current = due(BOOK, kind, jurisdiction, utc(received)).due_at
    extended = extend(BOOK, kind, jurisdiction, utc(received), current)
    assert extended == expect(expected, jurisdiction)


@pytest.mark.parametrize(
    ("jurisdiction", "kind", "why"),
    [
        pytest.param("KZ", K.ACCESS, "allows no extension", id="kz-access"),
        pytest.param("CN", K.ACCESS, "allows no extension", id="cn-access"),
        pytest.param("EU", K.CONSENT_WITHDRAWAL, "allows no extension", id="eu-consent"),
        pytest.param("RU", K.DELETION, "allows no extension", id="ru-deletion"),
        pytest.param("EU", K.DELETION, "Privacy Policy Art. 6.2 allows no later", id="eu-capped"),
    ],
)
def test_extension_refused(jurisdiction: str, kind: RequestKind, why: str) -> None:
    received = utc(FRIDAY)
    current = due(BOOK, kind, jurisdiction, received).due_at
    with pytest.raises(NoExtensionAllowed, match=why):
        extend(BOOK, kind, jurisdiction, received, current)


def test_a_second_extension_is_refused() -> None:
    received = utc(FRIDAY)
    once = extend(BOOK, K.ACCESS, "RU", received, due(BOOK, K.ACCESS, "RU", received).due_at)
    with pytest.raises(NoExtensionAllowed, match="already extended"):
        extend(BOOK, K.ACCESS, "RU", received, once)


# (jurisdiction, [(notice, stage, due, internal)]) for a breach known on Friday evening.
INCIDENTS = [
    ("EU", [(A, "", "2026-12-07T17:30Z", False), (S, "", "2026-12-07T17:30Z", True)]),
    # 1 WD from Fri 22:30 Almaty: the end of Mon 7 Dec.
    ("KZ", [(A, "", "2026-12-07", False), (S, "", "2026-12-07T17:30Z", True)]),
    (
        "RU",
        [
            (A, "initial", "2026-12-05T17:30Z", False),
            (A, "results", "2026-12-07T17:30Z", False),
            (S, "", "2026-12-07T17:30Z", True),
        ],
    ),
    ("CN", [(A, "", "2026-12-05T17:30Z", True), (S, "", "2026-12-05T17:30Z", True)]),
]


@pytest.mark.parametrize(("jurisdiction", "expected"), INCIDENTS, ids=[j for j, _ in INCIDENTS])
def test_incident_deadlines(
    jurisdiction: str, expected: list[tuple[IncidentNotice, str, str, bool]]
) -> None:
    got = incident_deadlines(BOOK, jurisdiction, utc(FRIDAY), utc(FRIDAY))
    assert [(d.rule.kind, d.stage, d.due_at, d.internal) for d in got] == [
        (notice, stage, expect(at, jurisdiction), internal)
        for notice, stage, at, internal in expected
    ]


def test_each_breach_notice_counts_from_what_its_row_says() -> None:
    """Detection and awareness apart: GDPR and PIPL count from awareness, KZ and RU from
    detection, and who tells the subjects when is the table's too (jurisdictions.md)."""
    detected = utc(FRIDAY)
    aware = detected + timedelta(hours=5)
    clocks = {}
    for jurisdiction in JURISDICTIONS:
        for found in incident_deadlines(BOOK, jurisdiction, detected, aware):
            rule = found.rule
            start = aware if rule.counted_from is deadlines.CountedFrom.AWARE else detected
            calendar = BOOK.calendar(jurisdiction)
            assert found.due_at == deadlines.add(
                rule.unit, rule.amount, start, jurisdiction=calendar
            )
            clocks.setdefault(jurisdiction, set()).add(rule.counted_from)
    assert clocks == {
        "EU": {deadlines.CountedFrom.AWARE},
        "CN": {deadlines.CountedFrom.AWARE},
        "KZ": {deadlines.CountedFrom.DETECTED},
        "RU": {deadlines.CountedFrom.DETECTED},
    }
    told = deadlines.SubjectsTold
    assert {j: BOOK.subjects_told(j) for j in JURISDICTIONS} == {
        "EU": told.HIGH_RISK,
        "CN": told.UNLESS_HARM_AVOIDED,
        "KZ": told.ALWAYS,
        "RU": told.ALWAYS,
    }


def test_qualitative_rules_carry_the_law_word_and_an_internal_sla() -> None:
    rule = BOOK.rule("CN", A)
    assert (rule.term, rule.internal, rule.unit, rule.amount) == ("immediately", True, "HOURS", 24)
    assert rule.period == "immediately (internal SLA: 24 hours)"
    assert BOOK.rule("RU", K.ACCESS).period == "10 working days"
    assert BOOK.rule("EU", K.DELETION).period == "without undue delay, within 1 month"


def test_every_jurisdiction_has_every_kind() -> None:
    for jurisdiction in JURISDICTIONS:
        for kind in (*RequestKind, *IncidentNotice):
            rules = BOOK.rules_for(jurisdiction, kind)
            assert rules, (jurisdiction, kind)
            assert all(r.reference and (r.note or not r.internal) for r in rules)
        for kind in RequestKind:
            assert BOOK.rule(jurisdiction, kind).stage == ""


def test_platform_promise_is_art_6_2() -> None:
    promise = PLATFORM_PROMISES[K.DELETION]
    assert (promise.unit, promise.amount, promise.reference) == (
        Unit.CALENDAR_DAYS,
        30,
        "Privacy Policy Art. 6.2",
    )
    assert promise.certainty is Certainty.FIRM and not promise.internal


def test_calendars_are_the_documented_ones() -> None:
    holiday_countries = {"EU": "DE", "KZ": "KZ", "RU": "RU", "CN": "CN"}
    for jurisdiction in JURISDICTIONS:
        calendar = BOOK.calendar(jurisdiction)
        assert calendar.time_zone == ZONES[jurisdiction]
        assert calendar.holiday_country == holiday_countries[jurisdiction]


def test_almaty_is_utc_plus_5() -> None:
    # Kazakhstan moved to one zone, UTC+5, on 1 March 2024 (tz database 2024b and later).
    offset = datetime(2026, 6, 1, tzinfo=ZoneInfo(BOOK.calendar("KZ").time_zone)).utcoffset()
    assert offset == timedelta(hours=5), "the tz database predates 2024b: update tzdata"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        due(BOOK, K.ACCESS, "EU", datetime(2026, 12, 4, 17, 30))
    with pytest.raises(ValueError, match="current_due_at must be timezone-aware"):
        extend(BOOK, K.ACCESS, "EU", utc(FRIDAY), datetime(2027, 1, 4))


def test_unknown_jurisdiction_and_stage() -> None:
    with pytest.raises(ValueError, match="jurisdiction 'US' is not one of EU, KZ, RU, CN"):
        due(BOOK, K.ACCESS, "US", utc(FRIDAY))
    with pytest.raises(ValueError, match="stages: 'initial', 'results'"):
        BOOK.rule("RU", A)


# Bad files: the packaged rows with one edit. Row N is line N of the file; the header is row 1.
Rows = list[list[str]]


def cell(row: int, column: str, value: str) -> Callable[[Rows], None]:
    def edit(rows: Rows) -> None:
        rows[row - 1][rows[0].index(column)] = value

    return edit


def add_column(rows: Rows) -> None:
    for row in rows:
        row.append("deadline" if row is rows[0] else "")


def extra_field(rows: Rows) -> None:
    rows[7].append("surplus")


BAD = [
    ("unknown-column", add_column, 1, "unknown: deadline"),
    ("unknown-unit", cell(3, "unit", "WEEKS"), 3, "unit 'WEEKS' is not one of HOURS"),
    ("qualitative-unit", cell(27, "unit", "QUALITATIVE"), 27, "law's word in term"),
    ("amount-zero", cell(2, "amount", "0"), 2, "amount '0': a whole number of MONTHS from 1"),
    ("amount-in-words", cell(18, "amount", "ten"), 18, "amount 'ten'"),
    ("amount-superscript", cell(18, "amount", "\u00b2"), 18, "amount '\u00b2'"),
    ("too-many-months", cell(2, "amount", "13"), 2, "from 1 to 12"),
    ("half-an-extension", cell(2, "extension_amount", ""), 2, "extension_amount ''"),
    ("unknown-jurisdiction", cell(10, "jurisdiction", "US"), 10, "jurisdiction 'US'"),
    ("unknown-kind", cell(4, "kind", "ERASURE"), 4, "kind 'ERASURE' is not one of"),
    ("unknown-certainty", cell(6, "certainty", "PROBABLE"), 6, "certainty 'PROBABLE'"),
    ("internal-yes", cell(7, "internal", "yes"), 7, "internal 'yes' must be true or false"),
    ("internal-without-note", cell(11, "note", ""), 11, "needs a note"),
    ("no-reference", cell(12, "reference", ""), 12, "reference is empty"),
    ("unknown-zone", cell(13, "time_zone", "Asia/Nowhere"), 13, "not an IANA zone"),
    ("zone-directory", cell(13, "time_zone", "Asia"), 13, "time_zone 'Asia' is not an IANA"),
    ("zone-differs", cell(20, "time_zone", "Asia/Yekaterinburg"), 20, "Moscow/RU in row 18"),
    ("unknown-holidays", cell(21, "holiday_country", "XX"), 21, "holiday_country 'XX'"),
    ("stage-on-request", cell(19, "stage", "initial"), 19, "only a notice has stages"),
    ("repeated-stage", cell(25, "stage", "initial"), 25, "stage 'initial' repeats row 24"),
    ("unnamed-stage", cell(25, "stage", ""), 25, "give each a stage name"),
    ("extra-field", extra_field, 8, "17 fields, but the header names 16"),
    ("breach-without-clock", cell(8, "counted_from", ""), 8, "counted_from '' is not one of"),
    ("clock-on-request", cell(2, "counted_from", "AWARE"), 2, "breach notices only"),
    ("unknown-clock", cell(24, "counted_from", "REPORTED"), 24, "counted_from 'REPORTED'"),
    ("subjects-rule-missing", cell(9, "subjects_told", ""), 9, "subjects_told '' is not"),
    ("subjects-rule-unknown", cell(34, "subjects_told", "NEVER"), 34, "subjects_told 'NEVER'"),
    ("subjects-rule-elsewhere", cell(8, "subjects_told", "ALWAYS"), 8, "subjects' breach notice"),
]


def write(tmp_path: Path, edit: Callable[[Rows], None]) -> Path:
    with PACKAGED.open(encoding="utf-8", newline="") as packaged:
        rows = list(csv.reader(packaged))
    edit(rows)
    path = tmp_path / "jurisdictions.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


@pytest.mark.parametrize(
    ("edit", "row", "message"), [pytest.param(*case[1:], id=case[0]) for case in BAD]
)
def test_a_bad_row_is_one_line_naming_it(
    tmp_path: Path, edit: Callable[[Rows], None], row: int, message: str
) -> None:
    path = write(tmp_path, edit)
    with pytest.raises(DeadlineRuleError) as error:
        load_rules(path)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"{path}, row {row}: "), text
    assert message in text


def test_the_unedited_copy_loads(tmp_path: Path) -> None:
    assert load_rules(write(tmp_path, lambda rows: None)).rules == BOOK.rules


def test_a_missing_rule_names_the_file_and_the_gap(tmp_path: Path) -> None:
    def drop_kz_export(rows: Rows) -> None:
        del rows[10]

    path = write(tmp_path, drop_kz_export)
    with pytest.raises(DeadlineRuleError, match=r"no rule for KZ EXPORT; add a row") as error:
        load_rules(path)
    assert str(error.value).startswith(str(path))


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DeadlineRuleError, match="empty; row 1 must name the columns"):
        load_rules(path)
