"""Redis and PostgreSQL for tests, as DESIGN.md's "Services in tests" says.

A test that needs a service it cannot reach is skipped on a laptop and fails when
XRAYBOT_REQUIRE_SERVICES=1 (as in .ci/run). Each run is isolated: a fresh PostgreSQL
database per session, a unique Redis key prefix per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import redis
from sqlalchemy.engine import URL, make_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://127.0.0.1:5432/test"


def services_required() -> bool:
    return os.environ.get("XRAYBOT_REQUIRE_SERVICES") == "1"


def unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if services_required():
        pytest.fail(f"{message}; XRAYBOT_REQUIRE_SERVICES=1 makes this a failure.")
    pytest.skip(f"{message}; set XRAYBOT_REQUIRE_SERVICES=1 to fail instead.")


def redis_base_url() -> str:
    return os.environ.get("XRAYBOT_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def check_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def new_key_prefix() -> str:
    return f"xraybot-test:{uuid.uuid4().hex[:12]}:"


def postgres_base_url() -> URL:
    return make_url(os.environ.get("XRAYBOT_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))


def _libpq_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database() -> Iterator[URL]:
    """Create a throw-away database next to the configured one, yield its URL, drop it."""
    base = postgres_base_url()
    name = f"xraybot_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(_libpq_dsn(base), autocommit=True, connect_timeout=3)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
