"""Settings come from GATEWAY_* in one place; tokens are verified for real with PyJWT."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from directives.taxonomy import Role
from gateway.auth import ViewerKind, issue_token, parse_authorization, parse_purpose, verify_token
from gateway.errors import AuthenticationError, ConfigurationError, PurposeError
from gateway.settings import DEMO_JWT_SECRET, Settings


def test_defaults_and_overrides() -> None:
    settings = Settings.from_env({"GATEWAY_MAX_PAGE_SIZE": "7", "GATEWAY_ENV": "test"})
    assert settings.max_page_size == 7
    assert settings.is_sqlite
    assert settings.mask_memo == 65536
    assert Settings.from_env({"GATEWAY_MASK_MEMO": "0"}).mask_memo == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GATEWAY_ENV": "production"}, "demo JWT secret"),
        ({"GATEWAY_ENV": "staging"}, "GATEWAY_ENV must be one of"),
        ({"GATEWAY_MAX_PAGE_SIZE": "lots"}, "must be an integer"),
        ({"GATEWAY_MASK_MEMO": "-1"}, "GATEWAY_MASK_MEMO must be 0"),
        ({"GATEWAY_PSEUDONYM_KEY": ""}, "GATEWAY_PSEUDONYM_KEY must not be empty"),
        ({"GATEWAY_JWT_SECRET": "short"}, "at least 32 characters"),
        ({"GATEWAY_JWT_PUBLIC_KEY_FILE": "/nonexistent.pem"}, "not a readable file"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_production_starts_with_real_secrets() -> None:
    settings = Settings.from_env(
        {
            "GATEWAY_ENV": "production",
            "GATEWAY_JWT_SECRET": "x" * 40,
            "GATEWAY_PSEUDONYM_KEY": "k" * 40,
        }
    )
    assert settings.env == "production"


def test_hs256_round_trip() -> None:
    settings = Settings()
    claims = verify_token(settings, issue_token(settings, employee_id=3, role=Role.DPO))
    assert (claims.kind, claims.subject_id, claims.role) == (ViewerKind.EMPLOYEE, 3, Role.DPO)


@pytest.mark.parametrize(
    ("token_of", "message"),
    [
        (lambda s: issue_token(s, user_id=1, now=time.time() - 7200, ttl_seconds=60), "expired"),
        (lambda s: issue_token(Settings(jwt_secret="y" * 40), user_id=1), "signature"),
        (lambda s: "not.a.jwt", "invalid"),
        (
            lambda s: jwt.encode(
                {"sub": "user:1", "iss": "cistech", "iat": 1, "exp": 2**40},
                "z" * 64,
                algorithm="HS384",
            ),
            "invalid",
        ),
        (
            lambda s: jwt.encode(
                {"sub": "robot:1", "iss": "cistech", "iat": 1, "exp": 2**40}, DEMO_JWT_SECRET
            ),
            "malformed",
        ),
        (
            lambda s: jwt.encode(
                {"sub": "employee:1", "role": "CEO", "iss": "cistech", "iat": 1, "exp": 2**40},
                DEMO_JWT_SECRET,
            ),
            "role",
        ),
    ],
)
def test_bad_tokens_are_refused(token_of, message: str) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    with pytest.raises(AuthenticationError, match=message):
        verify_token(settings, token_of(settings))


def test_rs256_with_key_files(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "private.pem"
    public = tmp_path / "public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = Settings.from_env(
        {"GATEWAY_JWT_PUBLIC_KEY_FILE": str(public), "GATEWAY_JWT_PRIVATE_KEY_FILE": str(private)}
    )
    assert settings.jwt_algorithm == "RS256"
    assert verify_token(settings, issue_token(settings, user_id=5)).subject_id == 5
    forged = jwt.encode({"sub": "user:5", "iss": "cistech", "iat": 1, "exp": 2**40}, "x" * 40)
    with pytest.raises(AuthenticationError):
        verify_token(settings, forged)


def test_headers() -> None:
    assert parse_authorization(None) is None
    assert parse_authorization("Bearer abc") == "abc"
    with pytest.raises(AuthenticationError):
        parse_authorization("Basic abc")
    assert parse_purpose("billing").value == "BILLING"
    with pytest.raises(PurposeError, match="must name a processing purpose"):
        parse_purpose(None)
    with pytest.raises(PurposeError, match="unknown processing purpose"):
        parse_purpose("MARKETING")
