"""A nested list query costs the same number of SQL statements for 10 orders as for 100."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.conftest import Database, employee_token, gql

NESTED = """
query($first: Int!) {
  orders(first: $first) {
    nodes {
      id
      buyer { fullName email orders { id } }
      seller { fullName company { legalName contactPerson { fullName } } }
      items { quantity product { title reviews { rating text author { fullName } } } }
      shipment { recipientName logisticsOperator { fullName } }
      payments { amountCents payer { fullName } }
      invoices { number billingName }
    }
  }
}
"""


@pytest.fixture
def statements(reader: httpx.AsyncClient) -> Iterator[list[str]]:
    engine = reader._transport.app.state.gateway.engine.sync_engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The reads only: the audit trail's write after the response (its chain head is
        # two statements when this process's guess holds, three when another moved it)
        # is one batch per request whatever the rows, and tests/test_audit.py counts it.
        if "audit_" not in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


async def test_statement_count_does_not_grow_with_rows(
    reader: httpx.AsyncClient, db: Database, statements: list[str]
) -> None:
    token = employee_token(db, "dpo")
    counts = {}
    for first in (10, 100):
        statements.clear()
        body = await gql(reader, NESTED, {"first": first}, token=token, purpose="LEGAL")
        assert len(body["data"]["orders"]["nodes"]) == first
        counts[first] = len(statements)
    print(f"\nSQL statements for 10 orders: {counts[10]}, for 100 orders: {counts[100]}")
    # One statement per loader batch and tree level, whatever the row count. Batches of the
    # user loader from neighbouring levels sometimes coalesce (when their awaits resume in
    # the same tick), which saves a statement: so "equal, give or take that one".
    assert abs(counts[100] - counts[10]) <= 1, counts
    assert counts[100] <= 16, counts
