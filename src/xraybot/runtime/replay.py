"""Faithful replay: the live engine, driven by a replay clock, trading against the simulator.

``replay`` writes the given candles as replay files, serves the simulator in-process over
them (``sim.replay.ReplayMarket`` on a frozen ``SimClock``) and runs one paper user with the
strategy through ``EmbeddedRuntime``: the shared feed, ``trading.step.decide``, the order
manager and the journal, exactly as ``xraybot run`` does. The simulator clock and the
runtime's ``ManualClock`` move together, one candle at a time, and the next step waits until
every symbol's candle was decided, so a replay is deterministic however slow the machine.

The first decision is on the candle that completes the step's window (``window_size``); the
last is on the second-to-last candle, whose order fills at the last candle's open, as the
kernel's last possible fill. A position still open at the end is closed on paper at the last
candle's close with reason ``end``, as the kernel does. The journal's trades become the
backtest's ``TradeRecords`` so the two can be compared: entry/exit times are the candles
whose open filled (the fill time floored to the timeframe), prices are the paper fills (the
simulator's quote plus the paper slippage), amounts in base units.

With ``BacktestSettings.risk_rules`` on, the replay user trades under the same risk layer as
the portfolio kernel (``replay_profile``): its protections, its limits (the tighter of
``max_open_trades`` and ``max_open_positions``), its clusters, and the stake as the sizing
(``fraction`` or ``fixed``); the runtime feeds the protections and counts every open position
in the limits as the kernel does (``runtime.embedded_account``). Sizing modes other than the
stake, a minimum notional, no shrinking to the limits and a kill time are refused.

With ``market="swap"`` the user trades the simulator's replayed perpetual of each pair
(``BTC_USDT``, the same candles; a symbol is given as ``BTC/USDT`` or ``BTC/USDT:USDT``, and
the results keep the name given) in the ``directions`` asked, with the settings' leverage as
the user's cap (a whole number up to the contract's maximum). The live step takes its
leverage from the stop (``trading.step_entry``, the kernel's ``auto_leverage``), so without a
stop it trades 1x where the kernel trades the settings' leverage: the trips are the same,
the amounts and a liquidation are not. Amounts round to whole contracts and are reported in
base units. Neither the simulator's contracts nor the paper ledger charge funding, so a
non-zero ``funding_rate`` is refused, as is a pair the simulator lists no perpetual for (too
little volume in its candles).

Each decision goes through HTTP to the in-process simulator, so a replay is far slower than
the kernel (tens of milliseconds per candle).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from xraybot.backtest.results import BacktestSettings, TradeRecords
from xraybot.data.feed_events import FeedSettings
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.quirks import ccxt_config, quirks_for
from xraybot.matching.rules import EXIT_REASON_NAMES, EXIT_SIGNAL
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, OperationalError
from xraybot.model.fills import Trade
from xraybot.model.signals import Direction
from xraybot.model.users import TradingMode, UserProfile
from xraybot.risk.profile import LeverageSettings, LimitTable, RiskProfile, SizingSettings
from xraybot.runtime.clock import ManualClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser
from xraybot.runtime.servers import serve_in_thread
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.replay import ReplayMarket
from xraybot.storage.memory import MemoryJournal, MemoryOrderRepository, MemoryStore
from xraybot.strategy.base import Strategy
from xraybot.trading.step import StepConfig, window_size
from xraybot.users.settings import UserSettings, settings_from

EXCHANGE = "sim"
USER_ID = "replay"
_DATA_EXCHANGE = "replay"  # the folder the candles are written to
_FILL_OFFSET_MS = 1  # decide just after a close: the candle is closed, the next one just open
_REASON_CODES = {name: code for code, name in EXIT_REASON_NAMES.items()}
# A user's leverage cap bounds the replay's leverage (the contract's maximum may be higher).
_MAX_LEVERAGE: int = next(
    m.le for m in UserSettings.model_fields["leverage_cap"].metadata if hasattr(m, "le")
)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay traded: the journal's trades per symbol, as the backtest's records."""

    strategy: str
    timeframe: str
    trades: Mapping[str, TradeRecords]  # by symbol
    first_decision_ts: Mapping[str, int]  # by symbol: the first candle decided
    decisions: int
    errors: int


