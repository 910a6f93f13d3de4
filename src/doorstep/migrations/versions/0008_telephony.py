"""telephony_settings: an account's text (and call) provider and its credentials

Revision ID: 0008_telephony
Revises: 0007_workflows
Create Date: 2026-12-04 21:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from doorstep.models.base import UTCDateTime

revision: str = "0008_telephony"
down_revision: str | Sequence[str] | None = "0007_workflows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telephony_settings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=10), nullable=False),
        sa.Column("account_sid", sa.String(length=40), nullable=True),
        sa.Column("auth_token", sa.String(length=80), nullable=True),
        sa.Column("sms_from", sa.String(length=40), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_telephony_settings_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_telephony_settings")),
    )


def downgrade() -> None:
    op.drop_table("telephony_settings")
