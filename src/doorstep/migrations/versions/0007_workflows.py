"""workflows, suppressions, and the offices' contact details and opening hours

Revision ID: 0007_workflows
Revises: 0006_jobs
Create Date: 2026-12-04 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from doorstep.models.base import UTCDateTime

revision: str = "0007_workflows"
down_revision: str | Sequence[str] | None = "0006_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OFFICE_COLUMNS = (
    ("email", 320),
    ("phone", 40),
    ("sender_name", 100),
    ("address", 255),
    ("opening_hours", 255),
)


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("definition", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_workflows_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_workflows_account_id")),
    )
    op.create_index("ix_workflows_account_id", "workflows", ["account_id"])
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_suppressions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_suppressions_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint(
            "account_id", "channel", "address", name=op.f("uq_suppressions_account_id")
        ),
    )
    for name, length in OFFICE_COLUMNS:
        op.add_column("offices", sa.Column(name, sa.String(length=length), nullable=True))


def downgrade() -> None:
    for name, _ in reversed(OFFICE_COLUMNS):
        op.drop_column("offices", name)
    op.drop_table("suppressions")
    op.drop_index("ix_workflows_account_id", table_name="workflows")
    op.drop_table("workflows")