def _write_files(root: Path, candles_by_symbol: Mapping[str, Candles]) -> None:
    folder = root / "ohlcv" / _DATA_EXCHANGE
    folder.mkdir(parents=True)
    for symbol, candles in candles_by_symbol.items():
        base, _, rest = symbol.partition("/")
        quote = rest.partition(":")[0]  # BTC/USDT:USDT replays the BTC_USDT candles too
        lines = ["timestamp,open,high,low,close,volume"]
        for i in range(len(candles)):
            lines.append(
                f"{int(candles.ts_ms[i])},{float(candles.open[i])!r},"
                f"{float(candles.high[i])!r},{float(candles.low[i])!r},"
                f"{float(candles.close[i])!r},{float(candles.volume[i])!r}"
            )
        path = folder / f"{base}_{quote}-{candles.timeframe}.csv.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def _check(candles_by_symbol: Mapping[str, Candles], settings: BacktestSettings) -> str:
    if not candles_by_symbol:
        raise InvalidInputError("a replay needs candles; found no symbol.")
    timeframes = {c.timeframe for c in candles_by_symbol.values()}
    if len(timeframes) != 1:
        raise InvalidInputError(
            f"a replay runs one timeframe; found {', '.join(sorted(timeframes))}."
        )
    swap = settings.market == "swap"
    for symbol in candles_by_symbol:
        base, _, rest = symbol.partition("/")
        quote, colon, settle = rest.partition(":")
        if not base or not quote or (colon and (not swap or settle != quote)):
            shape = "BTC/USDT or a linear swap like BTC/USDT:USDT" if swap else "BTC/USDT"
            raise InvalidInputError(
                f"a {settings.market} replay symbol must be a pair like {shape}; found {symbol!r}."
            )
    if swap:
        if settings.funding_rate != 0:
            raise InvalidInputError(
                "a swap replay charges no funding (the simulator's contracts and the paper "
                f"ledger have none); found funding_rate={settings.funding_rate!r}. "
                "Replay with funding_rate=0 or use the kernel."
            )
        if settings.leverage != int(settings.leverage):
            raise InvalidInputError(
                "a swap replay trades a whole leverage, as the exchange does; found "
                f"leverage={settings.leverage!r}. Use 1, 2, 3..."
            )
        if settings.leverage > _MAX_LEVERAGE:
            raise InvalidInputError(
                f"a replay user trades at most {_MAX_LEVERAGE}x (settings.leverage_cap); found "
                f"leverage={settings.leverage:g}. Use 1 to {_MAX_LEVERAGE}."
            )
    return timeframes.pop()


def _traded(symbol: str, market: str) -> str:
    """The market the replay user trades for a given symbol (a swap's ``BASE/QUOTE:QUOTE``)."""
    if market != "swap" or ":" in symbol:
        return symbol
    return f"{symbol}:{symbol.partition('/')[2]}"


def _check_swap_markets(market: ReplayMarket, traded: Sequence[str], leverage: int) -> None:
    """Refuse a symbol the simulator lists no contract for, or a leverage above its maximum."""
    for symbol in traded:
        base, _, rest = symbol.partition("/")
        swap_id = f"{base}_{rest.partition(':')[0]}"
        try:
            listed = market.symbol(swap_id)
        except KeyError:  # a perpetual is listed only for candles over 10 million quote a day
            raise InvalidInputError(
                f"the replayed simulator lists no {symbol} contract; found too little volume in "
                "its candles. Replay it with market='spot' or use the kernel."
            ) from None
        if leverage > listed.max_leverage:
            raise InvalidInputError(
                f"{symbol}: leverage {leverage} is above the replayed contract's maximum "
                f"{listed.max_leverage}; found leverage={leverage}. Use 1 to {listed.max_leverage}."
            )


