"""request-log rows and jobs refer to their account, token and lead without foreign keys:
a create no longer checks and share-locks those rows, which every create of an account shares

Revision ID: 0021_log_and_job_keys
Revises: 0020_partial_lead_indexes
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_log_and_job_keys"
down_revision: str | Sequence[str] | None = "0020_partial_lead_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, referred table, on delete)
KEYS = (
    ("request_logs", "fk_request_logs_account_id_accounts", "account_id", "accounts", "CASCADE"),
    ("request_logs", "fk_request_logs_token_id_api_tokens", "token_id", "api_tokens", "CASCADE"),
    ("request_logs", "fk_request_logs_lead_id_leads", "lead_id", "leads", "SET NULL"),
    ("jobs", "fk_jobs_account_id_accounts", "account_id", "accounts", "CASCADE"),
    ("jobs", "fk_jobs_lead_id_leads", "lead_id", "leads", "CASCADE"),
)


def upgrade() -> None:
    for table, name, _column, _referred, _on_delete in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name, column, referred, on_delete in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, referred, [column], ["id"], ondelete=on_delete)
