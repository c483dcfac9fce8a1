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
import hmac
import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import TypeVar

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
    digits = _NON_DIGIT.sub("", text)
    keep_head = _country_code_length(digits) if text[0] == "+" else 0
    national = len(digits) - keep_head
    keep_tail = 2 if national > 4 else 0
    if national <= 0:
        keep_head = 0
    # Everything but separators becomes "*", then the kept digits are put back: a few
    # C-level passes instead of a Python step per character (this runs per row).
    out = list(_NOT_SEPARATOR.sub("*", text))
    if text[0] == "+":
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
    if not key:
        raise ValueError("pseudonym key is empty; configure a secret key per deployment")
    normal = unicodedata.normalize("NFC", value.strip()).casefold()
    mac = _keyed(key, purpose).copy()
    mac.update(normal.encode("utf-8", "surrogatepass"))
    return PSEUDONYM_PREFIX + mac.hexdigest()[:16]


@lru_cache(maxsize=64)
def _keyed(key: bytes, purpose: str) -> hmac.HMAC:
    """The HMAC state after key and purpose: copied per value instead of rebuilt."""
    return hmac.new(key, purpose.encode() + b"\x00", hashlib.sha256)


def tombstone() -> str:
    return TOMBSTONE


def _generalize_text(text: str) -> str | None:
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
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0, fold=0)
    return value.replace(day=1)


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


def apply_mask(strategy: Strategy, value: object, *, key: bytes, purpose: str) -> object | None:
    """Mask `value` with `strategy`; None stays None and REDACT always gives None."""
    if value is None or strategy is Strategy.REDACT:
        return None
    if strategy is Strategy.TOMBSTONE:
        return TOMBSTONE
    if strategy is Strategy.GENERALIZE:
        return generalize(value)
    if strategy is Strategy.PSEUDONYM:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        text = str(value)
        if not text.strip():
            return ""
        alias = pseudonym(text, key=key, purpose=purpose)
        return f"{alias}@{PSEUDONYM_EMAIL_DOMAIN}" if _looks_like_email(text) else alias
    if not isinstance(value, str):
        return None
    return _STRING_MASKS[strategy](value)


_STRING_MASKS = {
    Strategy.EMAIL: mask_email,
    Strategy.PHONE: mask_phone,
    Strategy.NAME: mask_name,
    Strategy.PARTIAL: mask_partial,
}
