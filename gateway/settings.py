"""The one place that reads `GATEWAY_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigurationError

DEMO_JWT_SECRET = "demo-secret-change-me-0123456789abcdef"
DEMO_PSEUDONYM_KEY = "demo-pseudonym-key-change-me"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./privacy-gateway.db"

ENVIRONMENTS = ("development", "test", "production")


@dataclass(frozen=True)
class Settings:
    """Immutable configuration; build it with `Settings.from_env()` or directly in tests."""

    database_url: str = DEFAULT_DATABASE_URL
    env: str = "development"
    jwt_secret: str = DEMO_JWT_SECRET
    jwt_public_key_file: Path | None = None
    jwt_private_key_file: Path | None = None
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "cistech"
    token_ttl_seconds: int = 3600
    pseudonym_key: str = DEMO_PSEUDONYM_KEY
    mask_memo: int = 65536
    redis_url: str | None = None
    max_page_size: int = 100
    graphiql: bool = True
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        key_file = env.get("GATEWAY_JWT_PUBLIC_KEY_FILE")
        private_file = env.get("GATEWAY_JWT_PRIVATE_KEY_FILE")
        settings = cls(
            database_url=env.get("GATEWAY_DATABASE_URL", DEFAULT_DATABASE_URL),
            env=env.get("GATEWAY_ENV", "development"),
            jwt_secret=env.get("GATEWAY_JWT_SECRET", DEMO_JWT_SECRET),
            jwt_public_key_file=Path(key_file) if key_file else None,
            jwt_private_key_file=Path(private_file) if private_file else None,
            jwt_algorithm="RS256" if key_file else "HS256",
            jwt_issuer=env.get("GATEWAY_JWT_ISSUER", "cistech"),
            token_ttl_seconds=_int(env, "GATEWAY_TOKEN_TTL_SECONDS", 3600),
            pseudonym_key=env.get("GATEWAY_PSEUDONYM_KEY", DEMO_PSEUDONYM_KEY),
            mask_memo=_int(env, "GATEWAY_MASK_MEMO", 65536),
            redis_url=env.get("GATEWAY_REDIS_URL") or None,
            max_page_size=_int(env, "GATEWAY_MAX_PAGE_SIZE", 100),
            graphiql=env.get("GATEWAY_GRAPHIQL", "1") not in ("0", "false", "no"),
            log_level=env.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        )
        settings.validate()
        return settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def validate(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigurationError(
                f"GATEWAY_ENV must be one of {', '.join(ENVIRONMENTS)}, got {self.env!r}"
            )
        if self.max_page_size < 1:
            raise ConfigurationError("GATEWAY_MAX_PAGE_SIZE must be at least 1")
        if not self.pseudonym_key:
            raise ConfigurationError("GATEWAY_PSEUDONYM_KEY must not be empty")
        if self.mask_memo < 0:
            raise ConfigurationError("GATEWAY_MASK_MEMO must be 0 (no memo) or more")
        if self.env == "production":
            if self.jwt_algorithm == "HS256" and self.jwt_secret == DEMO_JWT_SECRET:
                raise ConfigurationError(
                    "refusing to start in production with the demo JWT secret: "
                    "set GATEWAY_JWT_SECRET or GATEWAY_JWT_PUBLIC_KEY_FILE"
                )
            if self.pseudonym_key == DEMO_PSEUDONYM_KEY:
                raise ConfigurationError(
                    "refusing to start in production with the demo pseudonym key: "
                    "set GATEWAY_PSEUDONYM_KEY"
                )
        if self.jwt_algorithm == "HS256" and len(self.jwt_secret) < 32:
            raise ConfigurationError("GATEWAY_JWT_SECRET must be at least 32 characters")
        if self.jwt_public_key_file is not None and not self.jwt_public_key_file.is_file():
            raise ConfigurationError(
                f"GATEWAY_JWT_PUBLIC_KEY_FILE {self.jwt_public_key_file} is not a readable file"
            )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
