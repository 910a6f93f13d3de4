"""PostgreSQL: doorstep_person_group(), the person's locks and group look-up that let the
asyncpg create path store a lead in one statement

Revision ID: 0018_person_group
Revises: 0017_user_sessions
Create Date: 2026-12-05 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_person_group"
down_revision: str | Sequence[str] | None = "0017_user_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The lead's group, after the person's locks (leads/create_pg.py). VOLATILE, so that the
# look-up after the locks takes a fresh snapshot: it sees every lead of the person committed
# by a create that held the locks before us, although the statement calling this function
# began before that create committed. Locks are taken in the order given (the caller sorts
# them, as leads.service._lock_person does, and uses the same ids: both paths serialise the
# same person). The look-up is leads.service's: each key through its own index, the account
# checked as "account_id + 0" so that no statistics can make it choose another index.
PERSON_GROUP = """
CREATE FUNCTION doorstep_person_group(
    p_account integer, p_email text, p_phone text, p_locks bigint[]
) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lock_id bigint;
    first_id integer;
    leader record;
BEGIN
    FOREACH lock_id IN ARRAY p_locks LOOP
        PERFORM pg_advisory_xact_lock(lock_id);
    END LOOP;
    SELECT min(id) INTO first_id FROM (
        SELECT id FROM leads WHERE email_normalized = p_email AND account_id + 0 = p_account
        UNION ALL
        SELECT id FROM leads WHERE phone_normalized = p_phone AND account_id + 0 = p_account
    ) AS person;
    IF first_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT id, is_parent, parent_id INTO leader FROM leads WHERE id = first_id;
    IF leader.is_parent OR leader.parent_id IS NULL THEN
        RETURN leader.id;
    END IF;
    RETURN leader.parent_id;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PERSON_GROUP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION doorstep_person_group(integer, text, text, bigint[])")
