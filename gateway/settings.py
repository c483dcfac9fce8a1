"""The one place that reads `GATEWAY_*` environment variables."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigurationError

DEMO_JWT_SECRET = "demo-secret-change-me-0123456789abcdef"
DEMO_PSEUDONYM_KEY = "demo-pseudonym-key-change-me"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./privacy-gateway.db"

ENVIRONMENTS = ("development", "test", "production")
# Who may introspect the schema, and who gets "Did you mean ...?" in validation errors.
AUDIENCES = ("on", "off", "authenticated")
DEFAULT_RATE_LIMIT = "120/minute"
DEFAULT_RATE_LIMIT_PER_ADDRESS = "600/minute"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
LOG_FORMATS = ("json", "text")


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
    # The DPO console at /console, and Prometheus metrics at /metrics.
    console: bool = True
    metrics: bool = True
    log_level: str = "INFO"
    # Query limits (graphql-armor's defaults); 0 turns a limit off.
    max_query_depth: int = 6
    max_query_aliases: int = 15
    max_query_tokens: int = 1000
    max_field_directives: int = 50
    max_query_cost: int = 5000
    list_cost: int = 10
    max_body_bytes: int = 100_000
    max_batch_operations: int = 1
    execution_timeout_seconds: float = 10.0
    query_cache_size: int = 128
    # None: "authenticated" in production, "on" elsewhere.
    introspection: str | None = None
    field_suggestions: str | None = None
    # Rights: how recent a sign-in must be to change the email or delete the account, and
    # how long a signed export link works.
    reauth_seconds: int = 600
    export_ttl_seconds: int = 900
    # Erasure: days a deletion can still be cancelled before the worker erases; the worker's
    # poll interval, attempts before a job is marked failed, and first retry delay (doubling).
    # PostgreSQL connections each process keeps (and may add under load).
    db_pool_size: int = 10
    db_max_overflow: int = 20
    deletion_grace_days: int = 7
    worker_poll_seconds: float = 5.0
    worker_max_attempts: int = 5
    worker_backoff_seconds: float = 30.0
    # Rate limits in the `limits` notation ("120/minute"), "0" or "off" for none; None: the
    # default, which is off under GATEWAY_ENV=test. Counters shared through Redis under
    # `redis_key_prefix`; X-Forwarded-For and X-Request-Id believed from trusted proxies only.
    rate_limit: str | None = None
    rate_limit_per_address: str | None = None
    redis_key_prefix: str = "privacy-gateway"
    trusted_proxies: tuple[str, ...] = ()
    # Trusted documents: a manifest of the operations platform users and anonymous viewers
    # may run; employees may still send their own unless `..._employees_adhoc` is off.
    trusted_documents: Path | None = None
    trusted_documents_employees_adhoc: bool = True
    # Serving: logs, TLS, CORS and security headers.
    access_log: bool = True
    log_format: str = "json"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    cors_origins: tuple[str, ...] = ()
    security_headers: bool = True

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
            console=env.get("GATEWAY_CONSOLE", "1") not in ("0", "false", "no"),
            metrics=env.get("GATEWAY_METRICS", "1") not in ("0", "false", "no"),
            log_level=env.get("GATEWAY_LOG_LEVEL", "INFO").upper(),
            max_query_depth=_int(env, "GATEWAY_MAX_QUERY_DEPTH", 6),
            max_query_aliases=_int(env, "GATEWAY_MAX_QUERY_ALIASES", 15),
            max_query_tokens=_int(env, "GATEWAY_MAX_QUERY_TOKENS", 1000),
            max_field_directives=_int(env, "GATEWAY_MAX_FIELD_DIRECTIVES", 50),
            max_query_cost=_int(env, "GATEWAY_MAX_QUERY_COST", 5000),
            list_cost=_int(env, "GATEWAY_LIST_COST", 10),
            max_body_bytes=_int(env, "GATEWAY_MAX_BODY_BYTES", 100_000),
            max_batch_operations=_int(env, "GATEWAY_MAX_BATCH_OPERATIONS", 1),
            execution_timeout_seconds=_float(env, "GATEWAY_EXECUTION_TIMEOUT_SECONDS", 10.0),
            query_cache_size=_int(env, "GATEWAY_QUERY_CACHE_SIZE", 128),
            introspection=env.get("GATEWAY_INTROSPECTION") or None,
            field_suggestions=env.get("GATEWAY_FIELD_SUGGESTIONS") or None,
            reauth_seconds=_int(env, "GATEWAY_REAUTH_SECONDS", 600),
            export_ttl_seconds=_int(env, "GATEWAY_EXPORT_TTL_SECONDS", 900),
            db_pool_size=_int(env, "GATEWAY_DB_POOL_SIZE", 10),
            db_max_overflow=_int(env, "GATEWAY_DB_MAX_OVERFLOW", 20),
            deletion_grace_days=_int(env, "GATEWAY_DELETION_GRACE_DAYS", 7),
            worker_poll_seconds=_float(env, "GATEWAY_WORKER_POLL_SECONDS", 5.0),
            worker_max_attempts=_int(env, "GATEWAY_WORKER_MAX_ATTEMPTS", 5),
            worker_backoff_seconds=_float(env, "GATEWAY_WORKER_BACKOFF_SECONDS", 30.0),
            rate_limit=env.get("GATEWAY_RATE_LIMIT") or None,
            rate_limit_per_address=env.get("GATEWAY_RATE_LIMIT_PER_ADDRESS") or None,
            redis_key_prefix=env.get("GATEWAY_REDIS_KEY_PREFIX") or "privacy-gateway",
            trusted_proxies=_list(env, "GATEWAY_TRUSTED_PROXIES"),
            trusted_documents=_path(env, "GATEWAY_TRUSTED_DOCUMENTS"),
            trusted_documents_employees_adhoc=_bool(
                env, "GATEWAY_TRUSTED_DOCUMENTS_EMPLOYEES_ADHOC", True
            ),
            access_log=_bool(env, "GATEWAY_ACCESS_LOG", True),
            log_format=env.get("GATEWAY_LOG_FORMAT", "json").lower(),
            tls_cert_file=_path(env, "GATEWAY_TLS_CERT_FILE"),
            tls_key_file=_path(env, "GATEWAY_TLS_KEY_FILE"),
            cors_origins=_list(env, "GATEWAY_CORS_ORIGINS"),
            security_headers=_bool(env, "GATEWAY_SECURITY_HEADERS", True),
        )
        settings.validate()
        return settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def viewer_rate_limit(self) -> str | None:
        """GATEWAY_RATE_LIMIT in force, or None when off."""
        return _rate(self.rate_limit, DEFAULT_RATE_LIMIT, self.env)

    @property
    def address_rate_limit(self) -> str | None:
        """GATEWAY_RATE_LIMIT_PER_ADDRESS in force, or None when off."""
        return _rate(self.rate_limit_per_address, DEFAULT_RATE_LIMIT_PER_ADDRESS, self.env)

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    def allows(self, audience: str | None, *, anonymous: bool) -> bool:
        """Whether a viewer gets what `introspection` or `field_suggestions` governs."""
        value = audience or ("authenticated" if self.env == "production" else "on")
        return value == "on" or (value == "authenticated" and not anonymous)

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
        self._validate_limits()
        self._validate_serving()
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

    def _validate_limits(self) -> None:
        off_or_more = {
            "GATEWAY_DB_MAX_OVERFLOW": self.db_max_overflow,
            "GATEWAY_MAX_QUERY_DEPTH": self.max_query_depth,
            "GATEWAY_MAX_QUERY_ALIASES": self.max_query_aliases,
            "GATEWAY_MAX_QUERY_TOKENS": self.max_query_tokens,
            "GATEWAY_MAX_FIELD_DIRECTIVES": self.max_field_directives,
            "GATEWAY_MAX_QUERY_COST": self.max_query_cost,
            "GATEWAY_EXECUTION_TIMEOUT_SECONDS": self.execution_timeout_seconds,
            "GATEWAY_QUERY_CACHE_SIZE": self.query_cache_size,
            "GATEWAY_DELETION_GRACE_DAYS": self.deletion_grace_days,
            "GATEWAY_WORKER_POLL_SECONDS": self.worker_poll_seconds,
            "GATEWAY_WORKER_BACKOFF_SECONDS": self.worker_backoff_seconds,
        }
        for name, value in off_or_more.items():
            if value < 0:
                raise ConfigurationError(f"{name} must be 0 (off) or more")
        at_least_one = {
            "GATEWAY_LIST_COST": self.list_cost,
            "GATEWAY_MAX_BODY_BYTES": self.max_body_bytes,
            "GATEWAY_MAX_BATCH_OPERATIONS": self.max_batch_operations,
            "GATEWAY_REAUTH_SECONDS": self.reauth_seconds,
            "GATEWAY_EXPORT_TTL_SECONDS": self.export_ttl_seconds,
            "GATEWAY_DB_POOL_SIZE": self.db_pool_size,
            "GATEWAY_WORKER_MAX_ATTEMPTS": self.worker_max_attempts,
        }
        for name, value in at_least_one.items():
            if value < 1:
                raise ConfigurationError(f"{name} must be at least 1")
        audiences = {
            "GATEWAY_INTROSPECTION": self.introspection,
            "GATEWAY_FIELD_SUGGESTIONS": self.field_suggestions,
        }
        for name, audience in audiences.items():
            if audience is not None and audience not in AUDIENCES:
                raise ConfigurationError(
                    f"{name} must be one of {', '.join(AUDIENCES)}, got {audience!r}"
                )

    def _validate_serving(self) -> None:
        import ipaddress

        import limits

        rates = {
            "GATEWAY_RATE_LIMIT": self.viewer_rate_limit,
            "GATEWAY_RATE_LIMIT_PER_ADDRESS": self.address_rate_limit,
        }
        for name, rate in rates.items():
            if rate is None:
                continue
            try:
                item = limits.parse(rate)
            except ValueError:
                item = None
            if item is None or item.amount < 1:
                raise ConfigurationError(
                    f"{name} must read like 120/minute (or 0 or off), got {rate!r}"
                )
        if self.redis_url is not None and not self.redis_url.startswith(REDIS_SCHEMES):
            raise ConfigurationError(
                "GATEWAY_REDIS_URL must start with redis://, rediss:// or unix://"
            )
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"GATEWAY_TRUSTED_PROXIES lists {proxy!r}, not an IP address or network"
                ) from None
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(
                f"GATEWAY_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                f"got {self.log_format!r}"
            )
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ConfigurationError(
                "set both GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE, or neither"
            )
        files = {
            "GATEWAY_TRUSTED_DOCUMENTS": self.trusted_documents,
            "GATEWAY_TLS_CERT_FILE": self.tls_cert_file,
            "GATEWAY_TLS_KEY_FILE": self.tls_key_file,
        }
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise ConfigurationError(f"{name} {path} is not a readable file")
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ConfigurationError(
                    f"GATEWAY_CORS_ORIGINS lists {origin!r}: an origin is * or scheme://host[:port]"
                )


def _rate(value: str | None, default: str, env: str) -> str | None:
    if value is None:
        value = "off" if env == "test" else default
    value = value.strip()
    return None if value.lower() in ("0", "off") else value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {raw!r}")
    return value
