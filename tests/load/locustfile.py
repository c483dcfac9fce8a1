"""The load run of tests/test_load_and_faults.py: platform users, employees and anonymous
visitors reading and exercising their rights against a running gateway.

Run by that test as `locust --headless -f tests/load/locustfile.py ...` with two variables:

- LOAD_PLAN: a JSON file written by the test, `{"buyer": [ids], "seller": [ids],
  "logistics": [ids], "deleter": [ids], "subjects": [ids], "employees": {"support": id,
  "analyst": id, "dpo": id}}`. Every platform user of the run owns one subject of its kind
  alone (nobody else mutates it), so what the database must show afterwards is known.
- LOAD_RESULTS: a JSONL file this process appends to: one line per acknowledged mutation
  (HTTP 200 and `errors: []`) with what the database must then show, one line per mutation
  attempted, and one line per answer of status 500 or more with its time and error code.

Tokens come from `gateway.auth.issue_token` with the settings of the environment (the same
GATEWAY_JWT_SECRET as the gateway's); a deletion request gets a token signed in just now.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task

from directives.taxonomy import Role
from gateway.auth import issue_token
from gateway.settings import Settings

SETTINGS = Settings.from_env()
PLAN: dict[str, Any] = json.loads(Path(os.environ["LOAD_PLAN"]).read_text(encoding="utf-8"))
# Open for the whole run, line-buffered; closed when locust quits.
_RESULTS = open(os.environ["LOAD_RESULTS"], "a", encoding="utf-8", buffering=1)  # noqa: SIM115
_LOCK = threading.Lock()
_NEXT: dict[str, itertools.count[int]] = {}
NOTICE = "2026-12"


def record(kind: str, **fields: Any) -> None:
    with _LOCK:
        _RESULTS.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")


def claim(pool: str) -> int | None:
    """The next subject of `pool` nobody has yet, or None when the pool is used up."""
    counter = _NEXT.setdefault(pool, itertools.count())
    index = next(counter)
    ids: list[int] = PLAN[pool]
    return ids[index] if index < len(ids) else None


@events.quitting.add_listener
def _close(**_: Any) -> None:
    _RESULTS.close()


class Client(HttpUser):
    abstract = True
    wait_time = between(0.5, 1.5)
    token: str | None = None
    purpose: str | None = None

    def gql(
        self, name: str, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """POST one operation; the body when HTTP 200 without top-level errors, else None.
        Every 5xx is recorded with its code (a 503 must say DATABASE_UNAVAILABLE)."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.purpose:
            headers["X-Processing-Purpose"] = self.purpose
        payload = {"query": query, "variables": variables or {}}
        with self.client.post(
            "/graphql", json=payload, headers=headers, name=name, catch_response=True
        ) as response:
            status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            if status >= 500 or status == 0:
                code = None
                if isinstance(body, dict) and body.get("errors"):
                    code = (body["errors"][0].get("extensions") or {}).get("code")
                record("http_error", status=status, code=code, name=name)
                response.failure(f"HTTP {status} {code}")
                return None
            if status != 200 or not isinstance(body, dict):
                record("http_refused", status=status, name=name, body=str(body)[:300])
                response.failure(f"HTTP {status}")
                return None
            if body.get("errors"):
                codes = [(e.get("extensions") or {}).get("code") for e in body["errors"]]
                record("graphql_error", name=name, codes=codes)
                response.failure(f"GraphQL errors {codes}")
                return None
            response.success()
            return body


class Anonymous(Client):
    weight = 10

    @task(3)
    def products(self) -> None:
        self.gql(
            "anonymous products",
            "{ products(first: 10) { nodes { id title priceCents seller { fullName } } } }",
        )

    @task(2)
    def user(self) -> None:
        self.gql(
            "anonymous user",
            "query($id: ID!) { user(id: $id) { id fullName email } }",
            {"id": str(random.choice(PLAN["subjects"]))},
        )

    @task(1)
    def catalog(self) -> None:
        self.gql(
            "anonymous privacyCatalog",
            "{ privacyCatalog { typeName fieldName category } }",
        )


