"""rights: request targets, rules, history, correction history, one open request per kind

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.db.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("jurisdiction", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("due_rule", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("extended", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("proposed_value", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("open_key", sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_privacy_requests_subject_id"), ["subject_id", "open_key"]
        )
    # The server default only fills existing rows; the model sets it from then on.
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.alter_column("extended", server_default=None)
    op.create_table(
        "privacy_request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_privacy_request_events_request_id_privacy_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request_events")),
    )
    with op.batch_alter_table("privacy_request_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_request_events_request_id"), ["request_id"], unique=False
        )
    op.create_table(
        "correction_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_correction_events_request_id_privacy_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["users.id"], name=op.f("fk_correction_events_subject_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction_events")),
    )
    with op.batch_alter_table("correction_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_correction_events_subject_id"), ["subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("correction_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correction_events_subject_id"))
    op.drop_table("correction_events")
    with op.batch_alter_table("privacy_request_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_request_events_request_id"))
    op.drop_table("privacy_request_events")
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_privacy_requests_subject_id"), type_="unique")
        batch_op.drop_column("open_key")
        batch_op.drop_column("proposed_value")
        batch_op.drop_column("extended")
        batch_op.drop_column("due_rule")
        batch_op.drop_column("jurisdiction")
        batch_op.drop_column("target")
