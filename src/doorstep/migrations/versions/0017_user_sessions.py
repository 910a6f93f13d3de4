"""server-side dashboard sessions, sign-in failures counted per e-mail and client address,
users that can be disabled; the old lock-out columns go

Revision ID: 0017_user_sessions
Revises: 0016_publishable_hash_only
Create Date: 2026-12-05 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from doorstep.models.base import UTCDateTime

revision: str = "0017_user_sessions"
down_revision: str | Sequence[str] | None = "0016_publishable_hash_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )  # fmt: skip
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_key_at", "sign_in_failures", ["key", "at"])
    # Plain ALTER TABLE on both databases: a batch copy of users would run into the foreign
    # keys that point at it (SQLite has had DROP COLUMN since 3.35).
    op.add_column("users", sa.Column("disabled_at", UTCDateTime(), nullable=True))
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")
    op.drop_column("users", "session_version")


def downgrade() -> None:
    op.add_column(
        "users", sa.Column("session_version", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column("users", sa.Column("locked_until", UTCDateTime(), nullable=True))
    op.add_column(
        "users", sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
    )
    op.drop_column("users", "disabled_at")
    op.drop_index("ix_sign_in_failures_key_at", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
