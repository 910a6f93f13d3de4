"""The key that signs dashboard sessions: never one printed in the source, generated and kept
in the database when the operator sets none, long enough, and rolled on demand."""

from __future__ import annotations

import os
import stat

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select
from typer.testing import CliRunner

from doorstep.auth import keys
from doorstep.cli import app as cli
from doorstep.config import Settings, get_settings
from doorstep.models import InstanceKey
from tests.factories import make_user, sign_in

runner = CliRunner()


def _forge(key: str, user_id: int, version: int = 1) -> str:
    return URLSafeTimedSerializer(key, salt="doorstep.session").dumps({"u": user_id, "v": version})


def _stored(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(InstanceKey.value)))


def test_a_cookie_signed_with_the_old_source_key_opens_nothing(client, owner):
    user = make_user(owner.account_id, role="admin")
    client.cookies.set("doorstep_session", _forge("development-only-secret-key", user.id))
    r = client.get("/developer", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_with_no_key_set_a_random_one_is_generated_once_and_kept(engine, monkeypatch):
    monkeypatch.delenv("DOORSTEP_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    first = keys.load(engine)
    assert len(first) >= 64 and _stored(engine) == [first]
    # The next start, and every other process, finds the same key in the database.
    keys._current = None
    assert keys.load(engine) == first and keys.current() == first


def test_the_generated_key_signs_sessions_that_survive_a_restart(app, client, owner):
    user = make_user(owner.account_id)
    sign_in(client, user)
    keys._current = None  # a new process
    from doorstep.app import create_app

    create_app()
    assert client.get("/leads", follow_redirects=False).status_code == 200


def test_a_key_set_by_the_operator_is_used_and_nothing_is_stored(engine, monkeypatch):
    key = "k" * 40
    monkeypatch.setenv("DOORSTEP_SECRET_KEY", key)
    get_settings.cache_clear()
    try:
        assert keys.load(engine) == key
        assert _stored(engine) == []
    finally:
        monkeypatch.delenv("DOORSTEP_SECRET_KEY")
        get_settings.cache_clear()
        keys.load(engine)


@pytest.mark.parametrize("key", ["short", "x" * 31, "é" * 15])
def test_keys_shorter_than_32_bytes_are_refused(key):
    with pytest.raises(RuntimeError, match="at least 32 bytes"):
        Settings(secret_key=key).check()


def test_a_32_byte_key_is_accepted():
    Settings(secret_key="é" * 16).check()


@pytest.mark.parametrize("name", ["Production", " PRODUCTION ", "production"])
def test_environment_names_are_compared_case_insensitively(name):
    settings = Settings(environment=name)
    assert settings.is_production
    settings.check()


@pytest.mark.parametrize("name", ["prod", "staging", "live", ""])
def test_unknown_environment_names_are_refused(name):
    with pytest.raises(RuntimeError, match="DOORSTEP_ENVIRONMENT must be one of"):
        Settings(environment=name).check()


@pytest.fixture
def invoke(monkeypatch):
    """Run a command with these environment variables; `serve --production` sets
    DOORSTEP_ENVIRONMENT itself, so it is put back too."""

    def run(args: list[str], **env: str):
        monkeypatch.setenv("DOORSTEP_ENVIRONMENT", env.pop("DOORSTEP_ENVIRONMENT", "development"))
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        return runner.invoke(cli, args)

    yield run
    monkeypatch.undo()
    get_settings.cache_clear()


def test_serve_refuses_an_unknown_environment(engine, invoke):
    r = invoke(["serve"], DOORSTEP_ENVIRONMENT="prod")
    assert r.exit_code == 1 and "DOORSTEP_ENVIRONMENT must be one of" in r.stderr


def test_every_command_refuses_a_short_key(engine, invoke):
    r = invoke(["tokens", "list", "--account", "1"], DOORSTEP_SECRET_KEY="too-short")
    assert r.exit_code == 1 and "at least 32 bytes" in r.stderr
    r = invoke(["serve", "--production"], DOORSTEP_SECRET_KEY="too-short")
    assert r.exit_code == 1 and "at least 32 bytes" in r.stderr


def test_production_with_no_key_signs_with_the_generated_one(engine, monkeypatch):
    monkeypatch.delenv("DOORSTEP_SECRET_KEY", raising=False)
    monkeypatch.setenv("DOORSTEP_ENVIRONMENT", "production")
    get_settings.cache_clear()
    try:
        get_settings().check()
        key = keys.load(engine)
        assert key and _stored(engine) == [key]
    finally:
        monkeypatch.delenv("DOORSTEP_ENVIRONMENT")
        get_settings.cache_clear()


def test_rotating_the_key_ends_every_session(app, client, owner, engine):
    user = make_user(owner.account_id)
    sign_in(client, user)
    before = _stored(engine)
    r = runner.invoke(cli, ["keys", "rotate", "--json"])
    assert r.exit_code == 0, r.output
    after = _stored(engine)
    assert after != before and len(after) == 1
    from doorstep.app import create_app

    create_app()  # the servers restart
    r = client.get("/leads", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    sign_in(client, user)
    assert client.get("/leads").status_code == 200


def test_rotation_refuses_when_the_key_comes_from_the_environment(engine, invoke):
    r = invoke(["keys", "rotate", "--json"], DOORSTEP_SECRET_KEY="y" * 40)
    assert r.exit_code == 1 and "DOORSTEP_SECRET_KEY" in r.stderr


def test_the_sqlite_database_holding_the_key_is_readable_only_by_its_owner(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps its files itself")
    keys.load(engine)
    mode = stat.S_IMODE(os.stat(engine.url.database).st_mode)
    assert mode & 0o077 == 0, oct(mode)
