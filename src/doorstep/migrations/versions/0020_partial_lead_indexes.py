"""a lead's parent and linked-from indexes hold only the leads that have one: most have
neither, so a create no longer adds an entry to either

Revision ID: 0020_partial_lead_indexes
Revises: 0019_jobs_due_index
Create Date: 2026-12-05 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_partial_lead_indexes"
down_revision: str | Sequence[str] | None = "0019_jobs_due_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every look-up is "column = id", which PostgreSQL and SQLite both answer from these.
PARTIAL = (
    ("ix_leads_parent_id", "parent_id"),
    ("ix_leads_linked_from_lead_id", "linked_from_lead_id"),
)


def upgrade() -> None:
    for name, column in PARTIAL:
        op.drop_index(name, table_name="leads")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "leads", [column], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, column in PARTIAL:
        op.drop_index(name, table_name="leads")
        op.create_index(name, "leads", [column])
