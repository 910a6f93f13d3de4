"""the jobs a worker may claim indexed on their own (pending or running, by due time): finished
jobs no longer sit in the index the claim walks

Revision ID: 0019_jobs_due_index
Revises: 0018_person_group
Create Date: 2026-12-05 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_jobs_due_index"
down_revision: str | Sequence[str] | None = "0018_person_group"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMABLE = sa.text("state IN ('pending', 'running')")
FAILED = sa.text("state = 'failed'")


def upgrade() -> None:
    op.create_index(
        "ix_jobs_due",
        "jobs",
        ["run_at", "id"],
        postgresql_where=CLAIMABLE,
        sqlite_where=CLAIMABLE,
    )
    op.create_index(
        "ix_jobs_failed", "jobs", ["id"], postgresql_where=FAILED, sqlite_where=FAILED
    )
    op.drop_index("ix_jobs_state_run_at", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_state_run_at", "jobs", ["state", "run_at"])
    op.drop_index("ix_jobs_failed", table_name="jobs")
    op.drop_index("ix_jobs_due", table_name="jobs")
