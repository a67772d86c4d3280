"""What the screener keeps: thresholds (fixed or dynamic), signal filters, ranking, candles.

A threshold is either a fixed number or **dynamic**: ``"p60"`` means the 60th percentile of
that metric over the symbols the filter sees in this run (for the 24h quote volume: every
candidate left after the blacklist, price and market checks). So ``min_quote_volume =
"p60"`` keeps the most traded 40% whatever the market's mood, where a fixed 50,000 USDT
keeps everything in a frenzy and nothing in a lull.

Thresholds can also depend on the market regime: ``[screen.by_regime.high]`` (any of the
labels ``up``, ``down``, ``range`` for the BTC-led trend and ``low``, ``normal``, ``high``
for its volatility) lists thresholds that replace the base ones while the market is in
that regime. Overrides apply in the order written; a later matching table wins. An
override replaces a value, it cannot switch a filter off (TOML has no null).

Listing age, live, is the age of the first candle fetched: exact for a symbol younger than
``candles`` × ``timeframe`` (the exchange has fewer candles), a lower bound (the span) for
older ones, which is why a fixed ``min_listing_days`` may not exceed that span. As of a
past time it comes from the universe store's first candle seen.

Volatility is per candle of ``timeframe`` (ATR% or the standard deviation of log returns,
in percent), so a fixed band must be read with the timeframe in mind: 1% a bar is calm
for 1m candles and wild for 1d ones. Percentiles avoid that question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from xraybot.config_tables import read_table, validate_table
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import InvalidInputError

DAY_MS = 86_400_000
MAX_CANDLES = 1000
_PERCENTILE = re.compile(r"p(100|[0-9]{1,2}(\.[0-9]+)?)")
RegimeLabel = Literal["up", "down", "range", "low", "normal", "high"]
REGIME_LABELS: tuple[str, ...] = ("up", "down", "range", "low", "normal", "high")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"a number or a percentile such as 'p60' (found {value!r})")
    return value


def _check_threshold(value: float | str) -> float | str:
    if isinstance(value, str):
        if not _PERCENTILE.fullmatch(value):
            raise ValueError(
                f"a number or a percentile of the universe such as 'p60' (found {value!r})"
            )
        return value
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"a finite number (found {value!r})")
    return float(value)


Threshold = Annotated[float | str, BeforeValidator(_not_bool), AfterValidator(_check_threshold)]


def percentile_of(threshold: float | str) -> float | None:
    """Return q of a dynamic ``"pq"`` threshold, or None for a fixed number."""
    if isinstance(threshold, str):
        return float(threshold[1:])
    return None


class ScoreWeights(BaseModel):
    """How the final ranking weighs each metric (ranks within the run, 0 to 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    volume: float = Field(default=1.0, ge=0, description="More 24h quote volume ranks higher.")
    spread: float = Field(default=1.0, ge=0, description="A tighter spread ranks higher.")
    volatility: float = Field(default=1.0, ge=0, description="More movement ranks higher.")
    trend: float = Field(
        default=0.5,
        ge=0,
        description="A stronger trend ranks higher (in the wanted direction, or either way).",
    )
    breakout: float = Field(default=0.5, ge=0, description="Added in full for a breakout.")

    @model_validator(mode="after")
    def _some_weight(self) -> ScoreWeights:
        if not any(getattr(self, name) > 0 for name in type(self).model_fields):
            raise ValueError("at least one weight > 0 (found all 0)")
        return self


class RegimeOverrides(BaseModel):
    """Thresholds that replace the base ones while the market is in one regime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_quote_volume: Threshold | None = None
    max_spread_pct: Threshold | None = None
    min_price: Threshold | None = None
    max_price: Threshold | None = None
    min_listing_days: Threshold | None = None
    min_volatility_pct: Threshold | None = None
    max_volatility_pct: Threshold | None = None
    rsi_min: Threshold | None = None
    rsi_max: Threshold | None = None
    trend: Literal["up", "down", "any"] | None = None
    breakout: bool | None = None
    min_depth_quote: Threshold | None = None


class ScreenConfig(BaseModel):
    """Every setting of one screen; ``None`` switches a threshold off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quote: str = Field(default="USDT", min_length=1, description="Quote currency screened.")
    # -- stage 1: one bulk tickers call ------------------------------------------------
    min_quote_volume: Threshold | None = Field(
        default=100_000.0, description="Minimum 24h quote volume, in the quote currency."
    )
    max_spread_pct: Threshold | None = Field(
        default=0.5, description="Maximum (ask - bid) / bid, in percent."
    )
    min_price: Threshold | None = None
    max_price: Threshold | None = None
    blacklist: tuple[str, ...] = Field(
        default=(),
        description="Symbols (LUNA/USDT) or base patterns with * and ? (*DOWN, TEST*).",
    )
    exclude_leveraged_tokens: bool = Field(default=True, description="BTC3L, ETHUP, BULL ...")
    exclude_stablecoins: bool = Field(default=True, description="USDC, FDUSD, EUR ...")
    # -- stage 2: candles of the survivors only -----------------------------------------
    timeframe: str = "1h"
    candles: int = Field(default=200, ge=2, le=MAX_CANDLES, description="Closed candles used.")
    min_listing_days: Threshold | None = Field(
        default=7.0, description="Minimum days since the first candle."
    )
    volatility: Literal["natr", "realized"] = Field(
        default="natr",
        description="natr: ATR as % of close; realized: std of log returns, in %.",
    )
    volatility_period: int = Field(default=14, ge=2, le=500)
    min_volatility_pct: Threshold | None = Field(default=0.2, description="Per candle, in %.")
    max_volatility_pct: Threshold | None = Field(default=10.0, description="Per candle, in %.")
    rsi_period: int = Field(default=14, ge=2, le=500)
    rsi_min: Threshold | None = None
    rsi_max: Threshold | None = None
    trend: Literal["up", "down", "any"] = Field(
        default="any", description="Keep only EMA(fast) above (up) or below (down) EMA(slow)."
    )
    ema_fast: int = Field(default=20, ge=2, le=500)
    ema_slow: int = Field(default=50, ge=3, le=500)
    breakout: bool = Field(
        default=False, description="Keep only closes above the high of the previous N candles."
    )
    breakout_bars: int = Field(default=20, ge=2, le=500)
    # -- final shortlist ----------------------------------------------------------------
    top: int = Field(default=20, ge=1, le=10_000)
    score: ScoreWeights = ScoreWeights()
    min_depth_quote: Threshold | None = Field(
        default=None,
        description="Minimum quote within depth_pct of the mid, on the thinner side "
        "(order books are fetched for the shortlist only).",
    )
    depth_pct: float = Field(default=1.0, gt=0, le=20)
    # -- how ----------------------------------------------------------------------------
    concurrency: int = Field(
        default=64, ge=1, le=512, description="Requests in flight (the limiter sets the pace)."
    )
    regime_leader: str = Field(default="BTC/USDT", description="Whose candles set the regime.")
    by_regime: dict[RegimeLabel, RegimeOverrides] = Field(default_factory=dict)

    @field_validator("quote")
    @classmethod
    def _upper_quote(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("blacklist")
    @classmethod
    def _clean_blacklist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(item.strip().upper() for item in value)
        if not all(cleaned):
            raise ValueError(f"symbols or base patterns, none empty (found {list(value)!r})")
        return cleaned

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

    @model_validator(mode="after")
    def _consistent(self) -> ScreenConfig:
        for low, high in (
            ("min_price", "max_price"),
            ("min_volatility_pct", "max_volatility_pct"),
            ("rsi_min", "rsi_max"),
        ):
            lo, hi = getattr(self, low), getattr(self, high)
            if isinstance(lo, float) and isinstance(hi, float) and lo > hi:
                raise ValueError(f"{low} <= {high} (found {lo:g} > {hi:g})")
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"ema_fast < ema_slow (found {self.ema_fast} >= {self.ema_slow})")
        if self.candles < self.warmup:
            raise ValueError(
                f"candles >= {self.warmup}, what the indicators need (EMA {self.ema_slow}, "
                f"RSI {self.rsi_period}, volatility {self.volatility_period}, breakout "
                f"{self.breakout_bars}) (found {self.candles})"
            )
        days = self.min_listing_days
        if isinstance(days, float) and days > self.span_days:
            # Live screens date a listing by its first candle, which a full series of
            # `candles` cannot place further back than its own span.
            raise ValueError(
                f"min_listing_days <= {self.span_days:g}, the span of {self.candles} × "
                f"{self.timeframe} candles; raise candles or use a longer timeframe "
                f"(found {days:g})"
            )
        return self

    @property
    def warmup(self) -> int:
        """Return the fewest closed candles every indicator needs for a value."""
        return max(
            self.ema_slow,
            self.rsi_period + 1,
            self.volatility_period + 1,
            self.breakout_bars + 1,
        )

    @property
    def span_days(self) -> float:
        """Return how many days ``candles`` of ``timeframe`` cover."""
        return self.candles * timeframe_to_ms(self.timeframe) / DAY_MS

    def for_regime(self, labels: Iterable[str]) -> ScreenConfig:
        """Return this config with the overrides of every matching regime label applied."""
        wanted = set(labels)
        update: dict[str, Any] = {}
        for label, overrides in self.by_regime.items():
            if label in wanted:
                update.update(
                    {name: getattr(overrides, name) for name in overrides.model_fields_set}
                )
        return self.with_changes(**update) if update else self

    def with_changes(self, **changes: Any) -> ScreenConfig:
        """Return a copy with ``changes`` applied and validated (a bad value raises ConfigError)."""
        return screen_config_from({**self.model_dump(exclude_unset=True), **changes})


# -- loading -----------------------------------------------------------------------------


def load_screen_config(path: Path) -> ScreenConfig:
    """Read the ``[screen]`` table of a TOML file; raise ConfigError naming every bad key."""
    table = read_table(path, "screen", example="examples/screen.toml")
    return screen_config_from(table, where=str(path))


def screen_config_from(
    table: Mapping[str, Any], *, where: str = "the screen config"
) -> ScreenConfig:
    """Validate a ``[screen]`` table; raise ConfigError with one line per problem."""
    return validate_table(ScreenConfig, table, prefix="screen", where=where)
