"""the person look-ups' indexes led by the key (email, phone), then the account: plans that do
not depend on statistics

Revision ID: 0014_person_indexes
Revises: 0013_strict_progression
Create Date: 2026-12-05 01:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_person_indexes"
down_revision: str | Sequence[str] | None = "0013_strict_progression"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_leads_email_account", "leads", ["email_normalized", "account_id"])
    op.create_index("ix_leads_phone_account", "leads", ["phone_normalized", "account_id"])
    op.drop_index("ix_leads_account_email", table_name="leads")
    op.drop_index("ix_leads_account_phone", table_name="leads")


def downgrade() -> None:
    op.create_index("ix_leads_account_email", "leads", ["account_id", "email_normalized"])
    op.create_index("ix_leads_account_phone", "leads", ["account_id", "phone_normalized"])
    op.drop_index("ix_leads_email_account", table_name="leads")
    op.drop_index("ix_leads_phone_account", table_name="leads")
