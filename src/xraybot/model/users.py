"""Users as the trading core sees them: identity, mode and limits; never secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from xraybot.model._checks import require_positive, require_text, require_ts_ms
from xraybot.model.errors import InvalidInputError

# User ids go into client order ids and key prefixes: keep them short and plain.
_USER_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class TradingMode(StrEnum):
    PAPER = "paper"  # real or simulated market data, simulated fills: the default
    LIVE = "live"  # real orders; also needs --allow-live on the command line


@dataclass(frozen=True, slots=True, kw_only=True)
class UserLimits:
    """Hard per-user caps that risk checks enforce before any order."""

    max_open_positions: int = 5
    max_position_quote: Decimal = Decimal(1000)
    max_total_exposure_quote: Decimal = Decimal(5000)
    max_leverage: int = 3
    max_daily_loss_quote: Decimal = Decimal(250)

    def __post_init__(self) -> None:
        owner = "UserLimits"
        if self.max_open_positions < 1:
            raise InvalidInputError(
                f"{owner}.max_open_positions must be >= 1; found {self.max_open_positions}."
            )
        if not 1 <= self.max_leverage <= 125:
            raise InvalidInputError(
                f"{owner}.max_leverage must be in [1, 125]; found {self.max_leverage}."
            )
        for name in ("max_position_quote", "max_total_exposure_quote", "max_daily_loss_quote"):
            require_positive(owner, name, getattr(self, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class UserProfile:
    user_id: str
    name: str
    created_ts_ms: int
    exchange: str = "sim"
    mode: TradingMode = TradingMode.PAPER
    limits: UserLimits = field(default_factory=UserLimits)
    email: str | None = None
    telegram_chat_id: str | None = None
    active: bool = True

    def __post_init__(self) -> None:
        owner = f"UserProfile({self.user_id!r})"
        if not isinstance(self.user_id, str) or not _USER_ID.fullmatch(self.user_id):
            raise InvalidInputError(
                f"{owner}.user_id must be 1-32 characters of a-z, 0-9, '_' or '-', starting "
                f"with a letter or digit; found {self.user_id!r}."
            )
        require_text(owner, "name", self.name)
        require_text(owner, "exchange", self.exchange)
        require_ts_ms(owner, "created_ts_ms", self.created_ts_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCredentials:
    """A user's exchange keys as stored: encrypted tokens only (see users/credentials.py).

    ``key_hint`` is the last four characters of the API key, for people to tell keys
    apart; it is the only part of a key that may be shown.
    """

    user_id: str
    exchange: str
    api_key_token: bytes
    secret_token: bytes
    passphrase_token: bytes | None
    key_hint: str
    created_ts_ms: int

    def __post_init__(self) -> None:
        owner = f"StoredCredentials({self.user_id!r}, {self.exchange!r})"
        require_text(owner, "user_id", self.user_id)
        require_text(owner, "exchange", self.exchange)
        require_ts_ms(owner, "created_ts_ms", self.created_ts_ms)
        if len(self.key_hint) > 4:
            # Name the length, never the value: it may be the whole key passed by mistake.
            raise InvalidInputError(
                f"{owner}.key_hint must be at most the last 4 characters of the API key; "
                f"found {len(self.key_hint)} characters."
            )
        for name in ("api_key_token", "secret_token"):
            if not isinstance(getattr(self, name), bytes) or not getattr(self, name):
                raise InvalidInputError(f"{owner}.{name} must be non-empty encrypted bytes.")

    def __repr__(self) -> str:
        return (
            f"StoredCredentials(user_id={self.user_id!r}, exchange={self.exchange!r}, "
            f"key_hint={self.key_hint!r})"
        )
