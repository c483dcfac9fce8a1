"""Errors a client caused; their messages are safe to show (no personal data, ever)."""


class InputError(ValueError):
    """A bad argument: shown to the client as is."""


class ForbiddenError(InputError):
    """The viewer may not use this field at all; says so without naming any person."""
