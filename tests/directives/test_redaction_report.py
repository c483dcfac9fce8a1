from directives.decision import Action, Reason
from directives.report import Redaction, RedactionGroup, RedactionReport, format_path

MASK, STRIP = Action.MASK, Action.STRIP


def test_format_path() -> None:
    assert format_path(("users", 3), "email") == "users[3].email"
    assert format_path(("users", 3), "email", collapse=True) == "users[*].email"
    assert format_path(("orders", 0, "buyer"), "phone") == "orders[0].buyer.phone"
    assert format_path(("a", 1, 2), "b", collapse=True) == "a[*][*].b"
    assert format_path((), "me") == "me"
    assert format_path((4,), "x") == "[4].x"


def sample() -> RedactionReport:
    report = RedactionReport()
    report.record(("users", 10), "email", MASK, Reason.CONSENT_WITHDRAWN)
    report.record(("users", 2), "email", MASK, Reason.CONSENT_WITHDRAWN)
    report.record(("users", 2), "phone", STRIP, Reason.NOT_COUNTERPARTY)
    report.record(("users", 2), "email", STRIP, Reason.ERASED)
    report.record(("orders", 0, "buyer"), "email", MASK, Reason.DATA_MINIMISATION)
    report.record(("users", 1), "name", Action.SHOW, Reason.SELF)
    return report


def test_summary_collapses_indices_and_counts() -> None:
    assert sample().summary() == [
        RedactionGroup("orders[*].buyer.email", MASK, Reason.DATA_MINIMISATION, 1),
        RedactionGroup("users[*].email", MASK, Reason.CONSENT_WITHDRAWN, 2),
        RedactionGroup("users[*].email", STRIP, Reason.ERASED, 1),
        RedactionGroup("users[*].phone", STRIP, Reason.NOT_COUNTERPARTY, 1),
    ]


def test_show_is_not_a_redaction() -> None:
    assert len(sample()) == 5


def test_full_lists_concrete_paths_in_numeric_order() -> None:
    assert sample().full() == [
        Redaction("orders[0].buyer.email", MASK, Reason.DATA_MINIMISATION),
        Redaction("users[2].email", MASK, Reason.CONSENT_WITHDRAWN),
        Redaction("users[2].email", STRIP, Reason.ERASED),
        Redaction("users[2].phone", STRIP, Reason.NOT_COUNTERPARTY),
        Redaction("users[10].email", MASK, Reason.CONSENT_WITHDRAWN),
    ]


def test_to_extension() -> None:
    extension = sample().to_extension("ANALYTICS", "2026-11-25.1")
    assert extension["purpose"] == "ANALYTICS"
    assert extension["policyVersion"] == "2026-11-25.1"
    assert "paths" not in extension
    redactions = extension["redactions"]
    assert isinstance(redactions, list)
    assert redactions[1] == {
        "path": "users[*].email",
        "action": "MASK",
        "reason": "CONSENT_WITHDRAWN",
        "count": 2,
    }
    full = sample().to_extension("ANALYTICS", "2026-11-25.1", full=True)
    paths = full["paths"]
    assert isinstance(paths, list) and len(paths) == 5
    assert paths[0] == {
        "path": "orders[0].buyer.email",
        "action": "MASK",
        "reason": "DATA_MINIMISATION",
    }


def test_empty_report() -> None:
    report = RedactionReport()
    assert report.summary() == [] and report.full() == []
    assert report.to_extension("SUPPORT", "v", full=True)["redactions"] == []


def test_many_entries_collapse_into_few_groups() -> None:
    # How fast this is belongs to bench/privacy_overhead.py, not to a timed test.
    report = RedactionReport()
    for index in range(5000):
        for field in ("email", "phone", "name"):
            report.record(("users", index), field, MASK, Reason.CONSENT_WITHDRAWN)
    summary = report.summary()
    assert [(g.path, g.count) for g in summary] == [
        ("users[*].email", 5000),
        ("users[*].name", 5000),
        ("users[*].phone", 5000),
    ]


def test_objects_recorded_alike_count_like_one_record_each() -> None:
    hidden = (("email", MASK, Reason.PSEUDONYMISED), ("phone", STRIP, Reason.ERASED))
    keys = {"email": ["email", "mail"], "phone": ["phone"]}  # "mail" is an alias of email
    alike = RedactionReport(keep_paths=False)
    one_by_one = RedactionReport(keep_paths=False)
    for index in range(3):
        alike.record_alike(("orders", -1, "buyer"), hidden, keys)
        for name, action, reason in hidden:
            for key in keys[name]:
                one_by_one.record(("orders", index, "buyer"), key, action, reason)
    alike.record_alike(("users", -1), hidden, {"email": ["email"]}, count=4)
    for _ in range(4):
        one_by_one.record(("users", 0), "email", MASK, Reason.PSEUDONYMISED)
    assert alike.summary() == one_by_one.summary()
    assert len(alike) == len(one_by_one) == 13
    assert RedactionGroup("orders[*].buyer.mail", MASK, Reason.PSEUDONYMISED, 3) in (
        alike.summary()
    )
