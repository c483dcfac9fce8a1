"""Signed download links: `/exports/<request id>?token=<JWT>`.

The token is an HS256 JWT naming the request, the subject and an expiry
GATEWAY_EXPORT_TTL_SECONDS after it was issued. Its key is derived from the gateway's
secrets (the JWT secret and the pseudonym key, at least one of which production refuses
to leave at its demo value) under a label of its own, so a link is never a bearer token
and a bearer token is never a link; the audience claim says the same a second time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from gateway.settings import Settings

AUDIENCE = "cistech:export"
_LABEL = b"cistech export download link v1"


class LinkError(Exception):
    """A link that is malformed, wrongly signed or expired; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Link:
    request_id: int
    subject_id: int
    expires_at: datetime

    def url(self, token: str) -> str:
        return f"/exports/{self.request_id}?token={token}"


def sign(settings: Settings, request_id: int, subject_id: int, now: datetime) -> tuple[str, Link]:
    """A token for downloading one export, and what it grants."""
    issued = int(now.timestamp())
    expires = issued + settings.export_ttl_seconds
    payload = {
        "iss": settings.jwt_issuer,
        "aud": AUDIENCE,
        "sub": f"user:{subject_id}",
        "rid": request_id,
        "iat": issued,
        "exp": expires,
    }
    token = jwt.encode(payload, _key(settings), algorithm="HS256")
    return token, Link(request_id, subject_id, datetime.fromtimestamp(expires, UTC))


def verify(settings: Settings, token: str, now: datetime) -> Link:
    """What a token grants at `now` (the gateway's clock); LinkError if nothing."""
    try:
        payload = jwt.decode(
            token,
            _key(settings),
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=settings.jwt_issuer,
            # Expiry is checked below against the gateway's clock, not the wall clock.
            options={"require": ["exp", "iat", "sub", "rid", "aud", "iss"], "verify_exp": False},
        )
    except jwt.InvalidSignatureError:
        raise LinkError("the download link's signature is invalid") from None
    except jwt.InvalidTokenError:
        raise LinkError("the download link is malformed") from None
    kind, _, raw_id = str(payload["sub"]).partition(":")
    request_id, expires = payload["rid"], payload["exp"]
    if kind != "user" or not raw_id.isascii() or not raw_id.isdigit():
        raise LinkError("the download link is malformed")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (request_id, expires)):
        raise LinkError("the download link is malformed")
    if expires <= now.timestamp():
        raise LinkError("the download link has expired; ask for a new one (requestDataExport)")
    return Link(request_id, int(raw_id), datetime.fromtimestamp(expires, UTC))


def _key(settings: Settings) -> bytes:
    secrets = f"{settings.jwt_secret}\x00{settings.pseudonym_key}".encode()
    return hmac.new(secrets, _LABEL, hashlib.sha256).digest()
