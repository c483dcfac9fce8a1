"""Type-preserving masking strategies.

Every function accepts odd input (blank, non-Latin, malformed) without
raising: the data is whatever users typed years ago. Blank strings mask to
"" because there is nothing to hide. String strategies applied to a
non-string value return None rather than change the field's GraphQL type.

PSEUDONYM keeps the shape of an email ("psn_<16 hex>@pseudonym.invalid",
a reserved TLD that can never deliver) so email-typed consumers still work;
any other value becomes "psn_<16 hex>". Values are normalised (trimmed, NFC,
case-folded) before hashing so "Jane@X.com" and "jane@x.com" count as one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar

TOMBSTONE = "Deleted user"
PSEUDONYM_PREFIX = "psn_"
PSEUDONYM_EMAIL_DOMAIN = "pseudonym.invalid"

# E.164 two-digit country codes; "1" and "7" are one digit, the rest three.
_CC2 = frozenset(
    {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46"}
    | {"47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62"}
    | {"63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"}
)
_PHONE_SEPARATORS = frozenset(" -().")
_NOT_SEPARATOR = re.compile(r"[^ \-().]")
_NON_DIGIT = re.compile(r"\D")
# The same two rewrites for ASCII text, where \d is exactly 0-9.
_ASCII = [chr(code) for code in range(128)]
_ASCII_DIGITS = str.maketrans("", "", "".join(ch for ch in _ASCII if not "0" <= ch <= "9"))
_ASCII_STARRED = str.maketrans({ch: ch if ch in _PHONE_SEPARATORS else "*" for ch in _ASCII})
_D = TypeVar("_D", bound=date)


class Strategy(StrEnum):
    REDACT = "REDACT"
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    NAME = "NAME"
    PARTIAL = "PARTIAL"
    PSEUDONYM = "PSEUDONYM"
    TOMBSTONE = "TOMBSTONE"
    GENERALIZE = "GENERALIZE"


def _hide(part: str) -> str:
    # A one-character part would be revealed whole by "first char + ***".
    return part[0] + "***" if len(part) > 1 else "***"


def mask_email(value: str) -> str:
    """Email shape kept: "jane.doe@example.com" -> "j***@e***.com", malformed too."""
    text = value.strip()
    if not text:
        return ""
    local, at, domain = text.rpartition("@")
    if not at:
        return "***@***.invalid"
    host, dot, tld = domain.rpartition(".")
    if not dot or not host:
        return f"{_hide(local)}@{_hide(domain)}"
    return f"{_hide(local)}@{_hide(host)}.{tld}"


def _country_code_length(digits: str) -> int:
    if digits[:1] in ("1", "7"):
        return 1
    return 2 if digits[:2] in _CC2 else 3


def mask_phone(value: str) -> str:
    """Country code and last 2 digits kept: "+7 701 234 56 45" -> "+7 *** *** ** 45"."""
    text = value.strip()
    if not text:
        return ""
    plain = text.isascii()  # the usual case: str.translate's table lookups, not a regex
    digits = text.translate(_ASCII_DIGITS) if plain else _NON_DIGIT.sub("", text)
    keep_head = _country_code_length(digits) if text[0] == "+" else 0
    national = len(digits) - keep_head
    keep_tail = 2 if national > 4 else 0
    if national <= 0:
        keep_head = 0
    # Everything but separators becomes "*", then the kept digits are put back: a few
    # C-level passes instead of a Python step per character (this runs per row).
    starred = text.translate(_ASCII_STARRED) if plain else _NOT_SEPARATOR.sub("*", text)
    plus = text[0] == "+"
    head_in_place = not keep_head or text[1 : 1 + keep_head].isdigit()
    if head_in_place and (not keep_tail or text[-keep_tail:].isdigit()):
        # The usual shape: the kept digits right after "+" and at the very end.
        end = len(text) - keep_tail
        head = "+" + text[1 : 1 + keep_head] if plus else ""
        return head + starred[len(head) : end] + text[end:]
    out = list(starred)
    if plus:
        out[0] = "+"
    restored = 0
    for index, ch in enumerate(text):
        if restored >= keep_head:
            break
        if ch.isdigit():
            out[index] = ch
            restored += 1
    restored = 0
    for index in range(len(text) - 1, -1, -1):
        if restored >= keep_tail:
            break
        if text[index].isdigit():
            out[index] = text[index]
            restored += 1
    return "".join(out)


def _initial(token: str) -> str:
    letters = [ch for ch in token if ch.isalnum()]
    return letters[0] + "." if letters else ""


def mask_name(value: str) -> str:
    """Initials: "Jane Doe" -> "J. D.", "Jean-Luc Picard" -> "J.-L. P."."""
    parts = []
    for word in value.split():
        initials = [i for i in (_initial(piece) for piece in word.split("-")) if i]
        if initials:
            parts.append("-".join(initials))
    if parts:
        return " ".join(parts)
    return "*" if value.strip() else ""


def mask_partial(value: str) -> str:
    """Keep first and last character: "KZ123456" -> "K******6"; short values fully starred."""
    text = value.strip()
    if len(text) < 4:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 2) + text[-1]


def pseudonym(value: str, *, key: bytes, purpose: str) -> str:
    """Keyed HMAC-SHA256: stable per (key, purpose, value), unlinkable across purposes."""
    return _hmac_states(key, purpose).alias(value)


class _HmacStates:
    """HMAC-SHA256 of (purpose, NUL, value) with the key and purpose already absorbed.

    RFC 2104 computed from two SHA-256 states prepared once per (key, purpose) and copied
    per value: the same digest as `hmac.new`, at half the cost (this runs per row).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, purpose: str) -> None:
        if not key:
            raise ValueError("pseudonym key is empty; configure a secret key per deployment")
        block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_IPAD))
        self._inner.update(purpose.encode() + b"\x00")
        self._outer = hashlib.sha256(block.translate(_OPAD))

    def alias(self, value: str) -> str:
        normal = unicodedata.normalize("NFC", value.strip()).casefold()
        inner = self._inner.copy()
        inner.update(normal.encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return PSEUDONYM_PREFIX + outer.hexdigest()[:16]


_BLOCK = 64  # SHA-256 block size
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


@lru_cache(maxsize=64)
def _hmac_states(key: bytes, purpose: str) -> _HmacStates:
    return _HmacStates(key, purpose)


class _Remembering:
    """Masked values by fingerprint of the raw value; emptied whenever it reaches `limit`
    entries, and `limit=0` keeps nothing."""

    __slots__ = ("_known", "_limit")

    def __init__(self, limit: int) -> None:
        self._known: dict[Any, str] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._known)

    def _keep(self, fingerprint: object, masked: str) -> None:
        if self._limit:
            if len(self._known) >= self._limit:
                self._known.clear()
            self._known[fingerprint] = masked


