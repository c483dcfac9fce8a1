"""Errors a client caused; their messages are safe to show (no personal data, ever).

Each carries a `code`; graphql-core copies an exception's `extensions` onto the error it
reports, so the code reaches the client as `extensions.code`.
"""

from __future__ import annotations


class InputError(ValueError):
    """A bad argument: shown to the client as is."""

    code = "BAD_USER_INPUT"

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.code}


class ForbiddenError(InputError):
    """The viewer may not use this field at all; says so without naming any person."""

    code = "FORBIDDEN"


class UnauthenticatedError(InputError):
    """The field is about the signed-in person, and nobody is signed in."""

    code = "UNAUTHENTICATED"
