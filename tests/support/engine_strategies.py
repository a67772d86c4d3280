"""Hypothesis strategies for the backtest properties: price walks, signal sets, exit rules,
accounts and risk layers."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.risk_results import RiskSettings
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.risk.limits import LimitSettings
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.strategy.base import Signals

HOUR = 3_600_000


@st.composite
def walks(draw: st.DrawFn, min_size: int = 2, max_size: int = 80) -> Candles:
    """A random walk of consistent candles (low <= open, close <= high), gaps included."""
    n = draw(st.integers(min_size, max_size))
    fraction = st.floats(0.0, 0.06)
    moves = np.array(draw(st.lists(st.floats(-0.08, 0.08), min_size=n, max_size=n)))
    gaps = np.array(draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n)))
    gaps[np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))] = 0.0
    ups = np.array(draw(st.lists(fraction, min_size=n, max_size=n)))
    downs = np.array(draw(st.lists(fraction, min_size=n, max_size=n)))
    close = 100.0 * np.cumprod(1.0 + moves)
    previous = np.concatenate(([100.0], close[:-1]))
    open_ = previous * (1.0 + gaps)
    high = np.maximum(open_, close) * (1.0 + ups)
    low = np.minimum(open_, close) * (1.0 - downs)
    start = draw(st.integers(0, 30)) * HOUR
    ts = start + np.arange(n, dtype=np.int64) * HOUR
    return Candles("PROP/USDT", "1h", ts, open_, high, low, close, np.ones(n))


def bools(n: int) -> st.SearchStrategy[Any]:
    return st.lists(st.booleans(), min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=np.bool_)
    )


@st.composite
def signal_sets(draw: st.DrawFn, n: int, short: bool) -> Signals:
    if short:
        return Signals(draw(bools(n)), draw(bools(n)), draw(bools(n)), draw(bools(n)))
    return Signals(draw(bools(n)), draw(bools(n)))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def exit_rules(draw: st.DrawFn) -> ExitRules:
    partials: tuple[tuple[float, float], ...] = ()
    if draw(st.booleans()):
        first = draw(st.floats(0.005, 0.05))
        second = first + draw(st.floats(0.005, 0.05))
        a = draw(st.floats(0.1, 0.6))
        b = draw(st.floats(0.1, 1.0 - a))
        partials = ((first, a), (second, b))
    return ExitRules(
        stop_loss_pct=draw(maybe(st.floats(0.005, 0.2))),
        take_profit_pct=draw(maybe(st.floats(0.005, 0.3))),
        stop_loss_atr=draw(maybe(st.floats(0.5, 4.0))),
        take_profit_atr=draw(maybe(st.floats(0.5, 6.0))),
        atr_period=draw(st.integers(1, 10)),
        trailing_pct=draw(maybe(st.floats(0.005, 0.2))),
        trailing_activation_pct=draw(st.floats(0.0, 0.1)),
        breakeven_at_pct=draw(maybe(st.floats(0.005, 0.1))),
        partial_targets=partials,
        time_exit_candles=draw(maybe(st.integers(1, 12))),
    )


@st.composite
def accounts(
    draw: st.DrawFn, *, swap: bool | None = None, funding: bool = True
) -> BacktestSettings:
    market = (
        draw(st.sampled_from(["spot", "swap"])) if swap is None else ("swap" if swap else "spot")
    )
    stake = draw(st.sampled_from(["all", "fraction", "fixed"]))
    amount = {
        "all": 1.0,
        "fraction": draw(st.floats(0.05, 1.0)),
        "fixed": draw(st.floats(10.0, 20_000.0)),
    }[stake]
    common: dict[str, Any] = {
        "equity": draw(st.floats(100.0, 1e6)),
        "fee_rate": draw(st.sampled_from([0.0, 0.0005, 0.001, 0.002])),
        "slippage_bps": draw(st.sampled_from([0.0, 0.0, 5.0, 30.0])),
        "slippage_atr": draw(st.sampled_from([0.0, 0.0, 0.3])),
        "stake": stake,
        "stake_amount": amount,
    }
    if market == "spot":
        return BacktestSettings(**common)
    leverage = draw(st.sampled_from([1.0, 2.0, 5.0, 20.0]))
    return BacktestSettings(
        **common,
        market="swap",
        directions=draw(st.sampled_from(["long", "short", "both"])),
        leverage=leverage,
        maintenance_margin_rate=draw(st.sampled_from([0.0, 0.005, 0.02])),
        funding_rate=draw(st.sampled_from([0.0, 0.0001, -0.0003])) if funding else 0.0,
    )


def hours(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high).map(lambda h: h * HOUR)


@st.composite
def protection_settings(draw: st.DrawFn) -> ProtectionSettings:
    dynamic = None
    if draw(st.booleans()):
        dynamic = {
            "floor": draw(st.floats(0.1, 1.0)),
            "win_rate": draw(maybe(st.just({"trades": draw(st.integers(1, 5))}))),
            "drawdown": draw(maybe(st.just({}))),
            "volatility": draw(maybe(st.just({}))),
        }
    return ProtectionSettings(
        cooldown=draw(maybe(hours(1, 12))),
        stoploss_guard=draw(
            maybe(
                st.fixed_dictionaries(
                    {
                        "stop_losses": st.integers(1, 3),
                        "window": hours(1, 24),
                        "pause": hours(1, 24),
                        "scope": st.sampled_from(["symbol", "account"]),
                    }
                )
            )
        ),
        max_drawdown=draw(
            maybe(
                st.fixed_dictionaries(
                    {"max_drawdown": st.floats(0.02, 0.5), "pause": maybe(hours(1, 48))}
                )
            )
        ),
        low_profit=draw(
            maybe(
                st.fixed_dictionaries(
                    {
                        "trades": st.integers(1, 4),
                        "min_return": st.floats(-0.05, 0.02),
                        "pause": hours(1, 24),
                    }
                )
            )
        ),
        daily_loss=draw(maybe(st.floats(0.01, 0.3))),
        dynamic_risk=dynamic,
    )


@st.composite
def limit_settings(draw: st.DrawFn) -> LimitSettings:
    return LimitSettings(
        max_open_positions=draw(maybe(st.integers(1, 3))),
        max_symbol_exposure=draw(maybe(st.floats(0.05, 3.0))),
        max_total_exposure=draw(maybe(st.floats(0.05, 3.0))),
        max_cluster_exposure=draw(maybe(st.floats(0.05, 3.0))),
        margin_multiplier=draw(maybe(st.floats(1.0, 4.0))),
    )


@st.composite
def risk_layers(draw: st.DrawFn, exits: ExitRules, swap: bool, start_ms: int) -> RiskSettings:
    has_stop = exits.stop_loss_pct is not None or exits.stop_loss_atr is not None
    modes = ["stake", "vol_target", "kelly", *(["risk"] if has_stop else [])]
    return RiskSettings(
        sizing=draw(st.sampled_from(modes)),
        risk_per_trade=draw(st.floats(0.001, 0.1)),
        target_volatility=draw(st.floats(0.001, 0.05)),
        volatility_period=draw(st.integers(2, 6)),
        kelly_cap=draw(st.floats(0.05, 1.0)),
        kelly_min_trades=draw(st.integers(1, 4)),
        auto_leverage=swap and draw(st.booleans()),
        leverage_safety=draw(st.floats(0.0, 2.0)),
        min_notional=draw(st.sampled_from([0.0, 0.0, 50.0])),
        protections=draw(protection_settings()),
        limits=draw(limit_settings()),
        shrink_to_limits=draw(st.booleans()),
        kill_at_ms=draw(maybe(st.integers(0, 90).map(lambda h: start_ms + h * HOUR))),
    )
