"""A user's risk configuration: sizing, leverage, exits, limits and protections, in one record.

``RiskProfile`` is what a ``[risk]`` TOML table holds (``examples/risk.toml``); until users
exist (issue 8) a file stands for the user. Loading checks each value on its own and the
values against each other (a ``risk`` sizing mode needs a stop); ``validate_against`` then
checks them against a market and a deposit and refuses a configuration that can never trade,
naming each setting and the number that would work. Optional limits take ``"off"`` (TOML
has no null).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal, localcontext
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from xraybot.config_tables import read_table, validate_table
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.deposit import DepositSettings, minimum_deposit, what_deposit_allows
from xraybot.risk.exits import ExitRules
from xraybot.risk.limits import LimitSettings
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.risk.sizing import MODE_CODES

SizingMode = Literal["fixed", "fraction", "all", "risk", "vol_target", "kelly"]
EXAMPLE = "examples/risk.toml"


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


def _shown(value: float | None) -> str:
    return "not set" if value is None else f"{value:g}"


OffFloat = Annotated[float | None, BeforeValidator(_off_to_none), AfterValidator(_finite)]
OffCount = Annotated[int | None, BeforeValidator(_off_to_none)]


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SizingSettings(_Table):
    """How much each entry opens (``risk.sizing``); ``amount`` depends on ``mode``."""

    mode: SizingMode = Field(
        default="fraction",
        description="fixed: quote cash per position; fraction: share of equity; all: the "
        "free cash; risk: loss at the stop as a share of equity; vol_target: volatility "
        "targeting; kelly: capped Kelly.",
    )
    amount: float = Field(
        default=0.1,
        ge=0,
        allow_inf_nan=False,
        description="fixed: quote amount; fraction: 0.1 = 10 % of equity; risk: 0.01 = lose "
        "1 % of equity at the stop; unused by all, vol_target and kelly.",
    )
    target_volatility: OffFloat = Field(
        default=None, description="vol_target: wanted volatility per candle (0.01 = 1 %)."
    )
    win_rate: OffFloat = Field(default=None, description="kelly: share of winning trades.")
    payoff: OffFloat = Field(default=None, description="kelly: average win / average loss.")
    kelly_cap: float = Field(default=0.25, gt=0, le=1, description="kelly: largest share.")
    volatility_period: int = Field(
        default=14, ge=2, le=500, description="Candles of the ATR that measures volatility."
    )

    @model_validator(mode="after")
    def _mode_inputs(self) -> SizingSettings:
        if self.mode in ("fixed", "fraction", "risk") and not self.amount > 0:
            raise ValueError(f"amount > 0 for the {self.mode} mode (found {self.amount:g})")
        if self.mode == "fraction" and self.amount > 1:
            raise ValueError(
                f"amount <= 1 for the fraction mode: a share of equity, 0.1 = 10 % "
                f"(found {self.amount:g})"
            )
        if self.mode == "risk" and self.amount > 0.5:
            raise ValueError(
                f"amount <= 0.5 for the risk mode: the share of equity lost at the stop, "
                f"0.01 = 1 % (found {self.amount:g})"
            )
        if self.mode == "vol_target" and not (
            self.target_volatility is not None and 0 < self.target_volatility < 1
        ):
            raise ValueError(
                "target_volatility in (0, 1) for the vol_target mode, e.g. 0.01 for 1 % a "
                f"candle (found {_shown(self.target_volatility)})"
            )
        if self.mode == "kelly":
            if self.win_rate is None or not 0 < self.win_rate < 1:
                raise ValueError(
                    f"win_rate in (0, 1) for the kelly mode (found {_shown(self.win_rate)})"
                )
            if self.payoff is None or not self.payoff > 0:
                raise ValueError(f"payoff > 0 for the kelly mode (found {_shown(self.payoff)})")
        return self

    @property
    def mode_code(self) -> int:
        """Return the ``SIZE_*`` code of the mode (``risk.sizing``)."""
        return MODE_CODES[self.mode]


class LeverageSettings(_Table):
    """The user's leverage cap and how far beyond the stop liquidation must stay."""

    max: int = Field(default=1, ge=1, le=200, description="Highest leverage ever used.")
    safety: float = Field(
        default=0.5,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="Liquidation lies beyond the stop by this share of the stop distance.",
    )
    maintenance_margin_rate: float = Field(
        default=0.005, ge=0, lt=0.5, allow_inf_nan=False, description="The exchange's MMR."
    )


