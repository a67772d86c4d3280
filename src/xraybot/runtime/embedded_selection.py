"""Symbols for screener-driven users: the seeds' pipeline, screen → backtest → trade.

For a user whose ``settings.selection.screener`` is true, :class:`SymbolPicker` screens the
user's exchange through the shared public gateway (``xray.screener.run_screen``), fetches the
survivors' closed candles from the same gateway, backtests them out of sample with the user's
strategy, parameters and timeframe (``backtest.select.select_symbols``) and keeps the selected
ones in the screen's order, up to ``max_symbols``; every other survivor gets its reason.

A pick is cached per (exchange, market, strategy, params, timeframe, screen config) for the
selection interval and shared by every user with those settings: one screen serves them all.
Blacklist and ``max_symbols`` are applied per user on top of the shared pick.

The runtime re-picks on a schedule (``EmbeddedSettings.selection_interval``). A symbol that
drops out of a user's selection is still managed until the user is flat on it: its candles are
still decided, exits and protections still run, but OPEN intents are dropped (``may_open``).
A pick that selects nothing leaves the user idle (the reason is logged) and the next scheduled
pick tries again; the user is never refused for it.

The screen and selection settings come from ``selection.screen_config`` (a TOML file with an
optional ``[screen]`` and an optional ``[select]`` table); the user's strategy, params and
timeframe always override the ``[select]`` ones.
"""

from __future__ import annotations

import asyncio
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from xraybot.backtest.select import SelectionConfig, select_config_from, select_symbols
from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.retry import with_retries
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import UnknownSymbolError, XraybotError
from xraybot.model.market import Market, MarketKind
from xraybot.runtime.embedded_users import PublicSource, RunUser, risk_profile
from xraybot.strategy.registry import load_strategy
from xraybot.trading.step import StepConfig
from xraybot.xray.config import ScreenConfig, screen_config_from
from xraybot.xray.screener import run_screen

log = structlog.get_logger(__name__)

DAY_MS = 86_400_000
DEFAULT_SELECTION_INTERVAL_S = 6 * 3600.0
MAX_CANDLES = 2_000  # per survivor: bounds the requests a pick costs on a long history_days


@dataclass(frozen=True, slots=True)
class Pick:
    """One user's symbols from the shared screen + selection, and why the others are not."""

    symbols: tuple[str, ...]
    rejected: Mapping[str, str]  # symbol -> why it is not traded
    picked_ms: int
    note: str = ""  # why nothing was selected, when nothing was


@dataclass(frozen=True, slots=True)
class _Shared:
    selected: tuple[str, ...]  # the user's market symbols, screen order
    rejected: Mapping[str, str]
    picked_ms: int
    note: str


@dataclass(slots=True)
class SymbolPicker:
    """Screens and selects for screener-driven users, cached per settings for ``interval_s``."""

    public: PublicSource
    now_ms: Callable[[], int]
    interval_s: float = DEFAULT_SELECTION_INTERVAL_S
    screens: int = 0  # how many screens were run (tests count them)
    _cache: dict[tuple[object, ...], _Shared] = field(default_factory=dict)
    _locks: dict[tuple[object, ...], asyncio.Lock] = field(default_factory=dict)
    _closing_only: dict[str, set[str]] = field(default_factory=dict)  # user -> dropped symbols

    async def pick(self, user: RunUser) -> Pick:
        """Return the user's symbols now (from the cache while it is fresh)."""
        key = _key(user)
        async with self._locks.setdefault(key, asyncio.Lock()):
            shared = self._cache.get(key)
            now = self.now_ms()
            if shared is None or now - shared.picked_ms >= self.interval_s * 1000:
                shared = await self._run(user)
                self._cache[key] = shared
        return _for_user(user, shared)

    def may_open(self, user_id: str, symbol: str) -> bool:
        """False for a symbol dropped from the user's selection: managed until flat only."""
        return symbol not in self._closing_only.get(user_id, ())

    def apply(self, user_id: str, traded: set[str], pick: Pick) -> set[str]:
        """Record ``pick`` for a user trading ``traded``; return the symbols to start following.

        Symbols no longer picked become closing-only; picked ones may open again.
        """
        picked = set(pick.symbols)
        self._closing_only[user_id] = traded - picked
        for symbol in sorted(traded - picked):
            log.info(
                "symbol dropped from the selection; managed until flat, no new entries",
                user_id=user_id,
                symbol=symbol,
                reason=pick.rejected.get(symbol, "not selected"),
            )
        if not pick.symbols:
            log.warning("selection picked no symbol; user idle", user_id=user_id, note=pick.note)
        return picked - traded

    async def _run(self, user: RunUser) -> _Shared:
        exchange = user.settings.exchange
        screen, select = _configs(user)
        gateway = await self.public(exchange)
        markets = await with_retries(gateway.markets)
        self.screens += 1
        result = await run_screen(gateway, screen)
        now = self.now_ms()
        rejected: dict[str, str] = {}
        candles: dict[str, Candles] = {}
        order: list[str] = []
        for row in result.passed:
            symbol = _market_symbol(row.symbol, user.settings.market, markets)
            if symbol is None:
                rejected[row.symbol] = f"no {user.settings.market} market for {row.symbol}"
                continue
            try:
                series = await _history(gateway, symbol, select, now)
            except XraybotError as e:
                rejected[symbol] = f"no {select.timeframe} candles: {e}"
                continue
            order.append(symbol)
            candles[symbol] = series
        report = select_symbols(candles, select, exchange=exchange)
        verdicts = {s.symbol: s for s in report.symbols}
        selected = tuple(s for s in order if s in verdicts and verdicts[s].selected)
        for symbol in order:
            verdict = verdicts.get(symbol)
            if verdict is not None and not verdict.selected:
                rejected[symbol] = f"{verdict.stage}: " + "; ".join(verdict.reasons)
        note = ""
        if not selected:
            note = (
                f"the screen passed {len(result.passed)} of {result.universe_size} symbols"
                + (f" (emptied by {result.emptied_by})" if result.emptied_by else "")
                + f" and the selection kept none of them; the next pick is in {self.interval_s:g} s"
            )
        log.info(
            "screen and selection ran",
            exchange=exchange,
            strategy=user.settings.strategy.name,
            selected=list(selected),
            rejected=len(rejected),
        )
        return _Shared(selected, rejected, now, note)


