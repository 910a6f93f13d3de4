"""Plans that do not depend on statistics (issue 14 point 3). This machine's PostgreSQL runs
with autovacuum off, so a new database is never analysed: the create path's look-ups must find
the person through the index of the key they look up, whatever the planner knows, never by
reading the account's leads through another index and filtering them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection, Engine, make_url

from doorstep import migrate
from doorstep.leads import service
from tests.conftest import TEST_URL

pytestmark = pytest.mark.skipif(
    not TEST_URL.startswith("postgresql"), reason="PostgreSQL's planner"
)
LEADS = 20_000


@pytest.fixture(scope="module")
def young() -> Iterator[Engine]:
    """A database of its own, migrated, with many leads of one account and never analysed."""
    url = make_url(TEST_URL).set(database=f"doorstep_plans_{uuid.uuid4().hex[:8]}")
    admin = make_url(TEST_URL).set(drivername="postgresql", database="postgres")
    libpq = admin.render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{url.database}"')
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO accounts (name, created_at) VALUES ('Big', now())"))
            conn.execute(
                text(
                    "INSERT INTO leads (account_id, status_id, stage_id, type, first_name,"
                    " last_name, email, email_normalized, phone, phone_normalized,"
                    " phone_callable, source, is_parent, international, created_at,"
                    " updated_at) SELECT 1, 1, 50, 'sale', 'A', 'B', 'p' || i || '@x.com',"
                    " 'p' || i || '@x.com', '0', '+44791100' || lpad(i::text, 4, '0'), true,"
                    " 'homepage', true, false, now(), now() FROM generate_series(1, :n) i"
                ),
                {"n": LEADS},
            )
            never = conn.scalar(
                text("SELECT last_analyze IS NULL AND last_autoanalyze IS NULL"
                     " FROM pg_stat_user_tables WHERE relname = 'leads'")
            )  # fmt: skip
            assert never, "the leads table was analysed: this test needs a young one"
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')


def plan(engine: Engine, statement: str) -> str:
    with engine.connect() as conn:
        return "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + statement)))


def explain(engine: Engine, statement) -> list[str]:  # type: ignore[no-untyped-def]
    sql = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"EXPLAIN {sql}"))]


def test_the_persons_earliest_lead_is_found_through_the_index_of_each_key(young):
    """The query behind every create's grouping (leads.service._first)."""
    statement = select(service._first).params(
        group_account_id=1, group_email="p7@x.com", group_phone="+447911000007"
    )
    lines = explain(young, statement)
    shown = "\n".join(lines)
    conditions = "\n".join(x for x in lines if "Index Cond:" in x)
    # Each key is an index condition on its own column, not a filter over the account's leads.
    assert "email_normalized" in conditions and "phone_normalized" in conditions, shown
    assert not [x for x in lines if "Filter:" in x and "_normalized" in x], shown


@pytest.mark.parametrize("plans", ["auto", "force_generic_plan"])
def test_the_create_paths_group_function_finds_the_person_through_each_keys_index(young, plans):
    """PostgreSQL's create path looks the person up inside doorstep_person_group() (migration
    0018): its plans, shown by auto_explain for the statements inside the function. PL/pgSQL
    keeps its statements' plans for the session, and PostgreSQL may make them generic (for
    any values) after a few runs: such a plan must find the person through the same
    indexes."""
    url = young.url.set(drivername="postgresql").render_as_string(hide_password=False)
    notices: list[str] = []
    with psycopg.connect(url) as conn:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("LOAD 'auto_explain'")
        for name, value in (
            ("log_min_duration", "0"),
            ("log_nested_statements", "on"),
            ("log_level", "notice"),
        ):
            conn.execute(f"SET auto_explain.{name} = {value}")
        conn.execute(f"SET plan_cache_mode = {plans}")
        parent = conn.execute(
            "SELECT doorstep_person_group(1, 'p7@x.com', '+447911000007', ARRAY[1, 2]::bigint[])"
        ).fetchone()
        conn.rollback()
    assert parent is not None and parent[0] == 7  # p7's lead is its own group's parent
    look_up = "\n".join(n for n in notices if "email_normalized" in n)
    assert "Index Cond: ((email_normalized" in look_up, notices
    assert "Index Cond: ((phone_normalized" in look_up, notices
    assert not [
        line for line in look_up.splitlines() if "Filter:" in line and "_normalized" in line
    ]
    plan = look_up.split("Aggregate", 1)[-1]
    assert ("(email_normalized)::text = $" in plan) == (plans == "force_generic_plan"), look_up