class ExitSettings(_Table):
    """Stop, targets, trailing, break-even and time exit: ``risk.exits.ExitRules``' fields."""

    stop_loss_pct: OffFloat = None
    take_profit_pct: OffFloat = None
    stop_loss_atr: OffFloat = None
    take_profit_atr: OffFloat = None
    atr_period: int = 14
    trailing_pct: OffFloat = None
    trailing_activation_pct: float = 0.0
    breakeven_at_pct: OffFloat = None
    partial_targets: tuple[tuple[float, float], ...] = Field(
        default=(), description="[[level, fraction], ...]: close fraction at level."
    )
    time_exit_candles: OffCount = None

    @field_validator("*")
    @classmethod
    def _rule(cls, value: Any, info: ValidationInfo) -> Any:
        # ExitRules owns the checks; each field alone, so a problem is named by its key.
        name = str(info.field_name)
        try:
            ExitRules(**{name: value})
        except InvalidInputError as e:
            message = re.sub(r"^must (be )?", "", str(e).removeprefix(f"ExitRules.{name} "))
            found = re.fullmatch(r"(.*); found (.*?)\.?", message, flags=re.S)
            raise ValueError(
                f"{found[1]} (found {found[2]})" if found else message.rstrip(".")
            ) from None
        return value

    def rules(self) -> ExitRules:
        """Return these settings as the ``ExitRules`` the backtest and live monitor apply."""
        return ExitRules(**{name: getattr(self, name) for name in type(self).model_fields})


class LimitTable(_Table):
    """Portfolio limits; exposures are multiples of equity (``risk.limits``)."""

    max_open_positions: OffCount = Field(default=None, ge=1)
    max_symbol_exposure: OffFloat = Field(default=None, gt=0)
    max_total_exposure: OffFloat = Field(default=None, gt=0)
    max_cluster_exposure: OffFloat = Field(default=None, gt=0)


class RiskProfile(_Table):
    """One user's risk settings (the ``[risk]`` table)."""

    market: Literal["spot", "swap"] = Field(
        default="swap", description="The kind of market traded."
    )
    timeframe: str = Field(default="1h", description="Candles that measure volatility/ATR.")
    margin_multiplier: float = Field(
        default=1.0,
        ge=1,
        le=100,
        allow_inf_nan=False,
        description="Reserve kept per unit of margin: 1.5 keeps half as much again.",
    )
    sizing: SizingSettings = SizingSettings()
    leverage: LeverageSettings = LeverageSettings()
    exits: ExitSettings = ExitSettings()
    limits: LimitTable = LimitTable()
    protections: ProtectionSettings = ProtectionSettings()

    @model_validator(mode="after")
    def _consistent(self) -> RiskProfile:
        try:
            timeframe_to_ms(self.timeframe)
        except InvalidInputError:
            raise ValueError(
                f"timeframe such as 15m, 1h or 4h (found {self.timeframe!r})"
            ) from None
        if self.sizing.mode == "risk" and not (
            self.exits.stop_loss_pct is not None or self.exits.stop_loss_atr is not None
        ):
            raise ValueError(
                "a stop for the risk sizing mode, which sizes from the stop distance: set "
                "exits.stop_loss_pct (e.g. 0.03) or exits.stop_loss_atr (e.g. 2) (found none)"
            )
        if self.market == "spot" and self.leverage.max != 1:
            raise ValueError(
                f"leverage.max = 1 on spot, which has no leverage (found {self.leverage.max})"
            )
        return self

    def exit_rules(self) -> ExitRules:
        """Return the stop, targets and other exits as ``ExitRules``."""
        return self.exits.rules()

    def limit_settings(self) -> LimitSettings:
        """Return the limits and the margin multiplier as ``LimitSettings``."""
        limits = self.limits
        return LimitSettings(
            max_open_positions=limits.max_open_positions,
            max_symbol_exposure=limits.max_symbol_exposure,
            max_total_exposure=limits.max_total_exposure,
            max_cluster_exposure=limits.max_cluster_exposure,
            margin_multiplier=self.margin_multiplier,
        )


# -- loading -----------------------------------------------------------------------------


def load_risk_profile(path: Path) -> RiskProfile:
    """Read the ``[risk]`` table of a TOML file; raise ConfigError naming every bad key."""
    table = read_table(path, "risk", example=EXAMPLE)
    return risk_profile_from(table, where=str(path))


def risk_profile_from(table: Mapping[str, Any], *, where: str = "the risk config") -> RiskProfile:
    """Validate a ``[risk]`` table; raise ConfigError with one line per problem."""
    return validate_table(RiskProfile, table, prefix="risk", where=where)