class Pseudonymizer(_Remembering):
    """The PSEUDONYM strategy for one (key, purpose), remembering what it computed.

    A gateway process keeps one per purpose, so a person's pseudonyms are computed once,
    not on every request. The memo is keyed by a fingerprint of the value (Python's string
    hash: SipHash keyed with a per-process secret), never by the value: it holds
    pseudonyms, not raw personal data. It caches no decision, so consent and erasure still
    act from the next request on; and it is emptied whenever it reaches `remember` entries.
    `remember=0` computes every value afresh.
    """

    __slots__ = ("_states",)

    def __init__(self, key: bytes, purpose: str, *, remember: int = 0) -> None:
        super().__init__(remember)
        self._states = _hmac_states(key, purpose)

    def __call__(self, value: object) -> str | None:
        return self.pseudonymise(value)

    def pseudonymise(self, value: object) -> str | None:
        """The pseudonym of `value` (a Mask; bound, it is cheaper to call than the object)."""
        if type(value) is not str:
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                return None
            value = str(value)
        fingerprint = hash(value)
        known = self._known.get(fingerprint)
        if known is not None:
            return known
        alias = self._alias(value)
        self._keep(fingerprint, alias)
        return alias

    def _alias(self, text: str) -> str:
        if not text.strip():
            return ""
        alias = self._states.alias(text)
        return f"{alias}@{PSEUDONYM_EMAIL_DOMAIN}" if _looks_like_email(text) else alias


class RememberedMask(_Remembering):
    """A string strategy (EMAIL, PHONE, NAME, PARTIAL) remembering its results.

    The memo is keyed by a 128-bit fingerprint of the value (two SipHash digests keyed
    with a per-process secret), never by the value: two values sharing a fingerprint, so
    one person's mask shown for another, would take about 2**64 values. It holds masked
    values, what the policy lets viewers see, and is emptied when it reaches `remember`.
    """

    __slots__ = ("_mask",)

    def __init__(self, strategy: Strategy, *, remember: int) -> None:
        super().__init__(remember)
        self._mask = _STRING_MASKS[strategy]

    def mask(self, value: object) -> str | None:
        if type(value) is not str:
            return self._mask(value) if isinstance(value, str) else None
        fingerprint = (hash(value), hash(value + "\x00"))
        known = self._known.get(fingerprint)
        if known is None:
            known = self._mask(value)
            self._keep(fingerprint, known)
        return known


