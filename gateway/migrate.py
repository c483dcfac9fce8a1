"""Run Alembic migrations programmatically; no alembic.ini needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from gateway.db.engine import create_engine, ping
from gateway.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Upgrade the configured database; raises DatabaseUnavailable if it does not answer."""
    asyncio.run(_check(settings))
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str = "base") -> None:
    command.downgrade(alembic_config(settings), revision)


async def _check(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await ping(engine)
    finally:
        await engine.dispose()