# -- can it ever trade? ------------------------------------------------------------------


def _fmt(value: float | Decimal) -> str:
    return f"{float(value):,.8g}"


def validate_against(
    profile: RiskProfile,
    market: Market,
    deposit: float | Decimal,
    *,
    price: float | Decimal | None = None,
    stop_distance: float | None = None,
    volatility: float | None = None,
) -> None:
    """Raise ConfigError when ``profile`` can never open a position on ``market``.

    Each problem names the setting, what was found and the number that would work: the
    deposit below what the smallest order needs (margin at the highest leverage allowed,
    entry fee, the margin reserve, and the sizing mode's share), a stop or target inside the
    round-trip taker fee, a leverage cap above the market's, exposure limits too small for
    the smallest order, a Kelly setting with no edge. ``price`` (the last price) lets the
    market's minimum amount count too; without it only the minimum notional does.
    ``stop_distance`` (a fraction of the price) and ``volatility`` (per candle) are what an
    ATR stop and volatility targeting measure now; without them those modes are checked at
    the smallest order. So a refusal means never, not "not now". The deposit side is
    ``risk.deposit.what_deposit_allows`` for one position at the highest leverage allowed.
    """
    cash = float(deposit)
    if not (math.isfinite(cash) and cash >= 0):
        raise InvalidInputError(f"deposit must be a finite number >= 0; found {deposit!r}.")
    problems: list[str] = []
    problems += _market_problems(profile, market)
    problems += _fee_problems(profile, market)
    no_edge = _kelly_problems(profile.sizing) if profile.sizing.mode == "kelly" else []
    problems += no_edge
    if not no_edge:  # with no edge no deposit is enough; the line above says what is
        problems += _deposit_problems(
            profile, market, cash, price, stop_distance=stop_distance, volatility=volatility
        )
    if problems:
        raise ConfigError(
            f"this risk configuration can never trade {market.symbol} on {market.exchange} "
            f"with a deposit of {_fmt(cash)} {market.quote}; {len(problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in problems),
            problems=tuple(problems),
        )


def _market_problems(profile: RiskProfile, market: Market) -> list[str]:
    problems = []
    if not market.active:
        problems.append(f"market: {market.symbol} is not active on {market.exchange}")
    kind = "spot" if market.kind is MarketKind.SPOT else "swap"
    if kind != profile.market:
        problems.append(
            f"risk.market: {profile.market!r} but {market.symbol} is a {kind} market; "
            f"set market = {kind!r} or pick a {profile.market} symbol"
        )
    if profile.leverage.max > market.max_leverage:
        problems.append(
            f"risk.leverage.max: {profile.leverage.max}x is above {market.symbol}'s maximum "
            f"leverage {market.max_leverage}x; set leverage.max = {market.max_leverage}"
        )
    return problems


def _round_trip_fee(market: Market) -> float:
    taker = float(market.taker_fee_rate)
    return 2.0 * taker if taker > 0 else 0.0


def _fee_problems(profile: RiskProfile, market: Market) -> list[str]:
    fees = _round_trip_fee(market)
    if fees <= 0:
        return []
    exits = profile.exits
    why = f"the round-trip taker fee 2 x {float(market.taker_fee_rate):g} = {fees:g}"
    problems = []
    if exits.stop_loss_pct is not None and exits.stop_loss_pct <= fees:
        problems.append(
            f"risk.exits.stop_loss_pct: {exits.stop_loss_pct:g} is no wider than {why}, so "
            f"fees alone trip it; set stop_loss_pct above {fees:g} (e.g. {_roomy(fees):g})"
        )
    if exits.take_profit_pct is not None and exits.take_profit_pct <= fees:
        problems.append(
            f"risk.exits.take_profit_pct: {exits.take_profit_pct:g} does not cover {why}, so "
            f"every target exit loses; set take_profit_pct above {fees:g} "
            f"(e.g. {_roomy(fees):g})"
        )
    for level, _fraction in exits.partial_targets:
        if level <= fees:
            problems.append(
                f"risk.exits.partial_targets: level {level:g} does not cover {why}; set each "
                f"level above {fees:g} (e.g. {_roomy(fees):g})"
            )
    return problems


def _roomy(fees: float) -> float:
    """A round number comfortably past ``fees`` (twice them, rounded up to 2 digits)."""
    target = 2.0 * fees
    scale = 10.0 ** (math.floor(math.log10(target)) - 1)
    return math.ceil(target / scale) * scale


