"""What ``xraybot select`` keeps: the strategy, the out-of-sample split and the thresholds.

A symbol is **selected** when its out-of-sample (OOS) backtest passes every threshold that
is on: ``min_return`` (total return, 0.05 = 5 %), ``min_sharpe``, ``max_drawdown`` (the
deepest fall of equity, 0.25 = 25 %) and ``min_trades``. Write ``"off"`` for a threshold to
switch it off (TOML has no null).

``strategy`` is a built-in name, a user strategy spec (``file.py``, ``file.py:Class``,
``package.module:Class``) or ``"auto"``: each symbol is then judged with the strategy
recommended for it (the best of ``candidates`` in the symbol's current regime). With
``"auto"`` the choice and the verdict come from the same OOS candles, which flatters the
result: one strategy fixed in advance is the stricter test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from xraybot.backtest.results import BacktestSettings
from xraybot.config_tables import read_table, validate_table
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import InvalidInputError

AUTO = "auto"
EXCLUDED_CANDIDATES = ("ensemble",)  # aggregates the others: not a rival to them
THRESHOLDS = ("min_return", "min_sharpe", "max_drawdown", "min_trades")
ParamValue = int | float | bool | str


def _off_to_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    if isinstance(value, bool):
        raise ValueError(f'a number or "off" (found {value!r})')
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f'a finite number or "off" (found {value!r})')
    return value


Limit = Annotated[float | None, BeforeValidator(_off_to_none)]
Count = Annotated[int | None, BeforeValidator(_off_to_none)]


class BacktestOptions(BaseModel):
    """The account and execution assumptions of every selection backtest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    equity: float = Field(default=10_000.0, gt=0, description="Starting equity, in quote.")
    fee_rate: float = Field(default=0.001, ge=0, lt=0.1, description="Per side; 0.001 = 0.1 %.")
    slippage_bps: float = Field(default=0.0, ge=0, lt=1000)
    slippage_atr: float = Field(default=0.0, ge=0, lt=10, description="× NATR of the candle.")
    stake: Literal["all", "fraction", "fixed"] = "all"
    stake_amount: float = Field(default=1.0, gt=0, description="Fraction or quote, per stake.")
    market: Literal["spot", "swap"] = "spot"
    directions: Literal["long", "short", "both"] = "long"
    leverage: float = Field(default=1.0, ge=1)
    funding_rate: float = 0.0

    @model_validator(mode="after")
    def _settings_agree(self) -> BacktestOptions:
        try:
            self.to_settings()
        except InvalidInputError as e:
            raise ValueError(str(e).removeprefix("BacktestSettings: ")) from None
        return self

    def to_settings(self) -> BacktestSettings:
        """Return these options as the engine's settings."""
        return BacktestSettings(
            equity=self.equity,
            fee_rate=self.fee_rate,
            slippage_bps=self.slippage_bps,
            slippage_atr=self.slippage_atr,
            stake=self.stake,
            stake_amount=self.stake_amount,
            market=self.market,
            directions=self.directions,
            leverage=self.leverage,
            funding_rate=self.funding_rate,
        )


class SelectionConfig(BaseModel):
    """Every setting of one selection run (see the module doc); loadable from ``[select]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str = Field(
        default=AUTO, min_length=1, description='A strategy name or spec, or "auto".'
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict, description="Overrides of the named strategy's defaults."
    )
    timeframe: str = "1h"
    history_days: float = Field(
        default=180.0, gt=0, description="Days of closed candles read per symbol, up to now."
    )
    oos_fraction: float = Field(
        default=0.3, gt=0, lt=1, description="The most recent share of the candles judged."
    )
    min_oos_candles: int = Field(
        default=100, ge=2, description="Fewer OOS candles than this: rejected, too little data."
    )
    # -- thresholds: None ("off" in TOML) switches one off --------------------------------
    min_return: Limit = Field(default=0.0, gt=-1, description="OOS total return; 0.05 = 5 %.")
    min_sharpe: Limit = Field(default=0.5, description="OOS Sharpe ratio (annualized).")
    max_drawdown: Limit = Field(
        default=0.25, gt=0, le=1, description="Deepest OOS equity fall; 0.25 = 25 %."
    )
    min_trades: Count = Field(default=5, ge=0, description="OOS trades closed.")
    # -- recommendation -----------------------------------------------------------------
    recommend: bool = Field(
        default=True, description="Backtest every candidate and recommend one per symbol."
    )
    candidates: tuple[str, ...] | None = Field(
        default=None, description="Strategies compared; default every built-in but ensemble."
    )
    regime_by: Literal["trend", "volatility", "trend_volatility"] = Field(
        default="trend", description="Which regime labels must match the current ones."
    )
    min_regime_trades: int = Field(
        default=3, ge=1, description="OOS trades entered in the current regime a score needs."
    )
    backtest: BacktestOptions = BacktestOptions()

    @field_validator("min_return", "min_sharpe", "max_drawdown")
    @classmethod
    def _finite_limit(cls, value: float | None) -> float | None:
        return _finite(value)

    @field_validator("strategy")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        try:
            timeframe_to_ms(value)
        except InvalidInputError:
            raise ValueError(
                f"a timeframe such as 1m, 5m, 1h, 4h or 1d (found {value!r})"
            ) from None
        return value

    @field_validator("candidates")
    @classmethod
    def _some_candidates(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        cleaned = tuple(dict.fromkeys(v.strip() for v in value))
        if not cleaned or not all(cleaned):
            raise ValueError(f"at least one strategy name, none empty (found {list(value)!r})")
        if AUTO in cleaned:
            raise ValueError(f'strategy names; "auto" is no strategy (found {list(value)!r})')
        return cleaned

    @model_validator(mode="after")
    def _consistent(self) -> SelectionConfig:
        if self.is_auto and self.params:
            raise ValueError(
                'params only with a named strategy: "auto" backtests each candidate with its '
                f"defaults (found params {sorted(self.params)})"
            )
        if self.is_auto and not self.recommend:
            raise ValueError('recommend = true with strategy = "auto" (found recommend = false)')
        return self

    @property
    def is_auto(self) -> bool:
        return self.strategy == AUTO

    @property
    def settings(self) -> BacktestSettings:
        return self.backtest.to_settings()

    def thresholds(self) -> dict[str, float | int | None]:
        """Return each threshold by name (None when off)."""
        return {name: getattr(self, name) for name in THRESHOLDS}

    def with_changes(self, **changes: Any) -> SelectionConfig:
        """Return a copy with ``changes`` applied and validated (a bad value raises ConfigError)."""
        return select_config_from({**self.model_dump(exclude_unset=True), **changes})


# -- loading -----------------------------------------------------------------------------


def load_select_config(path: Path) -> SelectionConfig:
    """Read the ``[select]`` table of a TOML file; raise ConfigError naming every bad key."""
    table = read_table(path, "select", example="examples/select.toml")
    return select_config_from(table, where=str(path))


def select_config_from(
    table: Mapping[str, Any], *, where: str = "the select config"
) -> SelectionConfig:
    """Validate a ``[select]`` table; raise ConfigError with one line per problem."""
    return validate_table(SelectionConfig, table, prefix="select", where=where)
