"""A small, flat hierarchy of the gateway's expected errors.

Messages never carry personal data: they name fields, settings and ids, never values.
"""


class GatewayError(Exception):
    """Base of every expected error; the CLI prints it as one line."""


class ConfigurationError(GatewayError):
    """A `GATEWAY_*` setting is missing, malformed or unsafe."""


class DatabaseUnavailable(GatewayError):
    """The configured database does not answer."""


class AuthenticationError(GatewayError):
    """A bearer token is malformed, expired, wrongly signed or names an unknown subject."""


class PurposeError(GatewayError):
    """An employee request names no processing purpose, or an unknown one."""
