"""The user registry: add users with checked, envelope-encrypted keys; settings; key rotation.

Plain API keys exist only in memory while they are checked and sealed; what leaves this
module (views, reports, errors) carries the masked key at most.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from xraybot.exchange.config import ExchangeConfig
from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.model.market import MarketKind
from xraybot.model.users import TradingMode, UserLimits, UserProfile
from xraybot.storage.users import SqlUserRepository, WrappedKey
from xraybot.users.config import UsersConfig
from xraybot.users.credentials import ApiCredentials
from xraybot.users.envelope import EnvelopeVault, MasterKeyring
from xraybot.users.redaction import Redactor
from xraybot.users.settings import UserSettings

CredentialCheck = Callable[[str, str, str, ApiCredentials], Awaitable[None]]


def now_ms() -> int:
    return int(time.time() * 1000)


def keyring_from(config: UsersConfig, redactor: Redactor) -> MasterKeyring:
    """Build the master keyring from the configuration; say how to set a key if none is."""
    master = config.resolved_master_key()
    if master is None:
        raise ConfigError(
            "users.master_key is not set, so exchange keys cannot be stored or read; create "
            "one with `xraybot config new-master-key` and set XRAYBOT_USERS__MASTER_KEY or "
            "users.master_key_file."
        )
    return MasterKeyring(master, redactor, previous=config.previous_key())


def validate_settings(settings: UserSettings) -> None:
    """Check what ``users`` cannot check itself: the strategy and its parameters, the risk."""
    from xraybot.risk.profile import load_risk_profile, risk_profile_from
    from xraybot.strategy.registry import load_strategy_class

    choice = settings.strategy
    try:
        strategy = load_strategy_class(choice.name)
    except InvalidInputError as e:
        raise InvalidInputError(f"settings.strategy.name: {e}") from None
    try:
        strategy.resolve(choice.params)
    except InvalidInputError as e:
        raise InvalidInputError(f"settings.strategy.params: {e}") from None
    if settings.risk is not None:
        profile = risk_profile_from(settings.risk, where="settings.risk")
    elif settings.risk_file is not None:
        profile = load_risk_profile(settings.risk_file)
    else:
        return
    if profile.market != settings.market:
        raise InvalidInputError(
            f"settings.risk.market must match settings.market ({settings.market}); "
            f"found {profile.market}."
        )


def exchange_check(config: ExchangeConfig) -> CredentialCheck:
    """Return a check that makes a signed read call (the balance) with the keys."""

    async def check(exchange: str, market: str, user_id: str, creds: ApiCredentials) -> None:
        from xraybot.exchange.ccxt_gateway import CcxtGateway
        from xraybot.exchange.quirks import quirks_for
        from xraybot.runtime.exchanges import build_limiter, build_pool

        limiter = build_limiter(config)
        pool = build_pool(config, limiter)
        try:
            client = await pool.private(exchange, user_id, creds)
            gateway = CcxtGateway(client, quirks_for(exchange))
            await gateway.fetch_balance(MarketKind(market))
        finally:
            await pool.close()
            if limiter is not None:
                await limiter.aclose()

    return check


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as shown to people and programs: never a key, only its mask."""

    profile: UserProfile
    settings: UserSettings
    key_mask: str | None
    master_key_id: str | None

    def as_dict(self) -> dict[str, Any]:
        p = self.profile
        return {
            "user_id": p.user_id,
            "name": p.name,
            "active": p.active,
            "mode": p.mode.value,
            "exchange": p.exchange,
            "created_ts_ms": p.created_ts_ms,
            "api_key": self.key_mask,
            "master_key_id": self.master_key_id,
            "settings": self.settings.to_document(),
        }


@dataclass(frozen=True, slots=True)
class RotationReport:
    master_key_id: str
    rewrapped: tuple[str, ...]
    already_current: int
    lost_race: tuple[str, ...]  # changed meanwhile; run the rotation again
    unreadable: tuple[str, ...]  # wrapped by a master key that is not configured
    remaining: int  # data keys still not under the new master key

    def as_dict(self) -> dict[str, Any]:
        return {
            "master_key_id": self.master_key_id,
            "rewrapped": list(self.rewrapped),
            "already_current": self.already_current,
            "lost_race": list(self.lost_race),
            "unreadable": list(self.unreadable),
            "remaining": self.remaining,
        }


def _limits(settings: UserSettings, limits: UserLimits | None = None) -> UserLimits:
    import dataclasses

    return dataclasses.replace(limits or UserLimits(), max_leverage=settings.leverage_cap)


def _view(profile: UserProfile, settings: UserSettings, key: WrappedKey | None) -> UserView:
    if key is None:
        return UserView(profile, settings, None, None)
    return UserView(profile, settings, key.key_mask, key.master_key_id)


