"""publishable tokens stored only as a hash, as every token (CONTRACT.md): the readable copy
goes; keys already handed out keep working by their hash

Revision ID: 0016_publishable_hash_only
Revises: 0015_autocaller
Create Date: 2026-12-05 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_publishable_hash_only"
down_revision: str | Sequence[str] | None = "0015_autocaller"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (as 0011): a batch copy of api_tokens would run into
    # the foreign keys that point at it. SQLite has had DROP COLUMN since 3.35.
    op.drop_column("api_tokens", "public_key")


def downgrade() -> None:
    # The readable keys are gone for good: a downgrade leaves the column empty.
    op.add_column("api_tokens", sa.Column("public_key", sa.String(length=64), nullable=True))
