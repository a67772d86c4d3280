from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from sqlalchemy.engine import URL

from tests.support import services

# The suite (and CI) replays the same examples every run, so a result depends on the code and
# not on the draw: a property that fails, fails every time, and a green run stays green.
# Hunting for new counterexamples is its own step: HYPOTHESIS_PROFILE=explore draws fresh
# ones each run (see docs/architecture.md, "Testing").
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def private_user_folders(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defaults (the journal, the candle store, config files) resolve under the user's home
    # through platformdirs: no test may read or write the real ones.
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = services.redis_base_url()
    try:
        services.check_redis(url)
    except Exception as e:  # any failure to reach it: connection, auth, DNS
        services.unavailable(f"Redis at {url}", e)
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = services.new_key_prefix()
    yield prefix
    services.delete_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[URL]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    try:
        manager = services.fresh_postgres_database()
        url = manager.__enter__()
    except Exception as e:
        services.unavailable(f"PostgreSQL at {services.postgres_base_url()!r}", e)
    try:
        yield url
    finally:
        manager.__exit__(None, None, None)
