"""Privacy state: the consent ledger, privacy requests, security incidents and notifications."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from random import Random

from directives.deadlines import RequestKind, due, load_rules
from gateway.seed.demo import DEMO_USERS
from gateway.seed.population import (
    BASE,
    ERASED,
    ERASURE_PENDING,
    PENDING_REQUEST_DAYS,
    Person,
    Population,
    Row,
    at,
    days_after,
)

NOTICE_VERSION = "2026-01"
SIGNUP_PURPOSES = ("IDENTIFICATION", "FULFILLMENT", "BILLING", "ANALYTICS")
DELETION_DAYS = 30  # the platform's promise (Art. 6.2)
# Hours to notify each authority of a breach (jurisdictions.md); CN says "immediately",
# KZ one working day: both kept here as a 24-hour internal target.
_AUTHORITY_HOURS = {"EU": 72, "KZ": 24, "RU": 24, "CN": 24}
_SUBJECT_HOURS = 72
# (kind, status, share of users); requests besides deletion, for variety.
_OTHER_REQUESTS = (
    ("ACCESS", "COMPLETED", 0.015),
    ("EXPORT", "IN_PROGRESS", 0.005),
    ("INQUIRY", "RECEIVED", 0.005),
    ("CORRECTION", "COMPLETED", 0.003),
)
_DETAILS = {
    "ACCESS": "Copy of all personal data held",
    "EXPORT": "Machine-readable export of orders and reviews",
    "INQUIRY": "Which companies receive my address?",
    "CORRECTION": "Phone number changed",
    "CONSENT_WITHDRAWAL": "Stop using my data for analytics",
    "DELETION": "Close my account and delete my data",
}


def consent_rows(population: Population) -> Iterator[Row]:
    """Four grants at sign-up for everyone; a later withdrawal of ANALYTICS for some.

    The ledger is append-only, so the withdrawal is a second row with a higher id.
    """
    consent_id = 0
    for person in population.people:
        for purpose in SIGNUP_PURPOSES:
            consent_id += 1
            yield _consent(consent_id, person, purpose, True, "SIGNUP")
        if person.analytics_withdrawn_at is not None:
            consent_id += 1
            method = "SUPPORT" if person.withdrawn_via_support else "SETTINGS"
            yield _consent(consent_id, person, "ANALYTICS", False, method)
        elif person.erased:  # erasure ends consent, in the ledger too (as the worker does)
            consent_id += 1
            yield {
                **_consent(consent_id, person, "ANALYTICS", False, "ERASURE"),
                "recorded_at": person.erased_at,
            }


def _consent(consent_id: int, person: Person, purpose: str, granted: bool, method: str) -> Row:
    return {
        "id": consent_id,
        "subject_id": person.id,
        "purpose": purpose,
        "granted": granted,
        "notice_version": NOTICE_VERSION,
        "method": method,
        "recorded_at": person.created_at if granted else person.analytics_withdrawn_at,
    }


def request_rows(rng: Random, population: Population) -> Iterator[Row]:
    """Requests as the rights code files them: the due date and rule from the jurisdiction
    table, one open request per kind (`open_key`), closed ones with the key cleared."""
    rules = load_rules()
    request_id = 0
    for person in population.people:
        for row in _requests(rng, person):
            request_id += 1
            deadline = due(rules, RequestKind(row["kind"]), person.jurisdiction, row["received_at"])
            is_open = row["status"] in ("RECEIVED", "IN_PROGRESS")
            yield {
                "id": request_id,
                **row,
                "due_at": deadline.due_at,
                "due_rule": deadline.reference[:120],
                "jurisdiction": person.jurisdiction,
                "target": None,
                "extended": False,
                "proposed_value": None,
                "open_key": f"{row['kind']}:" if is_open else None,
            }


def _requests(rng: Random, person: Person) -> Iterator[Row]:
    if person.state in (ERASURE_PENDING, ERASED):
        assert person.erasure_requested_at is not None
        received = person.erasure_requested_at
        done = person.state == ERASED
        yield {
            "subject_id": person.id,
            "kind": "DELETION",
            "status": "COMPLETED" if done else "RECEIVED",
            "received_at": received,
            "due_at": received + timedelta(days=DELETION_DAYS),
            "completed_at": person.erased_at,
            "outcome": (
                "Profile anonymized; reviews, videos and comments deleted; orders, payments "
                "and invoices kept under legal hold (LEGAL_OBLIGATION) for 5 years"
                if done
                else None
            ),
            "details": _DETAILS["DELETION"],
        }
    if person.withdrawn_via_support:
        assert person.analytics_withdrawn_at is not None
        done_at = person.analytics_withdrawn_at
        received = done_at - timedelta(seconds=rng.randrange(3600, 48 * 3600))
        yield {
            "subject_id": person.id,
            "kind": "CONSENT_WITHDRAWAL",
            "status": "COMPLETED",
            "received_at": received,
            "due_at": received + timedelta(days=DELETION_DAYS),
            "completed_at": done_at,
            "outcome": "ANALYTICS consent withdrawn in the ledger",
            "details": _DETAILS["CONSENT_WITHDRAWAL"],
        }
    if person.state == ERASED:
        return
    demo_buyer = person.id == DEMO_USERS["buyer"]
    for kind, status, share in _OTHER_REQUESTS:
        if not (demo_buyer and kind in ("ACCESS", "INQUIRY")) and rng.random() >= share:
            continue
        received = at(rng, days_after(person.created_at) + 1, PENDING_REQUEST_DAYS[1])
        completed = received + timedelta(seconds=rng.randrange(3600, 3 * 86400))
        yield {
            "subject_id": person.id,
            "kind": kind,
            "status": status,
            "received_at": received,
            "due_at": received + timedelta(days=DELETION_DAYS),
            "completed_at": completed if status == "COMPLETED" else None,
            "outcome": "Answered by e-mail" if status == "COMPLETED" else None,
            "details": _DETAILS[kind],
        }


# (day after BASE, title, severity, status, description, authorities, sent)
_INCIDENTS = (
    (
        95,
        "Credential stuffing against buyer logins",
        "HIGH",
        "CLOSED",
        "Automated log-in attempts with leaked passwords; some accounts accessed before the "
        "rate limit tripped. Passwords reset, affected buyers told.",
        ("EU", "KZ", "RU", "CN"),
        True,
    ),
    (
        140,
        "Staff laptop lost (disk encrypted)",
        "LOW",
        "CLOSED",
        "A support laptop was lost in transit; full-disk encryption, no notification needed.",
        (),
        True,
    ),
    (
        198,
        "Shipping labels exposed by a courier integration",
        "MEDIUM",
        "INVESTIGATING",
        "A misconfigured courier API returned recipient names and addresses of other parcels.",
        ("EU", "RU"),
        False,
    ),
)


def incident_rows(rng: Random, population: Population) -> tuple[list[Row], list[Row]]:
    """Incidents and their notifications: authorities per jurisdiction, and affected subjects."""
    incidents: list[Row] = []
    notifications: list[Row] = []
    demo = set(DEMO_USERS.values())
    affected_pool = [  # subjects must be told where the law says so: EU and CN
        p
        for p in population.buyers
        if p.state == "ACTIVE" and p.jurisdiction in ("EU", "CN") and p.id not in demo
    ]
    for incident_id, (day, title, severity, status, text, authorities, sent) in enumerate(
        _INCIDENTS, start=1
    ):
        detected = BASE + timedelta(days=day, hours=9, minutes=30)
        incidents.append(
            {
                "id": incident_id,
                "detected_at": detected,
                "title": title,
                "severity": severity,
                "description": text,
                "status": status,
            }
        )
        recipients: list[tuple[str, str, Person | None]] = [
            ("AUTHORITY", j, None) for j in authorities
        ]
        if authorities:
            subjects = rng.sample(affected_pool, min(4, len(affected_pool)))
            if not sent:
                subjects.append(population.person(DEMO_USERS["buyer"]))
            recipients += [("SUBJECT", s.jurisdiction, s) for s in subjects]
        for kind, jurisdiction, subject in recipients:
            hours = _AUTHORITY_HOURS[jurisdiction] if subject is None else _SUBJECT_HOURS
            due = detected + timedelta(hours=hours)
            notifications.append(
                {
                    "id": len(notifications) + 1,
                    "incident_id": incident_id,
                    "recipient_kind": kind,
                    "jurisdiction": jurisdiction,
                    "subject_id": subject.id if subject else None,
                    "due_at": due,
                    "sent_at": detected + timedelta(hours=hours // 2) if sent else None,
                }
            )
    return incidents, notifications
