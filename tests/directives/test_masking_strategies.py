from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directives.masking import (
    TOMBSTONE,
    Strategy,
    apply_mask,
    generalize,
    mask_email,
    mask_name,
    mask_partial,
    mask_phone,
    pseudonym,
    tombstone,
)

KEY = b"test-key"
PURPOSE = "ANALYTICS"


def masked(strategy: Strategy, value: object, purpose: str = PURPOSE) -> object:
    return apply_mask(strategy, value, key=KEY, purpose=purpose)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jane.doe@example.com", "j***@e***.com"),
        ("  Jane.Doe@Example.co.uk ", "J***@E***.uk"),
        ("j@e.com", "***@***.com"),
        ("айгерим@почта.рф", "а***@п***.рф"),  # noqa: RUF001
        ("no-at-sign", "***@***.invalid"),
        ("@x", "***@***"),
        ("a@", "***@***"),
        ("a@@b.com", "a***@***.com"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_mask_email(raw: str, expected: str) -> None:
    assert mask_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+7 701 234 56 45", "+7 *** *** ** 45"),
        ("+77012345645", "+7********45"),
        ("+998 90 123 45 67", "+998 ** *** ** 67"),
        ("+44 20 7946 0958", "+44 ** **** **58"),
        ("8 (701) 234-56-45", "* (***) ***-**-45"),
        ("12", "**"),
        ("+7 12", "+7 **"),
        ("call me", "**** **"),
        ("", ""),
        ("  +7 701 234 56 45\n", "+7 *** *** ** 45"),
    ],
)
def test_mask_phone(raw: str, expected: str) -> None:
    assert mask_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane Doe", "J. D."),
        ("  jane   doe ", "j. d."),
        ("Айгерим Нурланова", "А. Н."),  # noqa: RUF001
        ("王小明", "王."),
        ("Madonna", "M."),
        ("Jean-Luc Picard", "J.-L. P."),
        ("O'Brien", "O."),
        ("???", "*"),
        ("", ""),
        ("\t", ""),
    ],
)
def test_mask_name(raw: str, expected: str) -> None:
    assert mask_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("KZ123456", "K******6"), ("abcd", "a**d"), ("abc", "***"), ("a", "*"), (" ", "")],
)
def test_mask_partial(raw: str, expected: str) -> None:
    assert mask_partial(raw) == expected


def test_pseudonym_is_stable_per_purpose_and_differs_across_purposes() -> None:
    first = pseudonym("Jane Doe", key=KEY, purpose="ANALYTICS")
    assert first == pseudonym("Jane Doe", key=KEY, purpose="ANALYTICS")
    assert first == pseudonym("  jane doe ", key=KEY, purpose="ANALYTICS")
    assert first != pseudonym("Jane Doe", key=KEY, purpose="SECURITY")
    assert first != pseudonym("Jane Doe", key=b"other-key", purpose="ANALYTICS")
    assert first.startswith("psn_") and len(first) == len("psn_") + 16
    int(first.removeprefix("psn_"), 16)


def test_pseudonym_refuses_an_empty_key_without_echoing_the_value() -> None:
    with pytest.raises(ValueError) as error:
        pseudonym("jane@example.com", key=b"", purpose="ANALYTICS")
    assert "jane" not in str(error.value)


def test_pseudonym_of_an_email_keeps_email_shape() -> None:
    alias = masked(Strategy.PSEUDONYM, "jane@example.com")
    assert isinstance(alias, str)
    assert alias.startswith("psn_") and alias.endswith("@pseudonym.invalid")
    assert masked(Strategy.PSEUDONYM, "Jane Doe") == pseudonym("Jane Doe", key=KEY, purpose=PURPOSE)
    assert masked(Strategy.PSEUDONYM, 42) == pseudonym("42", key=KEY, purpose=PURPOSE)
    assert masked(Strategy.PSEUDONYM, "  ") == ""


def test_tombstone() -> None:
    assert tombstone() == TOMBSTONE == "Deleted user"
    assert masked(Strategy.TOMBSTONE, "Jane Doe") == "Deleted user"


