"""Bearer tokens: issue (for the CLI and tests) and verify (for every request)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

from directives.taxonomy import Purpose, Role
from gateway.errors import AuthenticationError, ConfigurationError, PurposeError
from gateway.settings import Settings


class ViewerKind(StrEnum):
    ANONYMOUS = "ANONYMOUS"
    USER = "USER"
    EMPLOYEE = "EMPLOYEE"


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says; the subject still has to exist in the database."""

    kind: ViewerKind
    subject_id: int | None = None
    role: Role | None = None
    # When the subject last proved who they are (OIDC `auth_time`; `iat` when absent).
    auth_time: int | None = None


ANONYMOUS_CLAIMS = Claims(ViewerKind.ANONYMOUS)


def issue_token(
    settings: Settings,
    *,
    user_id: int | None = None,
    employee_id: int | None = None,
    role: Role | None = None,
    ttl_seconds: int | None = None,
    now: float | None = None,
    auth_time: float | None = None,
) -> str:
    """A signed token; `auth_time` (default: now) says when the subject signed in."""
    if (user_id is None) == (employee_id is None):
        raise ConfigurationError("a token names either a user or an employee")
    if employee_id is not None and role is None:
        raise ConfigurationError("an employee token needs a role")
    issued = int(time.time() if now is None else now)
    ttl = settings.token_ttl_seconds if ttl_seconds is None else ttl_seconds
    if ttl <= 0:
        raise ConfigurationError("token TTL must be a positive number of seconds")
    payload: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "iat": issued,
        "exp": issued + ttl,
        "sub": f"user:{user_id}" if user_id is not None else f"employee:{employee_id}",
        "auth_time": int(issued if auth_time is None else auth_time),
    }
    if role is not None:
        payload["role"] = role.value
    return jwt.encode(payload, _signing_key(settings), algorithm=settings.jwt_algorithm)


def verify_token(settings: Settings, token: str) -> Claims:
    """Check signature, expiry and shape; raise AuthenticationError with a safe message."""
    try:
        payload = jwt.decode(
            token,
            _verifying_key(settings),
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("token expired") from None
    except jwt.InvalidSignatureError:
        raise AuthenticationError("token signature is invalid") from None
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError(f"token is invalid: {type(exc).__name__}") from None
    return _claims(payload)


def _claims(payload: dict[str, object]) -> Claims:
    sub = payload.get("sub")
    kind, _, raw_id = str(sub).partition(":")
    if not raw_id.isdigit():
        raise AuthenticationError("token subject is malformed")
    auth_time = payload.get("auth_time", payload.get("iat"))
    if not isinstance(auth_time, int) or isinstance(auth_time, bool):
        raise AuthenticationError("token auth_time is malformed")
    if kind == "user":
        return Claims(ViewerKind.USER, int(raw_id), auth_time=auth_time)
    if kind == "employee":
        try:
            role = Role(str(payload.get("role")))
        except ValueError:
            raise AuthenticationError("employee token names no known role") from None
        return Claims(ViewerKind.EMPLOYEE, int(raw_id), role, auth_time=auth_time)
    raise AuthenticationError("token subject is malformed")


def parse_authorization(header: str | None) -> str | None:
    if header is None or header.strip() == "":
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization header must be 'Bearer <token>'")
    return token.strip()


def parse_purpose(header: str | None) -> Purpose:
    if header is None or header.strip() == "":
        raise PurposeError(
            "employees must name a processing purpose in X-Processing-Purpose "
            f"(one of {', '.join(p.value for p in Purpose)})"
        )
    try:
        return Purpose(header.strip().upper())
    except ValueError:
        raise PurposeError(
            f"unknown processing purpose; use one of {', '.join(p.value for p in Purpose)}"
        ) from None


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "HS256":
        return settings.jwt_secret
    if settings.jwt_private_key_file is None:
        raise ConfigurationError(
            "RS256 tokens can only be issued with GATEWAY_JWT_PRIVATE_KEY_FILE set"
        )
    return settings.jwt_private_key_file.read_text()


def _verifying_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "HS256":
        return settings.jwt_secret
    assert settings.jwt_public_key_file is not None
    return settings.jwt_public_key_file.read_text()
