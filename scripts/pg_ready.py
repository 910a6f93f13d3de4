"""Exit 0 when the PostgreSQL server of the given URL answers (used by `make test`)."""

import sys

import psycopg

url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
# Connect to the server's maintenance database: the test database may not exist yet.
base = url.rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(base, connect_timeout=3).close()
except Exception as e:
    print(f"PostgreSQL is not reachable at {base}: {e}", file=sys.stderr)
    sys.exit(1)
