"""A user's trading settings: what they trade, with which strategy, under which risk.

Stored as one JSON document per user. The risk profile is kept as the raw ``[risk]`` table
(or a path to a TOML file holding one): ``users`` sits below ``risk`` in the layers, so the
service layer validates it as a ``RiskProfile`` before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xraybot.config_tables import validate_table

Mode = Literal["paper", "live"]
MarketType = Literal["spot", "swap"]
Channel = Literal["telegram", "email", "webhook", "log"]


class SymbolSelection(BaseModel):
    """Fixed symbols, or symbols the screener picks (``screener = true``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: tuple[str, ...] = Field(
        default=(), description="Symbols traded, e.g. BTC/USDT:USDT; empty when screened."
    )
    screener: bool = Field(default=False, description="Let the screen and selection pick.")
    max_symbols: int = Field(default=5, ge=1, le=200, description="Cap on screened symbols.")
    screen_config: Path | None = Field(
        default=None, description="TOML file of the screen and selection (default: built-in)."
    )

    @field_validator("symbols")
    @classmethod
    def _plain_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for symbol in value:
            if "/" not in symbol or symbol != symbol.strip():
                raise ValueError(f"symbols such as BTC/USDT or BTC/USDT:USDT (found {symbol!r})")
        if len(set(value)) != len(value):
            raise ValueError(f"each symbol once (found {list(value)!r})")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SymbolSelection:
        if self.screener == bool(self.symbols):
            raise ValueError(
                "either a list of symbols or screener = true, not both and not neither "
                f"(found {len(self.symbols)} symbol(s), screener = {str(self.screener).lower()})"
            )
        return self


class StrategyChoice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="rsi_reversion", min_length=1, description="Strategy spec.")
    timeframe: str = Field(default="1h", min_length=2, description="Candles it runs on.")
    params: dict[str, float | int | str | bool] = Field(
        default_factory=dict, description="Parameter overrides; the rest keep defaults."
    )

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        from xraybot.model.candles import timeframe_to_ms
        from xraybot.model.errors import InvalidInputError

        try:
            timeframe_to_ms(value)
        except InvalidInputError:
            raise ValueError(f"a timeframe such as 15m, 1h or 4h (found {value!r})") from None
        return value


class PaperAccount(BaseModel):
    """The simulated wallet a paper user starts with (also their fee account's opening equity)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    balance: Decimal = Field(
        default=Decimal(10_000), gt=0, allow_inf_nan=False, description="Starting quote cash."
    )
    currency: str = Field(default="USDT", min_length=1, description="The quote currency held.")


class FeeSettings(BaseModel):
    """What the operator charges the user: a performance fee above the high-water mark."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    performance_rate: Decimal = Field(
        default=Decimal(0),
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Share of new profit charged, e.g. 0.2 for 20 %; 0: no fee.",
    )


class UserSettings(BaseModel):
    """Everything a user chooses about their trading (``xraybot users set KEY=VALUE``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(default="sim", min_length=1, description="ccxt exchange id or sim.")
    market: MarketType = Field(default="swap", description="spot or swap (perpetuals).")
    selection: SymbolSelection = SymbolSelection(screener=True)
    strategy: StrategyChoice = StrategyChoice()
    risk: dict[str, Any] | None = Field(
        default=None, description="An inline [risk] table (see examples/risk.toml)."
    )
    risk_file: Path | None = Field(
        default=None, description="A TOML file whose [risk] table is this user's profile."
    )
    trade_fraction: float = Field(
        default=0.1, gt=0, le=1, allow_inf_nan=False, description="Share of equity per entry."
    )
    leverage_cap: int = Field(default=3, ge=1, le=125, description="Never more leverage.")
    blacklist: tuple[str, ...] = Field(default=(), description="Symbols never traded.")
    notify: tuple[Channel, ...] = Field(default=("log",), description="Notification channels.")
    mode: Mode = Field(default="paper", description="paper, or live (also needs run --allow-live).")
    paper: PaperAccount = PaperAccount()
    fees: FeeSettings = FeeSettings()

    @model_validator(mode="after")
    def _consistent(self) -> UserSettings:
        if self.risk is not None and self.risk_file is not None:
            raise ValueError(
                "risk or risk_file, not both (found an inline risk table and "
                f"risk_file = {str(self.risk_file)!r})"
            )
        if self.market == "spot" and self.leverage_cap != 1:
            raise ValueError(
                f"leverage_cap = 1 on spot, which has no leverage (found {self.leverage_cap})"
            )
        listed = set(self.selection.symbols) & set(self.blacklist)
        if listed:
            raise ValueError(f"no symbol both traded and blacklisted (found {sorted(listed)})")
        return self

    def to_document(self) -> dict[str, Any]:
        """Return the settings as plain JSON-ready data (what the store keeps)."""
        return self.model_dump(mode="json")


def settings_from(document: Mapping[str, Any], *, where: str = "the user settings") -> UserSettings:
    """Validate a settings document; raise ConfigError naming every bad key."""
    return validate_table(UserSettings, document, prefix="settings", where=where)


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into a key path and a value (JSON if it parses, else text)."""
    import json

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"KEY=VALUE such as mode=live or strategy.params.rsi_period=14 ({text!r})")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return [part.strip() for part in key.split(".")], value


def with_changes(settings: UserSettings, assignments: list[str], *, where: str) -> UserSettings:
    """Return ``settings`` with ``key.path=value`` assignments applied and validated again."""
    from xraybot.model.errors import InvalidInputError

    document = settings.to_document()
    for text in assignments:
        try:
            path, value = parse_assignment(text)
        except ValueError as e:
            raise InvalidInputError(f"cannot read the setting: expected {e}.") from None
        target = document
        for part in path[:-1]:
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                raise InvalidInputError(
                    f"settings.{'.'.join(path)}: {part} holds a value, not a table; "
                    f"set settings.{part} itself."
                )
            target = child
        target[path[-1]] = value
    return settings_from(document, where=where)


__all__ = [
    "FeeSettings",
    "PaperAccount",
    "StrategyChoice",
    "SymbolSelection",
    "UserSettings",
    "parse_assignment",
    "settings_from",
    "with_changes",
]
