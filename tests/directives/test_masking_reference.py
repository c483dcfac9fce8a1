"""The optimised masking code gives exactly what the pre-optimisation code gave."""

import hashlib
import hmac
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directives.masking import (
    PSEUDONYM_EMAIL_DOMAIN,
    PSEUDONYM_PREFIX,
    TOMBSTONE,
    Pseudonymizer,
    Strategy,
    _country_code_length,
    apply_mask,
    generalize,
    mask_email,
    mask_name,
    mask_partial,
    mask_phone,
    masker,
    pseudonym,
)

# --- Reference: directives/masking.py as committed before the optimisation -------------------


def ref_mask_phone(value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    digits = re.sub(r"\D", "", text)
    keep_head = _country_code_length(digits) if text[0] == "+" else 0
    national = len(digits) - keep_head
    keep_tail = 2 if national > 4 else 0
    if national <= 0:
        keep_head = 0
    out = list(re.sub(r"[^ \-().]", "*", text))
    if text[0] == "+":
        out[0] = "+"
    for indices, keep in ((range(len(text)), keep_head), (range(len(text) - 1, -1, -1), keep_tail)):
        restored = 0
        for index in indices:
            if restored >= keep:
                break
            if text[index].isdigit():
                out[index] = text[index]
                restored += 1
    return "".join(out)


def ref_generalize_date(value: date) -> date:
    if isinstance(value, datetime):
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0)
    return value.replace(day=1)


def ref_generalize_text(text: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        if "T" in text or " " in text.strip():
            return ref_generalize_date(parsed).isoformat()
        return ref_generalize_date(parsed.date()).isoformat()
    text = text.strip()
    if text and "," not in text and not any(ch.isdigit() for ch in text):
        return text
    return None


def ref_generalize(value: object) -> object | None:
    if isinstance(value, date):
        return ref_generalize_date(value)
    if isinstance(value, str):
        return ref_generalize_text(value)
    return None


def ref_pseudonym(value: str, *, key: bytes, purpose: str) -> str:
    if not key:
        raise ValueError("pseudonym key is empty; configure a secret key per deployment")
    normal = unicodedata.normalize("NFC", value.strip()).casefold().encode("utf-8", "surrogatepass")
    mac = hmac.new(key, purpose.encode() + b"\x00" + normal, hashlib.sha256)
    return PSEUDONYM_PREFIX + mac.hexdigest()[:16]


def ref_apply_mask(strategy: Strategy, value: object, *, key: bytes, purpose: str) -> object:
    """The pre-optimisation apply_mask (and the ref_* above it), kept as an oracle."""
    if value is None or strategy is Strategy.REDACT:
        return None
    if strategy is Strategy.TOMBSTONE:
        return TOMBSTONE
    if strategy is Strategy.GENERALIZE:
        return ref_generalize(value)
    if strategy is Strategy.PSEUDONYM:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        text = str(value)
        if not text.strip():
            return ""
        alias = ref_pseudonym(text, key=key, purpose=purpose)
        local, at, domain = text.strip().rpartition("@")
        return f"{alias}@{PSEUDONYM_EMAIL_DOMAIN}" if at and local and domain else alias
    if not isinstance(value, str):
        return None
    return REF_STRING_MASKS[strategy](value)


REF_STRING_MASKS = {Strategy.EMAIL: mask_email, Strategy.NAME: mask_name}
REF_STRING_MASKS |= {Strategy.PHONE: ref_mask_phone, Strategy.PARTIAL: mask_partial}


# --- Inputs ---------------------------------------------------------------------------------

check = settings(max_examples=300, database=None, deadline=None)
space = st.sampled_from(["", " ", "  ", "\t", "\n", "\u00a0", "\u3000"])
# Unicode digits: Nd (counted by \d and isdigit) and No (isdigit only).
odd_digits = st.sampled_from(["٣", "²", "\uff15", "߁", "\U0001d7d7", "①"])
phoneish = st.builds(
    lambda lead, body, extra, trail: lead + body + extra + trail,
    space,
    st.from_regex(r"\+?[0-9 ()\-.]{0,20}", fullmatch=True),
    st.lists(odd_digits, max_size=3).map("".join),
    space,
) | st.builds(
    lambda parts: "".join(parts),
    st.lists(st.sampled_from(list("+0123456789 -().x")) | odd_digits, max_size=24),
)
# Strings that case folding and NFC treat differently from lower() and no normalisation.
CASE_AND_FORM = ["Straße", " STRASSE ", "\ufb01le", "ΣΑΣ", "Cafe\u0301", "\u212bngstr\u00f6m"]
ODD_TEXTS = [*CASE_AND_FORM, "Almaty", "a, b", "x@", "2024-13-01", "20240101", "2024-W01-1"]
# Fixed offsets that compare equal (same offset) but are different zones (other names).
offsets = st.sampled_from([timedelta(0), timedelta(hours=5)])
named = st.builds(timezone, offsets, st.sampled_from(["UTC", "GMT", "Asia/Almaty", "PKT"]))
zones = st.timezones() | st.just(UTC) | named
few_months = st.datetimes(datetime(2024, 1, 1), datetime(2024, 2, 28), timezones=named)
datetimes = st.datetimes() | st.datetimes(timezones=zones) | few_months
iso_text = (
    st.dates().map(date.isoformat)
    | datetimes.map(datetime.isoformat)
    | datetimes.map(lambda d: d.isoformat(" "))
    | datetimes.map(lambda d: d.isoformat(timespec="minutes"))
)
texts = st.text() | phoneish | iso_text | st.emails() | st.sampled_from(ODD_TEXTS)
values = texts | st.integers() | st.booleans() | st.floats() | st.dates() | datetimes | st.none()
# Around the 64-byte SHA-256 block: padded below it, hashed above it.
key_sizes = st.sampled_from([1, 32, 63, 64, 65, 128, 129, 130]) | st.integers(1, 130)
keys = key_sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n))
purposes = st.sampled_from(["", "ANALYTICS", "SUPPORT", "billing", "ünïcode", "a\x00b"])


