"""audit trail and incidents: audit events name their request, type, fields and categories,
their hash no longer unique-indexed (the chain makes it unique); the chain head;
audit_events append-only in the database; incidents' awareness, reporter,
affected selector and subject message; notifications' stage, rule and who recorded them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.db.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
APPEND_ONLY = "audit_events is append-only"


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("entity", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("fields", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("categories", sa.Text(), nullable=True))
        batch_op.drop_constraint("uq_audit_events_hash", type_="unique")
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": GENESIS}])
    _append_only()

    with op.batch_alter_table("security_incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aware_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("reported_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("reported_by", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("affected", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("affected_counts", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("subject_message", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("harm_avoided", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("security_incidents", schema=None) as batch_op:
        batch_op.alter_column("harm_avoided", server_default=None)

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stage", sa.String(length=20), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("rule_reference", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("internal_sla", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("sent_by", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(length=120), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("stage", server_default=None)
        batch_op.alter_column("internal_sla", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("reference")
        batch_op.drop_column("sent_by")
        batch_op.drop_column("internal_sla")
        batch_op.drop_column("rule_reference")
        batch_op.drop_column("stage")
    with op.batch_alter_table("security_incidents", schema=None) as batch_op:
        batch_op.drop_column("harm_avoided")
        batch_op.drop_column("subject_message")
        batch_op.drop_column("affected_counts")
        batch_op.drop_column("affected")
        batch_op.drop_column("reported_by")
        batch_op.drop_column("reported_at")
        batch_op.drop_column("aware_at")
    _drop_append_only()
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_audit_events_hash", ["hash"])
        batch_op.drop_column("categories")
        batch_op.drop_column("fields")
        batch_op.drop_column("entity")
        batch_op.drop_column("request_id")


def _append_only() -> None:
    """The database refuses UPDATE and DELETE of audit events (and, on PostgreSQL,
    TRUNCATE): whoever gets past that (drops the trigger) is caught by the hash chain."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
    )


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
