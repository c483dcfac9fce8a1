"""audit events of many subjects: an employee's read of several subjects of one type alike
is one event naming them in `subjects`; `audit_event_subjects` indexes every event's
subjects behind the chain up to `audit_index_head` (filled here from `subject_id` for the
events already written), append-only like the events, and replaces the index on
`audit_events.subject_id`

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_event_subjects is append-only"


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subjects", sa.Text(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_audit_events_subject_id"))
    op.create_table(
        "audit_event_subjects",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "subject_id", name=op.f("pk_audit_event_subjects")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_audit_event_subjects_subject_event",
        "audit_event_subjects",
        ["subject_id", "event_id"],
        unique=False,
    )
    op.execute(
        "INSERT INTO audit_event_subjects (event_id, subject_id) "
        "SELECT id, subject_id FROM audit_events WHERE subject_id IS NOT NULL"
    )
    head = op.create_table(
        "audit_index_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_index_head")),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0}])
    op.execute(
        "UPDATE audit_index_head SET last_id = (SELECT last_id FROM audit_chain_head WHERE id = 1)"
    )
    _append_only()


def downgrade() -> None:
    _drop_append_only()
    op.drop_table("audit_index_head")
    op.drop_index("ix_audit_event_subjects_subject_event", table_name="audit_event_subjects")
    op.drop_table("audit_event_subjects")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_events_subject_id"), ["subject_id"], unique=False
        )
        batch_op.drop_column("subjects")


def _append_only() -> None:
    """As for audit_events (0004): the database refuses UPDATE and DELETE; whoever gets past
    that is caught by `verify`, which checks the index against the chain."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_subjects_no_{verb.lower()} BEFORE {verb} ON "
                f"audit_event_subjects BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_event_subjects_append_only() RETURNS trigger LANGUAGE plpgsql "
        f"AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_event_subjects_append_only BEFORE UPDATE OR DELETE ON "
        "audit_event_subjects FOR EACH ROW EXECUTE FUNCTION audit_event_subjects_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_event_subjects_no_truncate BEFORE TRUNCATE ON audit_event_subjects "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_subjects_append_only()"
    )


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_subjects_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_subjects_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_event_subjects_no_truncate ON audit_event_subjects")
    op.execute("DROP TRIGGER IF EXISTS audit_event_subjects_append_only ON audit_event_subjects")
    op.execute("DROP FUNCTION IF EXISTS audit_event_subjects_append_only()")