def _kelly_problems(sizing: SizingSettings) -> list[str]:
    win, payoff = sizing.win_rate, sizing.payoff
    if win is None or payoff is None:
        return []
    edge = win - (1.0 - win) / payoff
    if edge > 0:
        return []
    needed = (1.0 - win) / win
    return [
        f"risk.sizing.payoff: {payoff:g} with win_rate {win:g} gives a Kelly share "
        f"{edge:.4g} <= 0 (no edge), so nothing is ever opened; payoff must exceed "
        f"{needed:.4g} at this win rate"
    ]


def _stake(
    profile: RiskProfile, stop_distance: float | None, volatility: float | None
) -> dict[str, Any]:
    """The deposit calculator's stake settings, or the smallest orders where the mode's
    inputs are the market's (an ATR stop, a volatility not measured yet)."""
    sizing = profile.sizing
    distance = stop_distance if stop_distance is not None else profile.exits.stop_loss_pct
    unknown = (sizing.mode == "risk" and distance is None) or (
        sizing.mode == "vol_target" and volatility is None
    )
    if unknown:
        return {"stake_mode": None}
    return {
        "stake_mode": sizing.mode,
        "stake_amount": sizing.amount,
        "stop_distance": distance,
        "volatility": volatility,
        "target_volatility": sizing.target_volatility,
        "win_rate": sizing.win_rate,
        "payoff": sizing.payoff,
        "kelly_cap": sizing.kelly_cap,
    }


def _deposit_problems(
    profile: RiskProfile,
    market: Market,
    cash: float,
    price: float | Decimal | None,
    *,
    stop_distance: float | None,
    volatility: float | None,
) -> list[str]:
    """One position, at the best leverage allowed, through ``risk.deposit``'s calculator."""
    if price is None:
        # Without a price only the minimum notional can bind: price the market where its
        # smallest amount costs exactly that.
        if market.min_cost <= 0:
            return []
        smallest_amount = max(market.min_amount, market.amount_tick) * market.contract_size
        price = market.min_cost / smallest_amount
    leverage = min(profile.leverage.max, market.max_leverage)
    settings = DepositSettings(
        prices={market.symbol: price},
        max_open_positions=1,
        margin_multiplier=profile.margin_multiplier,
        leverage=leverage,
        **_stake(profile, stop_distance, volatility),
    )
    allowance = what_deposit_allows([market], Decimal(repr(cash)), settings)
    need = allowance.markets[0]
    problems = []
    setting = (
        f"the {allowance.stake_mode} sizing, leverage {leverage}x, margin_multiplier "
        f"{profile.margin_multiplier:g}"
    )
    if allowance.ok:
        pass
    elif need.deposit_needed is not None and Decimal(repr(cash)) < need.deposit_needed:
        problems.append(
            f"deposit: {_fmt(cash)} {market.quote} cannot open {market.symbol}'s smallest "
            f"order of {need.min_order_notional} {market.quote} with {setting}; a deposit "
            f"of at least {need.deposit_needed} {market.quote} works"
        )
    elif need.stake_needed is not None:
        problems.append(
            f"risk.sizing.amount: {profile.sizing.amount:g} {market.quote} per position "
            f"cannot reach {market.symbol}'s smallest order of {need.min_order_notional} "
            f"{market.quote}; an amount of at least {need.stake_needed} works"
        )
    else:
        # No deposit is enough: the calculator's report says what ties up too much.
        report = minimum_deposit([market], settings)
        problems.append(
            f"risk.sizing: {setting} can open no position on {market.symbol} whatever the "
            f"deposit: {report.reasons[-1] if report.reasons else 'see xraybot risk explain'}"
        )
    problems += _limit_problems(profile, cash, float(need.min_order_notional))
    return problems


def _limit_problems(profile: RiskProfile, cash: float, smallest: float) -> list[str]:
    if cash <= 0 or smallest <= 0:
        return []
    problems = []
    for name in ("max_symbol_exposure", "max_total_exposure", "max_cluster_exposure"):
        multiple = getattr(profile.limits, name)
        if multiple is not None and multiple * cash < smallest:
            problems.append(
                f"risk.limits.{name}: {multiple:g} x deposit {_fmt(cash)} = "
                f"{_fmt(multiple * cash)} is below the smallest order {_fmt(smallest)}; "
                f"set {name} to at least {_up(smallest / cash)}"
            )
    return problems


def _up(value: float) -> Decimal:
    """Round a needed number up to 4 significant digits (after dropping float noise)."""
    if not value > 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 4
        ctx.rounding = ROUND_CEILING
        rounded = +Decimal(f"{value:.10g}")
    return Decimal(format(rounded, "f"))