def _key(user: RunUser) -> tuple[object, ...]:
    s = user.settings
    params = tuple(sorted((k, str(v)) for k, v in s.strategy.params.items()))
    return (s.exchange, s.market, s.strategy.name, params, s.strategy.timeframe,
            str(s.selection.screen_config))  # fmt: skip


def _for_user(user: RunUser, shared: _Shared) -> Pick:
    blocked = set(user.settings.blacklist)
    rejected = dict(shared.rejected)
    symbols: list[str] = []
    for symbol in shared.selected:
        if symbol in blocked:
            rejected[symbol] = "blacklisted"
        elif len(symbols) >= user.settings.selection.max_symbols:
            rejected[symbol] = f"selected, beyond max_symbols {user.settings.selection.max_symbols}"
        else:
            symbols.append(symbol)
    return Pick(tuple(symbols), rejected, shared.picked_ms, shared.note)


def _configs(user: RunUser) -> tuple[ScreenConfig, SelectionConfig]:
    path = user.settings.selection.screen_config
    tables: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as f:
            tables = tomllib.load(f)
    screen = (
        screen_config_from(tables["screen"], where=str(path))
        if "screen" in tables
        else ScreenConfig()
    )
    choice = user.settings.strategy
    select_table = {
        **tables.get("select", {}),
        "strategy": choice.name,
        "params": dict(choice.params),
        "timeframe": choice.timeframe,
    }
    where = f"the selection of {user.user_id}" + (f" ({path})" if path is not None else "")
    return screen, select_config_from(select_table, where=where)


def _market_symbol(spot: str, market: str, markets: Mapping[str, Market]) -> str | None:
    """The screened spot symbol as the user trades it (``BTC/USDT:USDT`` on swap)."""
    if market == "spot":
        found = markets.get(spot)
        return spot if found is not None and found.kind is MarketKind.SPOT else None
    base, _, quote = spot.partition("/")
    swap = f"{base}/{quote}:{quote}"
    return swap if swap in markets else None


async def _history(
    gateway: ExchangeGateway, symbol: str, config: SelectionConfig, now_ms: int
) -> Candles:
    tf_ms = timeframe_to_ms(config.timeframe)
    wanted = math.ceil(config.history_days * DAY_MS / tf_ms)
    count = max(1, min(wanted, MAX_CANDLES))
    since = now_ms - (now_ms % tf_ms) - count * tf_ms

    async def fetch() -> Candles:  # a coroutine function: tenacity awaits only those
        return await gateway.fetch_ohlcv(symbol, config.timeframe, since, now_ms)

    candles = await with_retries(fetch)
    return candles.closed(now_ms)


def picked_configs(
    user: RunUser, markets: Mapping[str, Market], symbols: tuple[str, ...]
) -> dict[str, StepConfig]:
    """One StepConfig per picked symbol (as ``embedded_users.step_configs`` for fixed ones)."""
    strategy = load_strategy(user.settings.strategy.name)
    params = strategy.resolve(dict(user.settings.strategy.params))
    profile = risk_profile(user)
    out: dict[str, StepConfig] = {}
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            raise UnknownSymbolError(
                f"the selection picked {symbol} for {user.user_id!r}, which "
                f"{user.settings.exchange} does not list; found no such market."
            )
        out[symbol] = StepConfig(
            user_id=user.user_id, strategy=strategy, params=params, market=market, profile=profile
        )
    return out


__all__ = ["DEFAULT_SELECTION_INTERVAL_S", "Pick", "SymbolPicker", "picked_configs"]