def test_a_workers_claim_reads_only_the_jobs_it_may_claim(young):
    """The claim (jobs/queue.py) reads only the jobs that may be claimed, through their own
    index, however many finished jobs the table keeps and whatever the planner knows."""
    with young.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts,"
                " created_at) SELECT 'lead.event', '{}', CASE WHEN i % 100 = 0 THEN 'pending'"
                " ELSE 'done' END, now() - i * interval '1 s', 1, 8, now()"
                " FROM generate_series(1, :n) i"
            ),
            {"n": LEADS},
        )
    from doorstep.jobs import queue
    from doorstep.models.base import utcnow

    lines = explain(young, queue.claimable(utcnow(), 16, postgresql=True))
    shown = "\n".join(lines)
    assert "ix_jobs_due" in shown and "Seq Scan" not in shown, shown


def test_the_workers_claim_and_take_are_planned_for_each_run(young):
    """As the worker runs them: prepared statements (psycopg prepares a statement once it has
    run five times), for which PostgreSQL may make one generic plan and keep it (forced here
    for the session, as PostgreSQL would choose it), made while the jobs table was small,
    then run again once it holds 20,000 done jobs. Each run is planned for its values and
    the table as it is (queue._claimed): a claim of the other kinds and a take of lead
    events find their jobs through ix_jobs_due and update them by primary key; neither reads
    the done jobs. Before: the generic plan, with the states bound, could not use the partial
    index and read the whole table; and under `make bench` a generic plan made on the young
    table updated the taken jobs through a sequential scan of every job."""
    from doorstep.jobs import queue
    from doorstep.models.base import utcnow

    fill = (
        "INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, created_at)"
        " SELECT :kind, '{}', CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'done' END,"
        " now() - i * interval '1 s', 1, 8, now()"
        " FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) i"
    )

    def add(kind: str, first: int, last: int) -> None:
        with young.begin() as conn:
            conn.execute(text(fill), {"kind": kind, "first": first, "last": last})

    with young.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("DELETE FROM jobs"))
        conn.execute(text("VACUUM jobs"))

    def explaining(conn: Connection) -> None:
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_level = notice",
            "SET plan_cache_mode = force_generic_plan",
        ):
            conn.exec_driver_sql(setting)

    prepared = create_engine(young.url, connect_args={"prepare_threshold": 0})
    try:
        for taking in (False, True):
            kind = "lead.event" if taking else "mail.other"
            add("lead.event", 1, 100)
            add("mail.other", 1, 100)  # one due job of each kind
            stmt = queue._claim_statement(
                True, ("lead.event",) if taking else (), () if taking else ("lead.event",),
                taking=taking,
            )  # fmt: skip
            notices: list[str] = []
            with prepared.connect() as conn:
                raw = conn.connection.driver_connection
                raw.add_notice_handler(lambda d, into=notices: into.append(d.message_primary or ""))
                explaining(conn)
                now = utcnow()
                params = {"now": now, "limit": 16}
                if not taking:
                    params |= {"worker": "plans", "until": now}
                queue._claimed(conn, stmt, **params)  # planned for the small table
                conn.rollback()  # and with it the settings
                add(kind, 101, LEADS)
                notices.clear()
                explaining(conn)
                taken = queue._claimed(conn, stmt, **params)
                conn.rollback()
            shown = "\n".join(n for n in notices if "UPDATE jobs" in n)
            assert len(taken) == 16, shown  # due jobs of the kinds, found and updated
            plan = shown.split("Update on jobs", 1)[-1]
            assert "run_at <= '" in plan and "run_at <= $" not in plan, shown  # this run's
            assert "Seq Scan" not in plan, shown
            assert "ix_jobs_due" in plan, shown
            assert "pk_jobs" in plan, shown  # the UPDATE finds the locked rows by id
    finally:
        prepared.dispose()