def test_generalize_dates_keep_type_and_time_zone() -> None:
    almaty = timezone(timedelta(hours=5))
    moment = datetime(2026, 11, 25, 10, 3, 7, 99, tzinfo=almaty)
    result = generalize(moment)
    assert result == datetime(2026, 11, 1, tzinfo=almaty)
    assert isinstance(result, datetime) and result.tzinfo is almaty
    assert generalize(datetime(2026, 2, 28, 23, 59, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)
    day = generalize(date(2026, 11, 25))
    assert day == date(2026, 11, 1) and type(day) is date
    assert generalize("2026-11-25") == "2026-11-01"
    assert generalize("2026-11-25T10:00:00+05:00") == "2026-11-01T00:00:00+05:00"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Whole addresses generalise to nothing: no string rule finds the city in every
        # national format without leaking a street (see masking._generalize_text).
        ("12 Abay Ave, Almaty, 050000, Kazakhstan", None),
        ("Flat 3, 12 High St, London, SW1A 1AA, United Kingdom", None),
        ("109156, Россия, г. Москва, ул. Ленина, д. 112", None),  # noqa: RUF001
        ("Abay Ave, Building B, Almaty, Kazakhstan", None),
        # A lone place name is the generalisation itself (Address.city declares GENERALIZE).
        ("Almaty", "Almaty"),
        ("12 Abay Ave", None),
        ("", None),
        (" , , ", None),
    ],
)
def test_generalize_addresses(raw: str, expected: str | None) -> None:
    assert generalize(raw) == expected


def test_generalize_other_values_is_none() -> None:
    assert generalize(42) is None
    assert generalize(None) is None


def test_apply_mask_none_and_redact() -> None:
    for strategy in Strategy:
        assert masked(strategy, None) is None
    assert masked(Strategy.REDACT, "jane@example.com") is None


def test_apply_mask_is_type_preserving() -> None:
    assert masked(Strategy.EMAIL, "jane@example.com") == "j***@e***.com"
    assert masked(Strategy.PHONE, "+7 701 234 56 45") == "+7 *** *** ** 45"
    assert masked(Strategy.NAME, "Jane Doe") == "J. D."
    assert masked(Strategy.PARTIAL, "4242") == "4**2"
    assert masked(Strategy.GENERALIZE, date(2026, 11, 25)) == date(2026, 11, 1)
    # A string mask cannot turn an int or a date into a string.
    assert masked(Strategy.PHONE, 77012345645) is None
    assert masked(Strategy.NAME, date(2026, 1, 1)) is None
    assert masked(Strategy.PSEUDONYM, date(2026, 1, 1)) is None
    assert masked(Strategy.PSEUDONYM, True) is None


# Property tests: odd input never raises, and long-enough input never leaks.


def has_word(text: str) -> bool:
    """At least one name part with two letters or digits: more than an initial."""
    return any(sum(c.isalnum() for c in part) >= 2 for part in text.replace("-", " ").split())


_MASKS = [Strategy.EMAIL, Strategy.PHONE, Strategy.NAME, Strategy.PSEUDONYM, Strategy.TOMBSTONE]


@given(st.sampled_from(list(Strategy)), st.one_of(st.text(), st.integers(), st.dates(), st.none()))
def test_apply_mask_never_raises(strategy: Strategy, value: object) -> None:
    masked(strategy, value)


@given(st.text())
def test_string_masks_never_raise_and_return_strings(value: str) -> None:
    for function in (mask_email, mask_phone, mask_name, mask_partial):
        assert isinstance(function(value), str)
    generalize(value)


@given(st.emails().filter(lambda e: "*" not in e))
def test_email_mask_never_returns_the_address(value: str) -> None:
    result = mask_email(value)
    local = value.rpartition("@")[0]
    assert result != value and "@" in result
    assert len(local) < 2 or local not in result


@given(st.from_regex(r"\+?[0-9 ()-]*[0-9]{3}[0-9 ()-]*", fullmatch=True))
def test_phone_mask_never_returns_the_number(value: str) -> None:
    result = mask_phone(value)
    assert result != value.strip()
    assert sum(ch.isdigit() for ch in result) < sum(ch.isdigit() for ch in value)


@given(st.text().filter(has_word))
def test_name_mask_never_returns_a_full_word(value: str) -> None:
    result = mask_name(value)
    assert result != value
    for word in value.split():
        if sum(c.isalnum() for c in word) >= 2 and "-" not in word:
            assert word not in result.split()


@given(st.sampled_from(_MASKS), st.text(min_size=1).filter(lambda t: t.strip() and "*" not in t))
def test_masks_never_return_the_raw_input(strategy: Strategy, value: str) -> None:
    if strategy is Strategy.PHONE and not any(c.isdigit() for c in value):
        return
    if strategy is Strategy.NAME and not has_word(value):
        return
    if strategy is Strategy.TOMBSTONE and value == TOMBSTONE:
        return
    result = masked(strategy, value)
    assert isinstance(result, str)
    assert result != value


@given(st.text(min_size=1), st.sampled_from(["ANALYTICS", "SECURITY"]))
def test_pseudonym_is_deterministic(value: str, purpose: str) -> None:
    assert masked(Strategy.PSEUDONYM, value, purpose) == masked(Strategy.PSEUDONYM, value, purpose)
