"""website capture: publishable tokens and their origins, per-client-address rate counters,
valuation pages, and an index on every sale's postcode for the address look-up

Revision ID: 0011_website_capture
Revises: 0010_questionnaire
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from doorstep.models.base import UTCDateTime

revision: str = "0011_website_capture"
down_revision: str | Sequence[str] | None = "0010_questionnaire"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (as 0004): a batch copy of api_tokens would run
    # into the foreign keys that point at it.
    op.add_column(
        "api_tokens",
        sa.Column("publishable", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("api_tokens", sa.Column("public_key", sa.String(length=64), nullable=True))
    op.add_column(
        "api_tokens", sa.Column("address_rate_limit_per_minute", sa.Integer(), nullable=True)
    )
    op.create_table(
        "token_origins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"],
            name=op.f("fk_token_origins_token_id_api_tokens"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_origins")),
        sa.UniqueConstraint("token_id", "origin", name=op.f("uq_token_origins_token_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_token_origins_origin"), "token_origins", ["origin"])
    op.create_table(
        "client_rate_counters",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"],
            name=op.f("fk_client_rate_counters_token_id_api_tokens"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "client", "window", name=op.f("pk_client_rate_counters")),
    )  # fmt: skip
    op.create_table(
        "valuation_pages",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("brand_name", sa.String(length=100), nullable=True),
        sa.Column("brand_colour", sa.String(length=7), nullable=False),
        sa.Column("privacy_url", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_valuation_pages_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"],
            name=op.f("fk_valuation_pages_token_id_api_tokens"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_valuation_pages")),
        sa.UniqueConstraint("slug", name=op.f("uq_valuation_pages_slug")),
    )  # fmt: skip
    # The address look-up lists every home sold in a postcode, whatever the sale's category:
    # the eligible-only index cannot serve it. The new index serves the repeat-sale query too.
    op.drop_index(
        "ix_sales_postcode",
        table_name="sales",
        postgresql_where=sa.text("eligible"),
        sqlite_where=sa.text("eligible"),
    )
    op.create_index("ix_sales_postcode_all", "sales", ["postcode"])


def downgrade() -> None:
    op.drop_index("ix_sales_postcode_all", table_name="sales")
    op.create_index(
        "ix_sales_postcode",
        "sales",
        ["postcode"],
        postgresql_where=sa.text("eligible"),
        sqlite_where=sa.text("eligible"),
    )
    op.drop_table("valuation_pages")
    op.drop_table("client_rate_counters")
    op.drop_index(op.f("ix_token_origins_origin"), table_name="token_origins")
    op.drop_table("token_origins")
    op.drop_column("api_tokens", "address_rate_limit_per_minute")
    op.drop_column("api_tokens", "public_key")
    op.drop_column("api_tokens", "publishable")