def test_the_failed_jobs_are_listed_through_their_index_in_a_generic_plan(young):
    """ "Retry all failed" (the dashboard's and ``doorstep jobs retry``) lists an account's
    failed jobs through the partial ix_jobs_failed, also in a generic plan (forced here; a
    prepared statement may get one), where a bound state could not prove the index applies
    and every job was read."""
    from sqlalchemy.orm import Session

    from doorstep.jobs import queue

    with young.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("DELETE FROM jobs"))
        conn.execute(
            text(
                "INSERT INTO jobs (kind, account_id, payload, state, run_at, attempts,"
                " max_attempts, created_at) SELECT 'lead.event', 1, '{}', CASE WHEN"
                " i % 1000 = 0 THEN 'failed' ELSE 'done' END, now(), 1, 8, now()"
                " FROM generate_series(1, :n) i"
            ),
            {"n": LEADS},
        )
    prepared = create_engine(young.url, connect_args={"prepare_threshold": 0})
    notices: list[str] = []
    try:
        with prepared.connect() as conn:
            raw = conn.connection.driver_connection
            raw.add_notice_handler(lambda d, into=notices: into.append(d.message_primary or ""))
            for setting in (
                "LOAD 'auto_explain'",
                "SET auto_explain.log_min_duration = 0",
                "SET auto_explain.log_level = notice",
                "SET plan_cache_mode = force_generic_plan",
            ):
                conn.exec_driver_sql(setting)
            with Session(bind=conn) as session:
                found = queue.failed_ids(session, 1)
    finally:
        prepared.dispose()
    shown = "\n".join(n for n in notices if "FROM jobs" in n)
    assert len(found) == LEADS // 1000, shown
    assert "account_id = $" in shown, shown  # a generic plan, for any account
    assert "ix_jobs_failed" in shown and "Seq Scan" not in shown, shown


def test_a_group_and_a_linked_lead_are_found_through_their_partial_indexes(young):
    """parent_id and linked_from_lead_id are indexed only where set (migration 0020): most
    leads have neither, so a create adds no entry; the look-ups ("= id") still use them."""
    for column, index in (
        ("parent_id", "ix_leads_parent_id"),
        ("linked_from_lead_id", "ix_leads_linked_from_lead_id"),
    ):
        shown = plan(young, f"SELECT id FROM leads WHERE account_id = 1 AND {column} = 7")
        assert index in shown and "Seq Scan" not in shown, shown
    with young.connect() as conn:
        entries = conn.scalar(
            text("SELECT count(*) FROM leads WHERE parent_id IS NOT NULL")
        )  # the young database's leads are all parents: the index is empty
        size = conn.scalar(text("SELECT pg_relation_size('ix_leads_parent_id')"))
    assert entries == 0 and size <= 2 * 8192  # the metapage and one empty leaf at most


def test_a_creates_log_row_and_job_check_no_shared_row(young):
    """Every create writes a request-log row and a job. As foreign keys, their account,
    token and lead columns made each create check and share-lock those rows (rows every
    create of the account shares, each lock a WAL record); they are plain columns since
    migration 0021. The lead itself keeps its keys."""
    with young.connect() as conn:
        keys = conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'"
                " AND conrelid IN ('request_logs'::regclass, 'jobs'::regclass, 'leads'::regclass)"
            )
        ).all()
    tables = {table for table, _ in keys}
    assert tables == {"leads"}, keys
