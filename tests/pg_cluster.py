"""A PostgreSQL server of the test's own (bench/pgcluster.py), so a test may stop and restart
it without touching the machine's shared server; skipped where PostgreSQL's server binaries
are missing, unless PostgreSQL is required."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.pgcluster import Cluster, own_cluster, server_bin


@contextmanager
def pg_cluster() -> Iterator[Cluster]:
    if server_bin() is None:
        if os.environ.get("DOORSTEP_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL's server binaries are missing (Debian package postgresql)")
        pytest.skip("PostgreSQL's server binaries are missing")
    with own_cluster() as cluster:
        yield cluster
