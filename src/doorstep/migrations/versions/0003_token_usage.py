"""token usage totals

Revision ID: 0003_token_usage
Revises: 0002_valuation
Create Date: 2026-11-26 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import doorstep.models.base

revision: str = "0003_token_usage"
down_revision: str | Sequence[str] | None = "0002_valuation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_usage",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("last_log_id", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("last_used_at", doorstep.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_token_usage_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_token_usage")),
    )


def downgrade() -> None:
    op.drop_table("token_usage")
