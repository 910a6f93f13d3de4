"""instance_keys: the generated session-signing key, shared by every process

Revision ID: 0005_instance_keys
Revises: 0004_routing_version
Create Date: 2026-12-04 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from doorstep.models.base import UTCDateTime

revision: str = "0005_instance_keys"
down_revision: str | Sequence[str] | None = "0004_routing_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_keys",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_keys")),
    )


def downgrade() -> None:
    op.drop_table("instance_keys")
