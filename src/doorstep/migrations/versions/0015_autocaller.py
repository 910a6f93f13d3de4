"""the autocaller: office_autocallers (per office settings), calls, call_legs and call_callbacks
(replayed provider callbacks are refused)

Revision ID: 0015_autocaller
Revises: 0014_person_indexes
Create Date: 2026-12-05 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from doorstep.models.base import JSONType, UTCDateTime

revision: str = "0015_autocaller"
down_revision: str | Sequence[str] | None = "0014_person_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "office_autocallers",
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("from_number", sa.String(length=20), nullable=True),
        sa.Column("negotiators", JSONType, nullable=False),
        sa.Column("ring_mode", sa.String(length=12), nullable=False),
        sa.Column("ring_seconds", sa.Integer(), nullable=False),
        sa.Column("calling_hours", sa.String(length=255), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_minutes", JSONType, nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_office_autocallers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_office_autocallers_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("office_id", name=op.f("pk_office_autocallers")),
    )
    with op.batch_alter_table("office_autocallers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_office_autocallers_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=10), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("lead_sid", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("from_number", sa.String(length=20), nullable=True),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column("negotiator_number", sa.String(length=20), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("connected_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_calls_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_calls_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_calls_office_id_offices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calls_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("job_id", name=op.f("uq_calls_job_id")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_lead", ["lead_id", "id"], unique=False)
        batch_op.create_index("ix_calls_office_created", ["office_id", "created_at"], unique=False)

    op.create_table(
        "call_callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_call_callbacks_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_callbacks")),
        sa.UniqueConstraint("call_sid", "event", name=op.f("uq_call_callbacks_call_sid")),
    )
    with op.batch_alter_table("call_callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_callbacks_call_id"), ["call_id"], unique=False)

    op.create_table(
        "call_legs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answered_by", sa.String(length=20), nullable=True),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_legs_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_legs")),
    )
    with op.batch_alter_table("call_legs", schema=None) as batch_op:
        batch_op.create_index("ix_call_legs_call", ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_legs_sid"), ["sid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_legs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_legs_sid"))
        batch_op.drop_index("ix_call_legs_call")

    op.drop_table("call_legs")
    with op.batch_alter_table("call_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_callbacks_call_id"))

    op.drop_table("call_callbacks")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_office_created")
        batch_op.drop_index("ix_calls_lead")

    op.drop_table("calls")
    with op.batch_alter_table("office_autocallers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_office_autocallers_account_id"))

    op.drop_table("office_autocallers")
