"""The decision step's plain data: its configuration, the account view, its verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from xraybot.model.errors import InvalidInputError
from xraybot.model.fills import Position
from xraybot.model.market import Market, MarketKind
from xraybot.model.signals import IntentKind, OrderIntent
from xraybot.risk.exits import ExitRules
from xraybot.risk.leverage import LeverageDecision
from xraybot.risk.limits import LimitDecision, OpenPosition
from xraybot.risk.profile import RiskProfile
from xraybot.risk.protections_chain import ProtectionDecision
from xraybot.risk.sizing import SizingDecision
from xraybot.strategy.base import Params, Strategy

__all__ = [
    "REGIME_SPAN",
    "WINDOW_MARGIN",
    "AccountView",
    "Directions",
    "SignalRow",
    "StepConfig",
    "StepDecision",
    "window_size",
]

# The volatility regime compares the current volatility with its mean over this many
# volatility periods, as the backtest's risk inputs do (``backtest.risk_inputs.REGIME_SPAN``).
REGIME_SPAN = 10

Directions = Literal["long", "short", "both"]

# Candles beyond the strategy's warm-up: recursive indicators (EMA, Wilder's RSI/ATR) started
# on a window instead of the whole history must have converged to the kernel's values.
WINDOW_MARGIN = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class StepConfig:
    """One user's strategy on one market: what ``decide`` needs besides the account.

    ``params`` are already resolved (``strategy.resolve``). ``exits`` None: the profile's exit
    settings when any is set, else the strategy's own ``exit_rules(params)``. ``window`` None:
    ``window_size``. ``clusters`` is the X-ray's symbol -> cluster map for the limits.
    """

    user_id: str
    strategy: Strategy
    params: Params
    market: Market
    profile: RiskProfile = field(default_factory=RiskProfile)
    directions: Directions = "long"
    exits: ExitRules | None = None
    window: int | None = None
    clusters: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        where = f"StepConfig({self.user_id!r}, {self.market.symbol!r})"
        if self.directions not in ("long", "short", "both"):
            raise InvalidInputError(
                f"{where}: directions must be long, short or both; found {self.directions!r}."
            )
        if self.directions != "long" and self.market.kind is not MarketKind.SWAP:
            raise InvalidInputError(
                f"{where}: spot cannot sell short; found directions {self.directions!r} on "
                f"{self.market.symbol}. Use directions='long' or a swap market."
            )
        if self.window is not None and self.window < 1:
            raise InvalidInputError(f"{where}: window must be >= 1; found {self.window}.")

    def exit_rules(self) -> ExitRules:
        """The exit rules in force (see the class docstring)."""
        if self.exits is not None:
            return self.exits
        mine = self.profile.exit_rules()
        if mine != ExitRules():
            return mine
        return self.strategy.exit_rules(self.params)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    """The account as the journal knows it when the candle closes.

    ``position`` is the open position in this market's symbol, if any; ``others`` the open
    positions elsewhere (their notional at current prices), which the limits count.
    """

    equity: float
    free_cash: float
    position: Position | None = None
    others: tuple[OpenPosition, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRow:
    """The strategy's verdict on the last closed candle."""

    ts_ms: int  # the candle's open time: the signal candle of every intent
    close: float
    entry_long: bool
    exit_long: bool
    entry_short: bool
    exit_short: bool
    strength: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepDecision:
    """What the step decided on one candle and why.

    ``intents`` in sending order (OPEN or CLOSE first, then the protective orders);
    ``skipped`` names each reason nothing (more) was sent; ``notes`` the numbers behind the
    entry. The risk decisions are kept whole for ``xraybot risk explain``-style output.
    """

    symbol: str
    intents: tuple[OrderIntent, ...] = ()
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    row: SignalRow | None = None
    stop_price: Decimal | None = None
    target_price: Decimal | None = None
    protection: ProtectionDecision | None = None
    leverage: LeverageDecision | None = None
    sizing: SizingDecision | None = None
    limits: LimitDecision | None = None

    def of_kind(self, kind: IntentKind) -> tuple[OrderIntent, ...]:
        return tuple(i for i in self.intents if i.kind is kind)

    @property
    def opens(self) -> OrderIntent | None:
        found = self.of_kind(IntentKind.OPEN)
        return found[0] if found else None

    @property
    def closes(self) -> OrderIntent | None:
        found = self.of_kind(IntentKind.CLOSE)
        return found[0] if found else None


def window_size(
    strategy: Strategy, params: Params, exits: ExitRules, volatility_period: int
) -> int:
    """Candles the step evaluates: the warm-up plus ``WINDOW_MARGIN``, and enough for the
    ATR of the exits and the volatility regime of the sizing (``step_entry.REGIME_SPAN``)."""
    return max(
        strategy.warmup(params) + WINDOW_MARGIN,
        exits.atr_period + WINDOW_MARGIN,
        (REGIME_SPAN + 1) * volatility_period + WINDOW_MARGIN,
    )