# --- Properties -----------------------------------------------------------------------------


@check
@given(st.text() | phoneish)
def test_mask_phone_matches_reference(text: str) -> None:
    assert mask_phone(text) == ref_mask_phone(text)


@check
@given(texts | st.dates() | datetimes | st.integers() | st.none())
def test_generalize_matches_reference(value: object) -> None:
    got, want = generalize(value), ref_generalize(value)
    assert got == want
    assert type(got) is type(want)
    if isinstance(want, datetime):
        # The value's own zone, not merely an equal one: equal fixed offsets differ in name.
        assert (got.tzinfo, got.tzname()) == (want.tzinfo, want.tzname())
        assert got.fold == want.fold


def test_generalize_keeps_each_values_own_zone() -> None:
    for name in ("Asia/Almaty", "PKT"):
        zone = timezone(timedelta(hours=5), name)
        assert generalize(datetime(2024, 5, 17, 9, tzinfo=zone)).tzname() == name


@check
@given(st.text() | st.emails() | st.sampled_from(CASE_AND_FORM), keys, purposes)
def test_pseudonym_matches_reference(value: str, key: bytes, purpose: str) -> None:
    assert pseudonym(value, key=key, purpose=purpose) == ref_pseudonym(
        value, key=key, purpose=purpose
    )


@check
@given(st.sampled_from(list(Strategy)), values, keys, purposes)
def test_apply_mask_and_masker_match_reference(
    strategy: Strategy, value: object, key: bytes, purpose: str
) -> None:
    got = apply_mask(strategy, value, key=key, purpose=purpose)
    assert got == ref_apply_mask(strategy, value, key=key, purpose=purpose)
    if value is not None:
        assert masker(strategy, key=key, purpose=purpose)(value) == got


@check
@given(st.lists(st.sampled_from(["a@b.c", "Jane", " jane ", "", 7, True, 1.5, "x"]), max_size=40))
def test_pseudonymizer_memo_is_transparent_and_bounded(items: list[object]) -> None:
    fresh, remembering = Pseudonymizer(b"k", "P"), Pseudonymizer(b"k", "P", remember=3)
    for item in items * 2:
        assert remembering(item) == fresh(item)
        assert len(remembering) <= 3
        assert len(fresh) == 0


def test_pseudonymizer_memo_holds_no_raw_value() -> None:
    secret = "Zhanar.Distinctive@example.kz"
    remembering = Pseudonymizer(b"k", "P", remember=8)
    alias = remembering(secret)
    assert remembering._known
    assert all(type(k) is int for k in remembering._known)
    assert secret not in remembering._known and secret not in remembering._known.values()
    assert list(remembering._known.values()) == [alias]


def test_empty_key_raises_without_the_value() -> None:
    secret = "Zhanar.Distinctive@example.kz"
    for call in (
        lambda: pseudonym(secret, key=b"", purpose="P"),
        lambda: Pseudonymizer(b"", "P")(secret),
        lambda: apply_mask(Strategy.PSEUDONYM, secret, key=b"", purpose="P"),
    ):
        with pytest.raises(ValueError, match="key is empty") as raised:
            call()
        assert "Zhanar" not in str(raised.value)