class PlatformUser(Client):
    """A buyer, seller or logistics operator who owns one subject of the seed alone."""

    abstract = True
    pool = "buyer"

    def on_start(self) -> None:
        self.subject = claim(self.pool)
        self.token = (
            issue_token(SETTINGS, user_id=self.subject) if self.subject is not None else None
        )
        self.granted = True
        self.edits = 0

    @task(4)
    def me(self) -> None:
        self.gql(
            f"{self.pool} me",
            "{ me { id fullName email phone orders { id status } } }",
        )

    @task(3)
    def orders(self) -> None:
        self.gql(
            f"{self.pool} orders",
            "{ orders(first: 10) { nodes { id status buyer { fullName email } "
            "seller { fullName email } } } }",
        )

    @task(2)
    def user(self) -> None:
        self.gql(
            f"{self.pool} user",
            "query($id: ID!) { user(id: $id) { id fullName email phone } }",
            {"id": str(random.choice(PLAN["subjects"]))},
        )

    @task(1)
    def products(self) -> None:
        self.gql(
            f"{self.pool} products",
            "{ products(first: 10) { nodes { id title seller { fullName } } } }",
        )

    @task(2)
    def set_consent(self) -> None:
        if self.subject is None:
            return
        granted = not self.granted
        record("attempt", what="consent", subject=self.subject, granted=granted)
        body = self.gql(
            "setConsent",
            "mutation($g: Boolean!, $v: String!) { setConsent(purpose: ANALYTICS, "
            "granted: $g, noticeVersion: $v) { consent { purpose granted } "
            "errors { code message } } }",
            {"g": granted, "v": NOTICE},
        )
        payload = body and body["data"]["setConsent"]
        if payload and payload["errors"] == []:
            self.granted = granted
            record("ack", what="consent", subject=self.subject, granted=granted)

    @task(2)
    def correct_name(self) -> None:
        if self.subject is None:
            return
        self.edits += 1
        name = f"Load Tester {self.subject} v{self.edits}"
        record("attempt", what="name", subject=self.subject, name=name)
        body = self.gql(
            "updateMyProfile",
            "mutation($n: String!) { updateMyProfile(input: {fullName: $n}) "
            "{ user { fullName } errors { code field message } } }",
            {"n": name},
        )
        payload = body and body["data"]["updateMyProfile"]
        if payload and payload["errors"] == []:
            record("ack", what="name", subject=self.subject, name=name)

    @task(1)
    def inquiry(self) -> None:
        if self.subject is None:
            return
        body = self.gql(
            "submitPrivacyInquiry",
            "mutation($m: String!) { submitPrivacyInquiry(kind: QUESTION, message: $m) "
            "{ created request { id status } errors { code message } } }",
            {"m": f"Load test question from {self.subject}"},
        )
        payload = body and body["data"]["submitPrivacyInquiry"]
        if payload and payload["errors"] == []:
            request = payload["request"]
            record("ack", what="request", subject=self.subject, id=int(request["id"]), of="INQUIRY")


class Buyer(PlatformUser):
    weight = 30
    pool = "buyer"


class Seller(PlatformUser):
    weight = 15
    pool = "seller"


class Logistics(PlatformUser):
    weight = 8
    pool = "logistics"

    @task(3)
    def shipments(self) -> None:
        self.gql(
            "logistics shipments",
            "{ shipments(first: 10) { nodes { id status recipientName recipientAddress } } }",
        )


class Deleter(Client):
    """Asks for one subject's deletion after a fresh sign-in, then takes the next subject
    (the worker erases the last one with a grace of 0 days)."""

    weight = 7
    wait_time = between(1.0, 2.0)

    @task
    def delete_account(self) -> None:
        subject = claim("deleter")
        if subject is None:
            self.token = None
            self.gql("anonymous privacyCatalog", "{ privacyCatalog { typeName fieldName } }")
            return
        self.token = issue_token(SETTINGS, user_id=subject, auth_time=time.time())
        record("attempt", what="deletion", subject=subject)
        body = self.gql(
            "requestAccountDeletion",
            'mutation { requestAccountDeletion(reason: "load test") '
            "{ created request { id status } errors { code message } } }",
        )
        payload = body and body["data"]["requestAccountDeletion"]
        if payload and payload["errors"] == []:
            record(
                "ack",
                what="request",
                subject=subject,
                id=int(payload["request"]["id"]),
                of="DELETION",
            )


class Employee(Client):
    abstract = True
    role = "support"
    purpose_name = "SUPPORT"

    def on_start(self) -> None:
        employee_id = PLAN["employees"][self.role]
        self.token = issue_token(SETTINGS, employee_id=employee_id, role=Role(self.role.upper()))
        self.purpose = self.purpose_name


class Support(Employee):
    weight = 10
    role = "support"
    purpose_name = "SUPPORT"

    @task(3)
    def user(self) -> None:
        self.gql(
            "support user",
            "query($id: ID!) { user(id: $id) { id fullName email phone deletionState } }",
            {"id": str(random.choice(PLAN["subjects"]))},
        )

    @task(1)
    def orders(self) -> None:
        self.gql(
            "support orders",
            "{ orders(first: 10) { nodes { id status buyer { fullName email } } } }",
        )


class Analyst(Employee):
    weight = 10
    role = "analyst"
    purpose_name = "ANALYTICS"

    @task(2)
    def users(self) -> None:
        self.gql(
            "analyst users",
            "{ users(first: 50) { nodes { id fullName email } } }",
        )

    @task(1)
    def orders(self) -> None:
        self.gql(
            "analyst orders",
            "{ orders(first: 20) { nodes { id status totalCents buyer { fullName } } } }",
        )


class Dpo(Employee):
    weight = 10
    role = "dpo"
    purpose_name = "LEGAL"

    @task(2)
    def redaction_status(self) -> None:
        self.gql(
            "dpo redactionStatus",
            "query($id: ID!) { redactionStatus(subjectId: $id) { deletionState "
            "analyticsConsent fields { typeName fieldName } } }",
            {"id": str(random.choice(PLAN["subjects"]))},
        )

    @task(1)
    def queue(self) -> None:
        self.gql(
            "dpo privacyRequests",
            "{ privacyRequests(first: 20) { nodes { id kind status subjectId dueAt } } }",
        )

    @task(1)
    def catalog(self) -> None:
        self.gql("dpo privacyCatalog", "{ privacyCatalog { typeName fieldName category } }")
