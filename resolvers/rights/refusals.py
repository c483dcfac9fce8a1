"""Expected refusals of a right: typed, safe to show, never naming another person's data."""

from __future__ import annotations

import re
from enum import StrEnum

from directives.taxonomy import Role
from resolvers.context import Context


class Code(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"  # no token: sign in first
    FORBIDDEN = "FORBIDDEN"  # this kind of viewer may not do this
    NOT_FOUND = "NOT_FOUND"  # no such request (or not one the viewer may see)
    INVALID = "INVALID"  # a value that cannot be accepted (see the message)
    TOO_LONG = "TOO_LONG"
    TAKEN = "TAKEN"  # an email another account uses (whose is not said)
    REAUTHENTICATION_REQUIRED = "REAUTHENTICATION_REQUIRED"  # sign in again, then retry
    NOT_WITHDRAWABLE = "NOT_WITHDRAWABLE"  # consent on a contract or legal basis
    NO_EXTENSION_ALLOWED = "NO_EXTENSION_ALLOWED"
    CLOSED = "CLOSED"  # the request is completed, rejected or cancelled already
    NOT_ALLOWED = "NOT_ALLOWED"  # a transition or action the request's state does not allow


class Refusal(Exception):
    """Raised inside a unit of work, so the transaction rolls back: a refusal changes
    nothing. `field` names the argument at fault, where there is one."""

    def __init__(self, code: Code, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def subject_of(ctx: Context) -> int:
    """The signed-in platform user: a subject acts on their own data only, and who they
    are comes from the token, never from an argument."""
    viewer = ctx.viewer
    if viewer.is_user and viewer.user_id is not None:
        return viewer.user_id
    if viewer.is_employee:
        raise Refusal(
            Code.FORBIDDEN,
            "this is a self-service right of platform users; staff act through the DPO queue",
        )
    raise Refusal(Code.UNAUTHENTICATED, "sign in as the platform user whose data this is")


def recently_signed_in(ctx: Context, now: float, action: str) -> None:
    """Changing the email or deleting the account needs a fresh sign-in."""
    limit = ctx.settings.reauth_seconds
    signed_in = ctx.viewer.auth_time
    if signed_in is None or now - signed_in > limit:
        raise Refusal(
            Code.REAUTHENTICATION_REQUIRED,
            f"{action} needs a sign-in within the last {limit} seconds; sign in again and retry",
        )


def staff(ctx: Context, roles: dict[Role, frozenset[str]], action: str) -> tuple[Role, str]:
    """An employee whose role may take this action for the purpose they named."""
    viewer = ctx.viewer
    if not viewer.is_employee or viewer.role is None:
        if viewer.is_user:
            raise Refusal(Code.FORBIDDEN, f"{action} is for the DPO (and support, for inquiries)")
        raise Refusal(Code.UNAUTHENTICATED, f"{action} needs an employee token")
    purposes = roles.get(viewer.role)
    if purposes is None:
        raise Refusal(Code.FORBIDDEN, f"the {viewer.role.value} role may not {action}")
    if viewer.purpose.value not in purposes:
        raise Refusal(
            Code.FORBIDDEN,
            f"{action} as {viewer.role.value} needs the purpose {' or '.join(sorted(purposes))}",
        )
    return viewer.role, viewer.purpose.value


# C0 controls but tab and line breaks, DEL and C1 controls: no text a person writes holds them,
# and PostgreSQL refuses NUL outright.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def text_argument(value: str, field: str, *, limit: int, required: bool = True) -> str:
    """A free-text argument, trimmed; empty (when required) or over `limit` is refused."""
    text = value.strip()
    if required and not text:
        raise Refusal(Code.INVALID, f"{field} must not be empty", field)
    if _UNSTORABLE.search(text) or not _encodable(text):
        raise Refusal(
            Code.INVALID,
            f"{field} holds a control character or broken text (only line breaks and tabs "
            "are kept)",
            field,
        )
    if len(text) > limit:
        raise Refusal(
            Code.TOO_LONG, f"{field} is {len(text)} characters; at most {limit} are kept", field
        )
    return text
