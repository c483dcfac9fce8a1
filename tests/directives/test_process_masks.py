"""Masks a gateway process remembers across requests: the same answers as computing them
afresh, bounded, and keyed by fingerprints rather than personal values."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directives.masking import ProcessMasks, RememberedMask, Strategy, apply_mask

KEY = b"test-key"
STRING_STRATEGIES = [Strategy.EMAIL, Strategy.PHONE, Strategy.NAME, Strategy.PARTIAL]
values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["+7 701 234 56 45", "jane.doe@example.com", "Jane Doe", "KZ123456", ""]),
    st.integers(),
    st.none(),
)


@settings(max_examples=150, database=None, deadline=None)
@given(st.sampled_from(list(Strategy)), st.lists(values, max_size=30))
def test_remembered_masks_answer_like_fresh_ones(strategy: Strategy, items: list[object]) -> None:
    remembering = ProcessMasks(KEY, remember=4).get(strategy, "SUPPORT")
    for item in items * 2:  # the second pass answers from the memo
        expected = apply_mask(strategy, item, key=KEY, purpose="SUPPORT")
        if item is None:
            continue  # callers never mask None (projection skips it)
        assert remembering(item) == expected


@pytest.mark.parametrize("strategy", STRING_STRATEGIES)
def test_a_remembered_mask_is_bounded_and_keyed_by_fingerprints(strategy: Strategy) -> None:
    memo = RememberedMask(strategy, remember=3)
    secrets = [f"+7 701 555 00 0{i} Zhanar.Distinctive{i}@example.kz" for i in range(7)]
    for secret in secrets:
        memo.mask(secret)
        assert 1 <= len(memo) <= 3
    keys = list(memo._known)
    assert all(type(a) is int and type(b) is int for a, b in keys)
    remembered = set(memo._known.values())
    assert not remembered & set(secrets)
    assert remembered <= {apply_mask(strategy, v, key=KEY, purpose="P") for v in secrets}
    off = RememberedMask(strategy, remember=0)
    off.mask(secrets[0])
    assert len(off) == 0


def test_process_masks_share_one_memo_per_strategy_and_one_pseudonymizer_per_purpose() -> None:
    masks = ProcessMasks(KEY, remember=10)
    assert (
        masks.get(Strategy.PHONE, "SUPPORT").__self__
        is masks.get(Strategy.PHONE, "SECURITY").__self__
    )  # type: ignore[attr-defined]
    assert masks.pseudonymizer("ANALYTICS") is masks.pseudonymizer("ANALYTICS")
    assert masks.pseudonymizer("ANALYTICS") is not masks.pseudonymizer("LEGAL")
    analytics = masks.get(Strategy.PSEUDONYM, "ANALYTICS")("jane@example.com")
    assert analytics != masks.get(Strategy.PSEUDONYM, "LEGAL")("jane@example.com")
    month = masks.get(Strategy.GENERALIZE, "SUPPORT")(datetime(2026, 5, 17, 9, tzinfo=UTC))
    assert month == datetime(2026, 5, 1, tzinfo=UTC)