def replay_profile(settings: BacktestSettings, timeframe: str) -> RiskProfile | None:
    """The replay user's risk profile for the kernel's risk layer; None when its rules are off
    (the user's default profile then sizes, with no protection or limit on)."""
    layer = settings.risk_layer
    if not settings.risk_rules or layer is None:
        return None
    refused = {
        "sizing other than the stake": layer.sizing != "stake",
        "a stake of all the free cash (its split across open slots)": settings.stake == "all",
        "a min_notional": layer.min_notional > 0,
        "shrink_to_limits off": not layer.shrink_to_limits,
        "a kill_at_ms": layer.kill_at_ms is not None,
    }
    found = [name for name, bad in refused.items() if bad]
    if found:
        raise InvalidInputError(
            f"a replay with risk_rules cannot express {', '.join(found)} yet; found them in "
            "the settings. Use stake='fraction' or 'fixed' with sizing='stake', or the kernel."
        )
    limits = layer.limits
    slots = settings.max_open_trades
    max_open = slots if limits.max_open_positions is None else min(slots, limits.max_open_positions)
    return RiskProfile(
        market=settings.market,
        timeframe=timeframe,
        leverage=LeverageSettings(max=int(settings.leverage)),
        margin_multiplier=limits.margin_multiplier or 1.0,
        sizing=SizingSettings(
            mode=settings.stake,
            amount=settings.stake_amount,
            volatility_period=layer.volatility_period,
        ),
        limits=LimitTable(
            max_open_positions=max_open,
            max_symbol_exposure=limits.max_symbol_exposure,
            max_total_exposure=limits.max_total_exposure,
            max_cluster_exposure=limits.max_cluster_exposure,
        ),
        protections=layer.protections,
    )


def _user(
    symbols: Sequence[str],
    spec: str,
    params: Mapping[str, Any],
    timeframe: str,
    settings: BacktestSettings,
) -> RunUser:
    profile = UserProfile(
        user_id=USER_ID, name=USER_ID, created_ts_ms=0, exchange=EXCHANGE, mode=TradingMode.PAPER
    )
    document = {
        "exchange": EXCHANGE,
        "market": settings.market,
        "mode": "paper",
        "leverage_cap": int(settings.leverage),
        "selection": {"symbols": list(symbols)},
        "strategy": {"name": spec, "timeframe": timeframe, "params": dict(params)},
    }
    return RunUser(profile=profile, settings=settings_from(document, where="the replay user"))


def _records(trades: Sequence[Trade], candles: Candles) -> TradeRecords:
    tf = candles.timeframe_ms
    trades = sorted(trades, key=lambda t: (t.entry_ts_ms, t.exit_ts_ms))
    entry_ts = np.array([t.entry_ts_ms - t.entry_ts_ms % tf for t in trades], dtype=np.int64)
    exit_ts = np.array([t.exit_ts_ms - t.exit_ts_ms % tf for t in trades], dtype=np.int64)
    direction = np.array(
        [1 if t.direction is Direction.LONG else -1 for t in trades], dtype=np.int8
    )
    entry = np.array([float(t.entry_price) for t in trades], dtype=np.float64)
    exit_ = np.array([float(t.exit_price) for t in trades], dtype=np.float64)
    amount = np.array([float(t.amount) for t in trades], dtype=np.float64)
    fee = np.array([float(t.fees) for t in trades], dtype=np.float64)
    pnl = (exit_ - entry) * amount * direction - fee
    reason = np.array(
        [_REASON_CODES.get(t.exit_reason, EXIT_SIGNAL) for t in trades], dtype=np.int8
    )
    ts = np.asarray(candles.ts_ms)
    return TradeRecords(
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        direction=direction,
        entry_price=entry,
        exit_price=exit_,
        amount=amount,
        fee=fee,
        funding=np.zeros(len(trades), dtype=np.float64),
        pnl=pnl,
        exit_reason=reason,
        entry_index=np.searchsorted(ts, entry_ts).astype(np.int64),
        exit_index=np.searchsorted(ts, exit_ts).astype(np.int64),
    )


async def _fast_sleep(seconds: float) -> None:
    # The feed waits on the frozen simulator clock: look again soon instead of sleeping long.
    await asyncio.sleep(min(seconds, 0.005))


