"""Alembic builds exactly the models' schema and takes it apart again, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.db.models import Base
from gateway.migrate import downgrade, upgrade
from gateway.settings import Settings
from tests.conftest import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    url, drop = fresh_database(request.param, str(tmp_path))
    yield Settings(database_url=url, env="test")
    drop()


def _inspect(settings: Settings, look: Callable[[Connection], Any]) -> Any:
    async def run() -> Any:
        engine = create_async_engine(settings.database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _enum_types(conn: Connection) -> set[str]:
    if conn.dialect.name != "postgresql":
        return set()
    return {e["name"] for e in inspect(conn).get_enums()}  # type: ignore[attr-defined]


def test_head_matches_the_models(empty: Settings) -> None:
    upgrade(empty)
    assert _inspect(empty, _tables) >= set(Base.metadata.tables)
    assert _inspect(empty, _differences) == []


def test_downgrade_to_base_and_upgrade_again(empty: Settings) -> None:
    upgrade(empty)
    downgrade(empty, "base")
    assert _inspect(empty, _tables) == {"alembic_version"}
    assert _inspect(empty, _enum_types) == set()

    upgrade(empty)
    assert _inspect(empty, _tables) == set(Base.metadata.tables) | {"alembic_version"}
    assert _inspect(empty, _differences) == []