class ProcessMasks:
    """The masks one gateway process applies: value-determined strategies remember their
    results across requests (by fingerprint; see Pseudonymizer and RememberedMask), up to
    `remember` values per (strategy, purpose). Decisions are never remembered: consent,
    erasure and corrections act from the next request on. `remember=0` remembers nothing.
    """

    def __init__(self, key: bytes, *, remember: int) -> None:
        self._key = key
        self._remember = remember
        self._pseudonymizers: dict[str, Pseudonymizer] = {}
        self._strings: dict[Strategy, RememberedMask] = {}

    def pseudonymizer(self, purpose: str) -> Pseudonymizer:
        found = self._pseudonymizers.get(purpose)
        if found is None:
            found = Pseudonymizer(self._key, purpose, remember=self._remember)
            self._pseudonymizers[purpose] = found
        return found

    def get(self, strategy: Strategy, purpose: str) -> Mask:
        """`strategy` for `purpose`, as a function of the value (see `masker`)."""
        if strategy is Strategy.PSEUDONYM:
            return self.pseudonymizer(purpose).pseudonymise
        if strategy in _STRING_MASKS:
            found = self._strings.get(strategy)
            if found is None:
                found = self._strings[strategy] = RememberedMask(strategy, remember=self._remember)
            return found.mask
        return masker(strategy, key=self._key, purpose=purpose)


def tombstone() -> str:
    return TOMBSTONE


def _generalize_text(text: str) -> str | None:
    # Every ISO 8601 form `fromisoformat` accepts starts with a four-digit year; anything
    # else skips the parse (and the exception it would raise).
    parsed = None
    if text[:4].isdigit():
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is not None:
        if "T" in text or " " in text.strip():
            return generalize_date(parsed).isoformat()
        return generalize_date(parsed.date()).isoformat()
    # A lone place name ("Almaty", Address.city) is already as coarse as it gets. A whole
    # address comes in every national order (street first in Germany, postal code first in
    # Russia, no commas in China): no string rule finds its city without leaking a street,
    # so it generalises to nothing. The structured Address.city is the coarse form.
    text = text.strip()
    if text and "," not in text and not any(ch.isdigit() for ch in text):
        return text
    return None


def generalize_date(value: _D) -> _D:
    """First instant of the month, same type and time zone."""
    if isinstance(value, datetime):
        if type(value) is datetime:  # the common case: one object per month and zone, shared
            zone = value.tzinfo
            return _month_start(value.year, value.month, id(zone), zone)  # type: ignore[return-value]
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0)
    return value.replace(day=1)


@lru_cache(maxsize=1024)
def _month_start(year: int, month: int, zone_id: int, zone: tzinfo | None) -> datetime:
    # Keyed by the zone's identity too: zones with one offset but different names compare
    # equal, and each value keeps its own. The cache holds the zone, so its id stays unique.
    return datetime(year, month, 1, tzinfo=zone)


def generalize(value: object) -> object | None:
    """Date -> its month; "line, city, postal, country" -> "city, country"; else None."""
    if isinstance(value, date):
        return generalize_date(value)
    if isinstance(value, str):
        return _generalize_text(value)
    return None


def _looks_like_email(text: str) -> bool:
    local, at, domain = text.strip().rpartition("@")
    return bool(at and local and domain)


Mask = Callable[[object], object | None]


def apply_mask(strategy: Strategy, value: object, *, key: bytes, purpose: str) -> object | None:
    """Mask `value` with `strategy`; None stays None and REDACT always gives None."""
    if value is None:
        return None
    return masker(strategy, key=key, purpose=purpose)(value)


@lru_cache(maxsize=256)
def masker(strategy: Strategy, *, key: bytes, purpose: str) -> Mask:
    """`strategy` as a function of the value alone, for masking many values alike.

    Gives what `apply_mask` gives for every value but None (which masks to None, or to
    the tombstone with TOMBSTONE): callers that hold None skip the call.
    """
    if strategy is Strategy.PSEUDONYM:
        return Pseudonymizer(key, purpose)
    return _MASKS[strategy]


def _redact(value: object) -> None:
    return None


def _tombstone(value: object) -> str:
    return TOMBSTONE


def _on_strings(mask: Callable[[str], str]) -> Mask:
    def masked(value: object) -> str | None:
        return mask(value) if isinstance(value, str) else None

    return masked


_STRING_MASKS: dict[Strategy, Callable[[str], str]] = {
    Strategy.EMAIL: mask_email,
    Strategy.PHONE: mask_phone,
    Strategy.NAME: mask_name,
    Strategy.PARTIAL: mask_partial,
}
_MASKS: dict[Strategy, Mask] = {
    Strategy.REDACT: _redact,
    Strategy.TOMBSTONE: _tombstone,
    Strategy.GENERALIZE: generalize,
    **{strategy: _on_strings(mask) for strategy, mask in _STRING_MASKS.items()},
}