async def _wait(runtime: EmbeddedRuntime, target: int, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while sum(runtime.stats.decisions.values()) + runtime.stats.errors < target:
        if loop.time() > deadline:
            raise OperationalError(
                f"the replay waited {timeout_s:g} s for a decision that never came; "
                f"found {sum(runtime.stats.decisions.values())} decisions, "
                f"{runtime.stats.errors} errors of {target}."
            )
        await asyncio.sleep(0.002)


async def replay_async(
    candles_by_symbol: Mapping[str, Candles],
    strategy: Strategy,
    params: Mapping[str, Any] | None = None,
    settings: BacktestSettings | None = None,
    *,
    strategy_spec: str | None = None,
    step_timeout_s: float = 30.0,
    progress: Any = None,
) -> ReplayResult:
    """``replay`` inside a running event loop (see the module docstring)."""
    settings = settings if settings is not None else BacktestSettings()
    timeframe = _check(candles_by_symbol, settings)
    traded = {s: _traded(s, settings.market) for s in candles_by_symbol}
    if len(set(traded.values())) != len(traded):
        raise InvalidInputError(f"a replay trades each market once; found {list(traded)}.")
    resolved = strategy.resolve(dict(params or {}))
    spec = strategy_spec if strategy_spec is not None else strategy.name
    exits = settings.exits if settings.exits is not None else strategy.exit_rules(resolved)
    profile = _profile(settings, timeframe)
    need = window_size(strategy, resolved, exits, profile.sizing.volatility_period)
    tf = next(iter(candles_by_symbol.values())).timeframe_ms
    starts = [int(c.ts_ms[need - 1]) for c in candles_by_symbol.values() if len(c) > need]
    if len(starts) != len(candles_by_symbol):
        raise InvalidInputError(
            f"a replay of {strategy.name} needs more than {need} candles per symbol "
            f"(its window); found {min(len(c) for c in candles_by_symbol.values())}."
        )
    start = max(starts) + tf
    end = min(int(c.ts_ms[-1]) for c in candles_by_symbol.values())
    with tempfile.TemporaryDirectory(prefix="xraybot-replay-") as tmp:
        _write_files(Path(tmp), candles_by_symbol)
        sim_clock = SimClock(start + _FILL_OFFSET_MS, speed=0)
        market = ReplayMarket(sim_clock, Path(tmp), exchange=_DATA_EXCHANGE)
        if settings.market == "swap":
            _check_swap_markets(market, list(traded.values()), int(settings.leverage))
        user = _user(list(traded.values()), spec, dict(params or {}), timeframe, settings)
        config = SimConfig(port=0, match_interval_ms=0, rate_limits=RateLimits(enabled=False))
        with serve_in_thread(create_app(config, market)) as url:
            return await _drive(
                url, sim_clock, start, end, tf, user, strategy, settings, candles_by_symbol,
                traded, profile, need, step_timeout_s, progress,
            )  # fmt: skip


def _profile(settings: BacktestSettings, timeframe: str) -> RiskProfile:
    """The kernel's risk layer if its rules are on, else the market's defaults; capped at the
    settings' leverage either way."""
    return replay_profile(settings, timeframe) or RiskProfile(
        market=settings.market,
        timeframe=timeframe,
        leverage=LeverageSettings(max=int(settings.leverage)),
    )


async def _drive(
    url: str,
    sim_clock: SimClock,
    start: int,
    end: int,
    tf: int,
    user: RunUser,
    strategy: Strategy,
    settings: BacktestSettings,
    candles_by_symbol: Mapping[str, Candles],
    traded: Mapping[str, str],
    profile: RiskProfile,
    need: int,
    step_timeout_s: float,
    progress: Any,
) -> ReplayResult:
    import ccxt.async_support

    client = ccxt.async_support.mexc(
        {**ccxt_config(EXCHANGE, sim_url=url, api_key=None, secret=None), "timeout_on_exit": 0}
    )
    public = CcxtGateway(client, quirks_for(EXCHANGE), lookup_delays_s=(0.05, 0.1))

    async def public_for(exchange: str) -> ExchangeGateway:
        return public

    store = MemoryStore()
    journal = MemoryJournal(store)
    clock = ManualClock(sim_clock.now_ms())

    layer = settings.risk_layer
    clusters = None
    if settings.risk_rules and layer is not None and layer.clusters:
        symbols = list(traded.values())
        labels = zip(symbols, layer.cluster_of(list(candles_by_symbol)).tolist(), strict=True)
        clusters = {s: c for s, c in labels if c >= 0}  # -1: in no group, a cluster of its own

    def backtest_config(config: StepConfig) -> StepConfig:
        return dataclasses.replace(
            config,
            strategy=strategy,
            exits=settings.exits,
            directions=settings.directions,
            profile=profile,
            clusters=clusters,
        )

    runtime = EmbeddedRuntime(
        [user],
        gateways=GatewayFactory(
            public=public_for, paper_start={"USDT": Decimal(repr(float(settings.equity)))}
        ),
        journal=journal,
        orders=MemoryOrderRepository(store),
        clock=clock,
        settings=EmbeddedSettings(
            feed=FeedSettings(window=need, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
            feed_clock=sim_clock.now_ms,
            sleep=_fast_sleep,
            step_config=backtest_config,
        ),
    )
    pairs = len(candles_by_symbol)
    steps = (end - start) // tf
    try:
        await runtime.start()
        if not runtime.traders:
            raise OperationalError(f"the replay user was refused: {runtime.stats.refused}")
        await _wait(runtime, pairs, step_timeout_s)
        for k in range(steps):
            now = sim_clock.advance(tf)
            clock.set(now)
            await _wait(runtime, pairs * (k + 2), step_timeout_s)
            if progress is not None:
                progress(k + 1, steps)
        markets = await public.markets()
        given = {t: s for s, t in traded.items()}
        trades = list(await journal.trades(USER_ID))
        trades += [
            _close_at_end(p, candles_by_symbol[given[p.symbol]], markets[p.symbol].contract_size)
            for p in await journal.positions(USER_ID)
        ]
    finally:
        await runtime.stop()
        await public.close()
    by_symbol = {
        s: _records([t for t in trades if t.symbol == traded[s]], c)
        for s, c in candles_by_symbol.items()
    }
    return ReplayResult(
        strategy=strategy.name,
        timeframe=user.timeframe,
        trades=by_symbol,
        first_decision_ts={s: start - tf for s in candles_by_symbol},
        decisions=sum(runtime.stats.decisions.values()),
        errors=runtime.stats.errors,
    )


def _close_at_end(position: Any, candles: Candles, contract_size: Decimal) -> Trade:
    """Close what is open at the last close, as the kernel does (a trade counts base units)."""
    return Trade(
        trade_id=f"{position.symbol}-end",
        user_id=position.user_id,
        strategy=position.strategy,
        symbol=position.symbol,
        direction=position.direction,
        amount=position.amount * contract_size,
        entry_price=position.entry_price,
        exit_price=Decimal(repr(float(candles.close[-1]))),
        entry_ts_ms=position.opened_ts_ms,
        exit_ts_ms=int(candles.ts_ms[-1]),
        fees=Decimal(0),
        exit_reason="end",
        leverage=position.leverage,
    )


def replay(
    candles_by_symbol: Mapping[str, Candles],
    strategy: Strategy,
    params: Mapping[str, Any] | None = None,
    settings: BacktestSettings | None = None,
    *,
    strategy_spec: str | None = None,
    step_timeout_s: float = 30.0,
    progress: Any = None,
) -> ReplayResult:
    """Replay ``candles_by_symbol`` through the live engine against the simulator.

    ``strategy_spec`` is how the runtime loads the strategy (``load_strategy``; None: its
    name, so a built-in); the ``strategy`` object itself is what decides. ``settings`` gives
    the starting cash (``equity``), the exits (None: the strategy's own), the market (spot
    or swap), the directions and the leverage.
    ``progress(done, total)`` is called after each candle step.
    """
    return asyncio.run(
        replay_async(
            candles_by_symbol,
            strategy,
            params,
            settings,
            strategy_spec=strategy_spec,
            step_timeout_s=step_timeout_s,
            progress=progress,
        )
    )


__all__ = ["ReplayResult", "replay", "replay_async", "replay_profile"]
