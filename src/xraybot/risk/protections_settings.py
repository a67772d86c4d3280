"""Protection settings: which protections are on and their numbers, as the params vector.

Every protection is optional (``None``, or ``"off"`` in TOML, switches it off); durations are
milliseconds or text such as ``"30m"``, ``"12h"``, ``"1d 6h"``; fractions are 0.05 for 5 %.
An invalid value is refused naming the setting (``stoploss_guard.window``), and
``protection_settings_from`` turns a TOML table into a ``ConfigError`` listing every problem.
``ProtectionSettings.params()`` is the float64 vector ``risk.protections`` reads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from xraybot.config_tables import validate_table
from xraybot.risk import protections as core

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*")


def parse_duration_ms(value: Any) -> int:
    """Return a duration in ms from an int/float of ms or text such as ``"1d 6h"``."""
    if isinstance(value, bool):
        raise ValueError(f'a duration such as "30m", "12h" or ms (found {value!r})')
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f'a finite duration such as "30m", "12h" or ms (found {value!r})')
        return round(value)
    if isinstance(value, str):
        text = value.strip().lower()
        total, at = 0.0, 0
        while at < len(text):
            match = _PART.match(text, at)
            if match is None:
                break
            total += float(match.group(1)) * _UNITS_MS[match.group(2)]
            at = match.end()
        if text and at == len(text):
            return round(total)
    raise ValueError(f'a duration such as "30m", "12h", "1d 6h" or ms (found {value!r})')


def _off_to_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() == "off":
        return None
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"a finite number (found {value!r})")
    return value


Off = BeforeValidator(_off_to_none)  # TOML has no null: "off" switches a setting off
Duration = Annotated[int, BeforeValidator(parse_duration_ms), Field(gt=0)]
Number = Annotated[float, BeforeValidator(_number)]
Fraction = Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1)]
Count = Annotated[int, BeforeValidator(_number), Field(ge=1, le=core.MAX_HISTORY)]
_STRICT = ConfigDict(frozen=True, extra="forbid")


class StopLossGuard(BaseModel):
    """``stop_losses`` stop-losses within ``window`` pause the symbol (or account) ``pause``."""

    model_config = _STRICT

    stop_losses: Count
    window: Duration
    pause: Duration
    scope: Literal["symbol", "account"] = "symbol"


class DrawdownBreaker(BaseModel):
    """A fall of ``max_drawdown`` from the peak pauses entries ``pause`` (None: until reset)."""

    model_config = _STRICT

    max_drawdown: Number = Field(gt=0, lt=1, description="0.2 = 20 % below the peak.")
    pause: Annotated[Duration | None, Off] = None


class LowProfitLock(BaseModel):
    """A symbol whose last ``trades`` returns add up to less than ``min_return`` is locked."""

    model_config = _STRICT

    trades: Count
    min_return: Number = Field(default=0.0, gt=-1, lt=1, description="Summed; -0.02 = -2 %.")
    pause: Duration


class WinRateScaling(BaseModel):
    """Full size at a win rate of ``full_at`` or more, the floor at ``floor_at`` or less."""

    model_config = _STRICT

    trades: Count = 20
    full_at: Number = Field(default=0.5, ge=0, le=1)
    floor_at: Number = Field(default=0.25, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> WinRateScaling:
        if not self.floor_at < self.full_at:
            raise ValueError(
                f"floor_at below full_at: a lower win rate sizes down (found floor_at "
                f"{self.floor_at:g}, full_at {self.full_at:g})"
            )
        return self


class DrawdownScaling(BaseModel):
    """Full size at a drawdown of ``full_at`` or less, the floor at ``floor_at`` or more."""

    model_config = _STRICT

    full_at: Number = Field(default=0.05, ge=0, lt=1)
    floor_at: Number = Field(default=0.25, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> DrawdownScaling:
        if not self.full_at < self.floor_at:
            raise ValueError(
                f"full_at below floor_at: a deeper drawdown sizes down (found full_at "
                f"{self.full_at:g}, floor_at {self.floor_at:g})"
            )
        return self


class VolatilityScaling(BaseModel):
    """Full size at a volatility ratio (now / long average) of ``full_at`` or less."""

    model_config = _STRICT

    full_at: Number = Field(default=1.0, gt=0)
    floor_at: Number = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> VolatilityScaling:
        if not self.full_at < self.floor_at:
            raise ValueError(
                f"full_at below floor_at: higher volatility sizes down (found full_at "
                f"{self.full_at:g}, floor_at {self.floor_at:g})"
            )
        return self


class DynamicRisk(BaseModel):
    """Size multiplier: the product of the factors that are on, never below ``floor``."""

    model_config = _STRICT

    floor: Number = Field(default=0.25, gt=0, le=1)
    win_rate: Annotated[WinRateScaling | None, Off] = None
    drawdown: Annotated[DrawdownScaling | None, Off] = None
    volatility: Annotated[VolatilityScaling | None, Off] = None


class ProtectionSettings(BaseModel):
    """Every protection, each off unless set (see the module doc and ``risk.protections``)."""

    model_config = _STRICT

    cooldown: Annotated[Duration | None, Off] = Field(
        default=None, description="No entry on a symbol this long after its stop-loss."
    )
    stoploss_guard: Annotated[StopLossGuard | None, Off] = None
    max_drawdown: Annotated[DrawdownBreaker | None, Off] = None
    low_profit: Annotated[LowProfitLock | None, Off] = None
    daily_loss: Annotated[Fraction | None, Off] = Field(
        default=None, description="Loss of the day's starting equity; 0.05 = 5 %."
    )
    dynamic_risk: Annotated[DynamicRisk | None, Off] = None

    def params(self) -> np.ndarray:
        """Return the params vector (``risk.protections.P_*``); NaN where a protection is off."""
        p = core.default_params()
        if self.cooldown is not None:
            p[core.P_COOLDOWN_MS] = self.cooldown
        if (guard := self.stoploss_guard) is not None:
            p[core.P_SL_GUARD_COUNT] = guard.stop_losses
            p[core.P_SL_GUARD_WINDOW_MS] = guard.window
            p[core.P_SL_GUARD_PAUSE_MS] = guard.pause
            scope = core.SCOPE_ACCOUNT if guard.scope == "account" else core.SCOPE_SYMBOL
            p[core.P_SL_GUARD_SCOPE] = scope
        if (breaker := self.max_drawdown) is not None:
            p[core.P_DD_MAX] = breaker.max_drawdown
            p[core.P_DD_PAUSE_MS] = math.inf if breaker.pause is None else breaker.pause
        if (lock := self.low_profit) is not None:
            p[core.P_LOW_PROFIT_TRADES] = lock.trades
            p[core.P_LOW_PROFIT_MIN] = lock.min_return
            p[core.P_LOW_PROFIT_PAUSE_MS] = lock.pause
        if self.daily_loss is not None:
            p[core.P_DAILY_LOSS_MAX] = self.daily_loss
        if (dynamic := self.dynamic_risk) is not None:
            p[core.P_SCALE_FLOOR] = dynamic.floor
            if (win := dynamic.win_rate) is not None:
                p[core.P_SCALE_WIN_TRADES] = win.trades
                p[core.P_SCALE_WIN_FULL] = win.full_at
                p[core.P_SCALE_WIN_FLOOR] = win.floor_at
            if (drawdown := dynamic.drawdown) is not None:
                p[core.P_SCALE_DD_FULL] = drawdown.full_at
                p[core.P_SCALE_DD_FLOOR] = drawdown.floor_at
            if (volatility := dynamic.volatility) is not None:
                p[core.P_SCALE_VOL_FULL] = volatility.full_at
                p[core.P_SCALE_VOL_FLOOR] = volatility.floor_at
        p.flags.writeable = False
        return p

    def history(self) -> int:
        """Return the events per symbol the state must keep for these settings."""
        return core.history_needed(self.params())


def protection_settings_from(
    table: Mapping[str, Any], *, prefix: str = "risk.protections", where: str = "the risk config"
) -> ProtectionSettings:
    """Validate a ``[risk.protections]`` table; raise ConfigError with one line per problem."""
    return validate_table(ProtectionSettings, table, prefix=prefix, where=where)
