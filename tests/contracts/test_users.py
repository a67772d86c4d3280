"""User repository contract: memory, SQLite and PostgreSQL behave alike."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from tests.contracts.builders import (
    T0,
    D,
    new_user_id,
)
from tests.contracts.conftest import Backend
from xraybot.model import (
    StoredCredentials,
    TradingMode,
    UserLimits,
    UserProfile,
)
from xraybot.model.errors import InvalidInputError

# -- users and credentials ---------------------------------------------------------------


def make_user(user_id: str, **changes: Any) -> UserProfile:
    profile = UserProfile(
        user_id=user_id,
        name=f"User {user_id}",
        created_ts_ms=T0,
        email=f"{user_id}@example.org",
        limits=UserLimits(max_position_quote=D("1234.5678"), max_daily_loss_quote=D("0.1")),
    )
    return dataclasses.replace(profile, **changes)


async def test_users_add_get_list_and_update(backend: Backend) -> None:
    prefix = new_user_id()
    carol, alice, bob = (make_user(f"{prefix}-{n}") for n in ("c", "a", "b"))
    bob = dataclasses.replace(bob, active=False, telegram_chat_id="-100123")
    for profile in (carol, alice, bob):
        await backend.users.add(profile)

    mine = [u for u in await backend.users.list() if u.user_id.startswith(prefix)]
    active = [u for u in await backend.users.list(active_only=True) if u.user_id.startswith(prefix)]
    assert await backend.users.get(alice.user_id) == alice
    assert await backend.users.get(f"{prefix}-nobody") is None
    assert mine == [alice, bob, carol]
    assert active == [alice, carol]

    changed = dataclasses.replace(
        alice,
        name="Alice L.",
        mode=TradingMode.LIVE,
        email=None,
        limits=UserLimits(max_open_positions=2, max_leverage=10, max_position_quote=D("0.001")),
    )
    await backend.users.update(changed)
    assert await backend.users.get(alice.user_id) == changed


async def test_a_duplicate_user_is_refused_by_name(backend: Backend) -> None:
    profile = make_user(new_user_id())
    await backend.users.add(profile)

    with pytest.raises(InvalidInputError, match=profile.user_id):
        await backend.users.add(dataclasses.replace(profile, name="Impostor"))
    assert await backend.users.get(profile.user_id) == profile


async def test_updating_an_unknown_user_is_refused(backend: Backend) -> None:
    profile = make_user(new_user_id())

    with pytest.raises(InvalidInputError, match=profile.user_id):
        await backend.users.update(profile)
    assert await backend.users.get(profile.user_id) is None


def make_credentials(user_id: str, exchange: str, seed: bytes) -> StoredCredentials:
    return StoredCredentials(
        user_id=user_id,
        exchange=exchange,
        api_key_token=seed + bytes(range(256)),
        secret_token=os.urandom(97),
        passphrase_token=None,
        key_hint="x9Q2",
        created_ts_ms=T0,
    )


async def test_credentials_round_trip_byte_for_byte(backend: Backend) -> None:
    user = make_user(new_user_id())
    await backend.users.add(user)
    mexc = make_credentials(user.user_id, "mexc", b"\x00\xff")
    binance = make_credentials(user.user_id, "binance", b"\x80")

    await backend.users.set_credentials(mexc)
    await backend.users.set_credentials(binance)
    stored = await backend.users.get_credentials(user.user_id, "mexc")
    assert stored == mexc
    assert stored is not None
    assert type(stored.api_key_token) is bytes

    rotated = dataclasses.replace(mexc, secret_token=os.urandom(64), passphrase_token=b"\x00p")
    await backend.users.set_credentials(rotated)
    assert await backend.users.get_credentials(user.user_id, "mexc") == rotated
    assert await backend.users.get_credentials(user.user_id, "binance") == binance
    assert await backend.users.get_credentials(user.user_id, "kucoin") is None


async def test_credentials_need_an_existing_user(backend: Backend) -> None:
    creds = make_credentials(new_user_id(), "mexc", b"")

    with pytest.raises(InvalidInputError, match=creds.user_id):
        await backend.users.set_credentials(creds)
    assert await backend.users.get_credentials(creds.user_id, "mexc") is None
