"""Nothing recoverable (SQLite): after an erasure, none of the erased values is left in the
raw bytes of the database file, its `-wal` or its `-journal`, free pages and the unique
index on email included. Values the plan keeps under a legal hold (invoices, card digits)
and message bodies (Art. 6.4) are kept on purpose, so no canary is planted in them.

PostgreSQL keeps dead tuples until VACUUM reclaims them: docs/operations.md gives the
operator the command; the suite cannot read PostgreSQL's files."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from directives.erasure import PLAN, Action
from gateway.db import models as m
from gateway.db.engine import create_engine, session_factory
from gateway.seed import DEMO_USERS
from resolvers.rights.jobs import erase_next
from tests.conftest import make_database

ERASED_ACTIONS = (Action.ANONYMIZE, Action.DELETE, Action.DETACH)
TEXT = (m.String, m.Text)


def _erased_text_columns() -> dict[str, list[str]]:
    """Text columns whose values the plan wipes or deletes, per table."""
    found: dict[str, list[str]] = {}
    for rule in PLAN:
        if rule.action not in ERASED_ACTIONS:
            continue
        table = m.Base.metadata.tables[rule.table]
        columns = table.columns if rule.columns == ("*",) else [table.c[c] for c in rule.columns]
        for column in columns:
            if column.info.get("personal") and isinstance(column.type, TEXT):
                found.setdefault(rule.table, []).append(column.name)
    return found


OWNERS = {  # how each table's rows name the subject, as plain SQL
    "users": "id = :s",
    "addresses": "user_id = :s",
    "orders": "buyer_id = :s",
    "shipments": "order_id IN (SELECT id FROM orders WHERE buyer_id = :s)",
    "reviews": "author_id = :s",
    "videos": "author_id = :s",
    "comments": "author_id = :s",
    "privacy_requests": "subject_id = :s",
}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_no_erased_value_survives_in_the_files(backend: str, tmp_path: Path) -> None:
    database, drop = await asyncio.to_thread(make_database, backend, str(tmp_path))
    settings = database.settings
    path = Path(make_url(settings.database_url).database or "")
    subject = DEMO_USERS["buyer"]
    engine = create_engine(settings)
    canaries: list[str] = []
    try:
        columns = _erased_text_columns()
        assert set(columns) == set(OWNERS), "every erased table has a canary owner"
        async with engine.begin() as conn:
            for table, names in columns.items():
                sets = []
                for name in names:
                    length = m.Base.metadata.tables[table].c[name].type.length or 60
                    token = "zq" + secrets.token_hex(max(4, min(12, (length - 2) // 2)))
                    canaries.append(token[: max(6, length)])
                    sets.append(f"{name} = :{name}")
                params = dict(zip(names, canaries[-len(names) :], strict=True))
                await conn.execute(
                    text(f"UPDATE {table} SET {', '.join(sets)} WHERE {OWNERS[table]}"),
                    {**params, "s": subject},
                )
            received = datetime.now(UTC) - timedelta(days=settings.deletion_grace_days + 1)
            await conn.execute(
                text("UPDATE users SET deletion_state = 'ERASURE_PENDING' WHERE id = :s"),
                {"s": subject},
            )
            await conn.execute(
                text(
                    "INSERT INTO privacy_requests (subject_id, kind, status, received_at, "
                    "due_at, extended, attempts, open_key) VALUES (:s, 'DELETION', 'RECEIVED', "
                    ":r, :d, false, 0, 'DELETION:')"
                ),
                {
                    "s": subject,
                    "r": received.replace(tzinfo=None),
                    "d": received.replace(tzinfo=None) + timedelta(days=30),
                },
            )
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        before = path.read_bytes()
        assert all(c.encode() in before for c in canaries), "the canaries were written"

        sessions = session_factory(engine)
        while (outcome := await erase_next(sessions, settings, datetime.now(UTC))) is not None:
            assert outcome.done  # every due erasure, the subject's among them
        async with engine.connect() as conn:
            state = await conn.scalar(
                text("SELECT deletion_state FROM users WHERE id = :s"), {"s": subject}
            )
        assert state == "ERASED"
        # Read while the gateway's connections are still open, as a running server's
        # would be: closing the last one would checkpoint the WAL by itself.
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-journal")]
        found = {
            f.name: [c for c in canaries if c.encode() in f.read_bytes()]
            for f in files
            if f.exists()
        }
    finally:
        await engine.dispose()
    assert path.name in found and all(not left for left in found.values()), found
    drop()
