"""Prometheus metrics. With several worker processes, ``doorstep serve`` sets
PROMETHEUS_MULTIPROC_DIR so /metrics adds up every process.

They are the operator's: the public app serves them only with the metrics token
(ops/health.py); ``doorstep serve --metrics-port`` serves them on a port of their own."""

from __future__ import annotations

import functools
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

REQUESTS = Counter(
    "doorstep_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "doorstep_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LEADS_CREATED = Counter("doorstep_leads_created_total", "Leads created", ["type", "source"])
# Which way POST /leads went: "async" (asyncpg on the event loop, PostgreSQL) or "thread"
# (SQLAlchemy on a database thread: SQLite, publishable keys, valuations, DOORSTEP_DB_ASYNC off).
CREATE_PATH = Counter("doorstep_lead_create_path_total", "Lead creates by code path", ["path"])
# The async create path admits the requests for one token that arrive together in one
# statement (leads/admission.py): requests / statements is the mean group.
ADMISSION_STATEMENTS = Counter(
    "doorstep_create_admission_statements_total",
    "Admission statements run by the async create path (each for a group of requests)",
)
# ... and stores the creates that are ready together in one transaction (leads/storing.py).
STORE_STATEMENTS = Counter(
    "doorstep_create_store_transactions_total",
    "Transactions that stored the async create path's leads (each for a group of creates)",
)
STORE_CREATES = Counter(
    "doorstep_create_store_creates_total",
    "Creates stored by those transactions",
)
ADMISSION_REQUESTS = Counter(
    "doorstep_create_admission_requests_total",
    "Requests answered by the async create path's admission statements",
)


@functools.lru_cache(maxsize=4096)
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, kept: every request counts itself, and ``labels`` takes a
    lock and checks its values each time (the set of label values is small: methods, route
    templates, status codes, lead types and sources)."""
    return metric.labels(*labels)


def registry() -> CollectorRegistry:
    """This process's metrics, or every worker's when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    return REGISTRY


def render() -> tuple[bytes, str]:
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def serve(host: str, port: int) -> None:
    """The metrics on ``http://host:port/metrics``, from a thread of this process: the server
    itself with one worker, the workers' supervisor with several (it reads their files)."""
    start_http_server(port, addr=host, registry=registry())
