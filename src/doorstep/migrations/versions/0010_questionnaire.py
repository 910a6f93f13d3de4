"""pre-qualification questionnaires, leads linked by a questionnaire's answers, and the
account setting that keeps such leads on the original office

Revision ID: 0010_questionnaire
Revises: 0009_webhooks
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from doorstep.models.base import UTCDateTime

revision: str = "0010_questionnaire"
down_revision: str | Sequence[str] | None = "0009_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "questionnaires",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=True),
        sa.Column("workflow", sa.String(length=200), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("form", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answers", JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_questionnaires_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_questionnaires_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaires")),
        sa.UniqueConstraint("key", name=op.f("uq_questionnaires_key")),
    )  # fmt: skip
    op.create_index("ix_questionnaires_lead_id", "questionnaires", ["lead_id"])
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("linked_from_lead_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_leads_linked_from_lead_id_leads"),
            "leads",
            ["linked_from_lead_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_leads_linked_from_lead_id", ["linked_from_lead_id"])
    op.add_column(
        "accounts",
        sa.Column(
            "linked_leads_same_office", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.drop_column("accounts", "linked_leads_same_office")
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_linked_from_lead_id")
        batch.drop_constraint(op.f("fk_leads_linked_from_lead_id_leads"), type_="foreignkey")
        batch.drop_column("linked_from_lead_id")
    op.drop_index("ix_questionnaires_lead_id", table_name="questionnaires")
    op.drop_table("questionnaires")
