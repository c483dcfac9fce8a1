"""Ids and cursors from the client, parsed strictly.

An id is the decimal form the gateway issues: ASCII digits, no sign, no spaces, no leading
zero, at most 2**31 - 1 (the largest INTEGER on both SQLite and PostgreSQL). Anything else
(`"01"`, `"²"`, `"\\u0661"`, `"-1"`, `"1e3"`, `"99999999999"`) is a BAD_USER_INPUT error, never a
silent match. `"0"` is well formed but no row has it: it matches nothing (None).
"""

from __future__ import annotations

import base64
import binascii
import re

from resolvers.errors import InputError

MAX_ID = 2**31 - 1
CURSOR_PREFIX = "id:"

_CANONICAL = re.compile(r"0|[1-9][0-9]{0,9}")  # fullmatch; ten digits cover MAX_ID


class MalformedIdError(InputError):
    """An id argument is not an id this gateway could have issued."""


def parse_id(text: str) -> int | None:
    """The row id in `text`; None for "0" (matches nothing); MalformedIdError otherwise."""
    row_id = _canonical_int(text)
    if row_id is None:
        raise MalformedIdError(
            f"an id is the decimal digits of a number from 1 to {MAX_ID}, "
            "without sign, spaces or leading zeros"
        )
    return row_id or None


def decode_cursor(cursor: str) -> int | None:
    """The row id a cursor from `encode_cursor` names; None if it is not such a cursor."""
    if not cursor.isascii() or len(cursor) > 24:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    if not decoded.startswith(CURSOR_PREFIX):
        return None
    row_id = _canonical_int(decoded[len(CURSOR_PREFIX) :])
    # Only the exact text the gateway issues: no other padding or alphabet variants.
    if row_id is None or encode_cursor(row_id) != cursor:
        return None
    return row_id


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{row_id}".encode()).decode()


def _canonical_int(text: str) -> int | None:
    if not text.isascii() or _CANONICAL.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_ID else None
