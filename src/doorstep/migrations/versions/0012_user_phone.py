"""users' own phone numbers (E.164): "Call this lead" rings the signed-in negotiator

Revision ID: 0012_user_phone
Revises: 0011_website_capture
Create Date: 2026-12-05 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_user_phone"
down_revision: str | Sequence[str] | None = "0011_website_capture"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("phone", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