class UserService:
    def __init__(
        self,
        repo: SqlUserRepository,
        redactor: Redactor,
        keyring: MasterKeyring | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._repo = repo
        self._redactor = redactor
        self._keyring = keyring
        self._clock = clock

    def _vault(self) -> EnvelopeVault:
        if self._keyring is None:
            raise ConfigError(
                "users.master_key is not set, so exchange keys cannot be stored or read; "
                "create one with `xraybot config new-master-key`."
            )
        return EnvelopeVault(self._keyring, self._redactor)

    async def add(
        self,
        user_id: str,
        name: str,
        settings: UserSettings,
        credentials: ApiCredentials | None,
        check: CredentialCheck | None,
    ) -> UserView:
        """Check the keys with the exchange, then store user, settings and sealed keys at once."""
        if credentials is not None:
            # Before anything can log them: the check's own debug lines carry the key.
            self._redactor.register(credentials.api_key, credentials.secret, credentials.passphrase)
        validate_settings(settings)
        ts = self._clock()
        profile = UserProfile(
            user_id=user_id,
            name=name,
            created_ts_ms=ts,
            exchange=settings.exchange,
            mode=TradingMode(settings.mode),
            limits=_limits(settings),
        )
        if await self._repo.get(user_id) is not None:
            from xraybot.storage.users import duplicate_user

            raise duplicate_user(user_id)
        if settings.mode == "live" and credentials is None:
            raise InvalidInputError(
                f"user {user_id!r} is set to live mode but no exchange keys were given; "
                "add keys, or use mode paper."
            )
        key: WrappedKey | None = None
        stored = None
        if credentials is not None:
            if check is not None:
                await check(settings.exchange, settings.market, user_id, credentials)
            sealed = self._vault().seal(user_id, settings.exchange, credentials, ts)
            key = WrappedKey(
                user_id=user_id,
                wrapped_key=sealed.wrapped_key,
                master_key_id=sealed.key_id,
                key_mask=sealed.key_mask,
                created_ts_ms=ts,
                rotated_ts_ms=ts,
            )
            stored = sealed.credentials
        await self._repo.create(profile, settings.to_document(), key, stored)
        return _view(profile, settings, key)

    async def view(self, user_id: str) -> UserView:
        from xraybot.users.settings import settings_from

        profile = await self._repo.get(user_id)
        if profile is None:
            raise InvalidInputError(
                f"user {user_id!r} does not exist; found no such id. See `xraybot users list`."
            )
        document = await self._repo.get_settings(user_id)
        settings = (
            UserSettings(exchange=profile.exchange, mode=profile.mode.value)
            if document is None
            else settings_from(document, where=f"the stored settings of {user_id}")
        )
        key = await self._repo.get_key(user_id)
        return _view(profile, settings, key)

    async def views(self) -> list[UserView]:
        return [await self.view(p.user_id) for p in await self._repo.list()]

    async def set(self, user_id: str, settings: UserSettings) -> UserView:
        """Replace the user's settings (validated); the profile follows exchange and mode."""
        import dataclasses

        validate_settings(settings)
        current = await self.view(user_id)
        if settings.mode == "live" and current.key_mask is None:
            raise InvalidInputError(
                f"settings.mode: user {user_id!r} has no exchange keys, so cannot be live; "
                "found mode=live. Add keys first."
            )
        profile = dataclasses.replace(
            current.profile,
            exchange=settings.exchange,
            mode=TradingMode(settings.mode),
            limits=_limits(settings, current.profile.limits),
        )
        await self._repo.set_settings(user_id, settings.to_document(), self._clock())
        await self._repo.update(profile)
        return dataclasses.replace(current, profile=profile, settings=settings)

    async def set_active(self, user_id: str, active: bool) -> UserView:
        import dataclasses

        current = await self.view(user_id)
        profile = dataclasses.replace(current.profile, active=active)
        await self._repo.update(profile)
        return dataclasses.replace(current, profile=profile)

    async def remove(self, user_id: str) -> None:
        await self._repo.remove(user_id)

    async def credentials(self, user_id: str) -> ApiCredentials:
        """Open the user's keys for the runtime (never for display)."""
        view = await self.view(user_id)
        key = await self._repo.get_key(user_id)
        stored = await self._repo.get_credentials(user_id, view.profile.exchange)
        if key is None or stored is None:
            raise InvalidInputError(
                f"user {user_id!r} has no {view.profile.exchange} keys; found none stored."
            )
        return self._vault().open(stored, key.wrapped_key)

    async def rotate(self) -> RotationReport:
        """Re-wrap every data key under the current master key; safe to run again."""
        keyring = self._vault().keyring
        total = len(await self._repo.keys())
        pending = await self._repo.keys(not_under=keyring.key_id)
        done: list[str] = []
        lost: list[str] = []
        unreadable: list[str] = []
        for key in pending:
            try:
                rewrapped = keyring.rewrap(key.wrapped_key, key.user_id)
            except ConfigError:
                # One user's key under an unknown master must not stop everyone else's.
                unreadable.append(key.user_id)
                continue
            swapped = await self._repo.rewrap_key(
                key.user_id, key.wrapped_key, rewrapped, keyring.key_id, self._clock()
            )
            (done if swapped else lost).append(key.user_id)
        remaining = len(await self._repo.keys(not_under=keyring.key_id))
        return RotationReport(
            keyring.key_id,
            tuple(done),
            total - len(pending),
            tuple(lost),
            tuple(unreadable),
            remaining,
        )


__all__ = [
    "CredentialCheck",
    "RotationReport",
    "UserService",
    "UserView",
    "exchange_check",
    "keyring_from",
    "validate_settings",
]
