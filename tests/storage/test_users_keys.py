"""User settings, wrapped data keys and key rotation on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import services
from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.services.users import UserService
from xraybot.storage import migrate, tables
from xraybot.storage.db import engine_from_url
from xraybot.storage.users import SqlUserRepository, user_keys, user_settings
from xraybot.users.credentials import ApiCredentials, new_master_key
from xraybot.users.envelope import MasterKeyring, master_key_id
from xraybot.users.redaction import Redactor
from xraybot.users.settings import UserSettings

PLAIN = ApiCredentials("sim-demo-key", "sim-demo-secret")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A journal at head; plain fixture so the blocking upgrade runs outside the loop."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite3'}"
        migrate.upgrade(url)
        yield url
        return
    request.getfixturevalue("postgres_url")  # skips when PostgreSQL is unavailable
    # A database of its own: a rotation walks every user's key, other tests' included.
    with services.fresh_postgres_database() as pg:
        url = pg.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    built = engine_from_url(database_url)
    try:
        yield built
    finally:
        await built.dispose()


def service(engine: AsyncEngine, master: str, previous: str | None = None) -> UserService:
    redactor = Redactor()
    keyring = MasterKeyring(master, redactor, previous=previous)
    return UserService(SqlUserRepository(engine), redactor, keyring, clock=lambda: 1_000)


def uid() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


async def test_add_view_set_and_remove_round_trip(engine: AsyncEngine) -> None:
    users = service(engine, new_master_key())
    user = uid()
    view = await users.add(user, "Alice", UserSettings(), PLAIN, check=None)

    assert view.key_mask == "sim-…key"
    shown = await users.view(user)
    assert shown.settings == UserSettings()
    assert shown.key_mask == "sim-…key"
    assert await users.credentials(user) == PLAIN

    changed = UserSettings(mode="live", exchange="mexc", trade_fraction=0.25)
    await users.set(user, changed)
    after = await users.view(user)
    assert after.settings == changed
    assert after.profile.mode.value == "live"
    assert after.profile.exchange == "mexc"

    await users.set_active(user, False)
    assert not (await users.view(user)).profile.active
    await users.remove(user)
    with pytest.raises(InvalidInputError, match=user):
        await users.view(user)
    assert await SqlUserRepository(engine).get_key(user) is None


async def test_secrets_are_stored_only_as_ciphertext(engine: AsyncEngine) -> None:
    users = service(engine, new_master_key())
    user = uid()
    await users.add(user, "Bob", UserSettings(), PLAIN, check=None)

    async with engine.connect() as connection:
        for table in (tables.users, tables.credentials, user_keys, user_settings):
            rows = (await connection.execute(sa.select(table).where(table.c.user_id == user))).all()
            text = repr(rows)
            assert rows
            assert "sim-demo-secret" not in text
            assert "sim-demo-key" not in text


async def test_a_duplicate_add_stores_nothing_new(engine: AsyncEngine) -> None:
    users = service(engine, new_master_key())
    user = uid()
    await users.add(user, "C", UserSettings(), None, check=None)
    with pytest.raises(InvalidInputError, match=user):
        await users.add(user, "C2", UserSettings(), PLAIN, check=None)
    assert (await users.view(user)).key_mask is None


async def test_rotation_rewraps_every_key_and_the_old_master_is_no_longer_needed(
    engine: AsyncEngine,
) -> None:
    old, new = new_master_key(), new_master_key()
    ids = [uid() for _ in range(3)]
    for user in ids:
        await service(engine, old).add(user, user, UserSettings(), PLAIN, check=None)
    async with engine.connect() as connection:
        before = dict(
            (
                await connection.execute(sa.text("SELECT user_id, api_key_token FROM credentials"))
            ).all()
        )

    report = await service(engine, new, previous=old).rotate()

    assert set(ids) <= set(report.rewrapped)
    assert report.remaining == 0
    for user in ids:
        assert await service(engine, new).credentials(user) == PLAIN
        with pytest.raises(ConfigError, match="unwrap"):
            await service(engine, old).credentials(user)
    async with engine.connect() as connection:
        after = dict(
            (
                await connection.execute(sa.text("SELECT user_id, api_key_token FROM credentials"))
            ).all()
        )
    assert {u: bytes(after[u]) for u in ids} == {u: bytes(before[u]) for u in ids}


async def test_a_half_done_rotation_resumes(engine: AsyncEngine) -> None:
    old, new = new_master_key(), new_master_key()
    ids = [uid() for _ in range(4)]
    for user in ids:
        await service(engine, old).add(user, user, UserSettings(), PLAIN, check=None)
    # A rotation that stopped after two users: re-wrap them by hand, as it would have.
    repo, ring = SqlUserRepository(engine), MasterKeyring(new, Redactor(), previous=old)
    for user in ids[:2]:
        key = await repo.get_key(user)
        assert key is not None
        new_wrapped = ring.rewrap(key.wrapped_key, user)
        assert await repo.rewrap_key(user, key.wrapped_key, new_wrapped, ring.key_id, 2_000)
    # Mixed state: both keys must be configured and every user still opens.
    during = service(engine, new, previous=old)
    for user in ids:
        assert await during.credentials(user) == PLAIN

    report = await during.rotate()

    assert set(ids[2:]) <= set(report.rewrapped)
    assert not set(ids[:2]) & set(report.rewrapped)
    assert report.remaining == 0
    async with engine.connect() as connection:
        stale = (
            await connection.execute(
                sa.select(sa.func.count())
                .select_from(user_keys)
                .where(user_keys.c.master_key_id == master_key_id(old))
            )
        ).scalar_one()
    assert stale == 0
    for user in ids:
        assert await service(engine, new).credentials(user) == PLAIN


async def test_a_stale_compare_and_swap_loses(engine: AsyncEngine) -> None:
    master = new_master_key()
    user = uid()
    await service(engine, master).add(user, user, UserSettings(), PLAIN, check=None)
    repo = SqlUserRepository(engine)
    assert not await repo.rewrap_key(user, b"not-the-stored-key", b"x", "id", 1)


async def test_a_key_under_an_unknown_master_is_reported_not_fatal(engine: AsyncEngine) -> None:
    stranger, mine = uid(), uid()
    await service(engine, new_master_key()).add(stranger, "s", UserSettings(), PLAIN, check=None)
    old, new = new_master_key(), new_master_key()
    await service(engine, old).add(mine, "m", UserSettings(), PLAIN, check=None)

    report = await service(engine, new, previous=old).rotate()

    assert report.unreadable == (stranger,)
    assert report.rewrapped == (mine,)
    assert report.remaining == 1
