"""The Alembic history matches the models and runs down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from doorstep.models import Base


def test_the_migrations_match_the_models(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": engine.dialect.name == "sqlite"}
        )
        diff = compare_metadata(ctx, Base.metadata)
    # SQLite cannot hold the accounts -> offices foreign key added after both tables exist
    diff = [d for d in diff if not (d[0] == "add_fk" and d[1].parent.name == "accounts")]
    assert diff == []


def test_the_migrations_run_down_and_up(engine):
    from alembic import command

    from doorstep.migrate import alembic_config

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
