"""accounts.routing_version: the version of an account's routing table

Revision ID: 0004_routing_version
Revises: 0003_token_usage
Create Date: 2026-11-26 16:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_routing_version"
down_revision: str | Sequence[str] | None = "0003_token_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite adds and drops a column in place; a batch
    # copy of accounts would run into every foreign key that points at it).
    op.add_column(
        "accounts",
        sa.Column("routing_version", sa.BigInteger(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("accounts", "routing_version")
