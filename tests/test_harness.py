"""The test harness itself: real services, isolated per run, and local servers that stop."""

from __future__ import annotations

import socket

import httpx
import psycopg
import pytest
import redis
from sqlalchemy.engine import URL
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support import services
from tests.support.servers import free_port, serve_asgi


def test_redis_is_real_and_prefixes_isolate(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{redis_prefix}probe", b"1", ex=60)
        assert client.get(f"{redis_prefix}probe") == b"1"
        assert redis_prefix != services.new_key_prefix()
    finally:
        client.close()


def test_prefix_keys_are_deleted_afterwards(redis_url: str) -> None:
    prefix = services.new_key_prefix()
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{prefix}a", b"1")
        client.set(f"{prefix}b", b"2")
        services.delete_prefix(redis_url, prefix)
        assert list(client.scan_iter(match=f"{prefix}*")) == []
    finally:
        client.close()


def test_postgres_session_database_is_fresh_and_separate(postgres_url: URL) -> None:
    assert postgres_url.database is not None
    assert postgres_url.database.startswith("xraybot_test_")
    dsn = postgres_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        assert connection.execute("select current_database()").fetchone() == (
            postgres_url.database,
        )


def test_a_fresh_database_is_dropped_on_exit(postgres_url: URL) -> None:
    with services.fresh_postgres_database() as url:
        name = url.database
    base = services.postgres_base_url()
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("select 1 from pg_database where datname = %s", (name,))
        assert rows.fetchone() is None


def test_an_unreachable_service_fails_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XRAYBOT_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="XRAYBOT_REQUIRE_SERVICES=1"):
        services.unavailable("Redis at redis://127.0.0.1:1", ConnectionError("refused"))
    monkeypatch.setenv("XRAYBOT_REQUIRE_SERVICES", "0")
    with pytest.raises(pytest.skip.Exception):
        services.unavailable("Redis at redis://127.0.0.1:1", ConnectionError("refused"))


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"path": request.url.path, "q": dict(request.query_params)})


def test_a_local_server_serves_on_loopback_and_stops() -> None:
    app = Starlette(routes=[Route("/echo", echo)])
    with serve_asgi(app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        response = httpx.get(f"{base_url}/echo", params={"a": "1"}, timeout=5)
        assert response.json() == {"path": "/echo", "q": {"a": "1"}}
        port = int(base_url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.settimeout(2)
        with pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
