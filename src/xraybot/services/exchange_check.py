"""Is the exchange reachable, is our clock in step with it, how much request budget is left?"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from xraybot.exchange.budgets import budgets_for_request
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.ratelimit import RateLimiter
from xraybot.model.market import MarketKind

# Representative public endpoints: what screening and data downloads spend most on.
_PROBES = (
    ("spot klines", ("spot", "public"), "klines"),
    ("spot tickers", ("spot", "public"), "ticker/24hr"),
    ("swap ticker", ("contract", "public"), "ticker"),
)


@dataclass(frozen=True, slots=True)
class BudgetHeadroom:
    name: str
    budget: str
    remaining: float
    capacity: float
    window_s: float


@dataclass(frozen=True, slots=True)
class ExchangeCheck:
    exchange: str
    reachable: bool
    round_trip_ms: float
    clock_offset_ms: float  # exchange clock minus ours, at the midpoint of the request
    spot_markets: int
    swap_markets: int
    active_markets: int
    tickers: int
    tickers_ms: float
    headroom: tuple[BudgetHeadroom, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def check_exchange(
    gateway: CcxtGateway,
    limiter: RateLimiter | None,
    *,
    wall_ms: Callable[[], float] = lambda: time.time() * 1000,
) -> ExchangeCheck:
    """Measure connectivity, clock offset, markets and rate-limit headroom of one exchange."""
    sent = wall_ms()
    server_ms = await gateway.fetch_time()
    received = wall_ms()
    markets = await gateway.markets()
    started = wall_ms()
    tickers = await gateway.fetch_tickers(kind=MarketKind.SPOT)
    tickers_ms = wall_ms() - started
    return ExchangeCheck(
        exchange=gateway.exchange_id,
        reachable=True,
        round_trip_ms=received - sent,
        clock_offset_ms=server_ms - (sent + received) / 2,
        spot_markets=sum(1 for m in markets.values() if m.kind is MarketKind.SPOT),
        swap_markets=sum(1 for m in markets.values() if m.kind is MarketKind.SWAP),
        active_markets=sum(1 for m in markets.values() if m.active),
        tickers=len(tickers),
        tickers_ms=tickers_ms,
        headroom=await _headroom(gateway, limiter),
    )


async def _headroom(
    gateway: CcxtGateway, limiter: RateLimiter | None
) -> tuple[BudgetHeadroom, ...]:
    if limiter is None:
        return ()
    rate_limit_ms = gateway.rate_limit_ms
    seen: dict[str, BudgetHeadroom] = {}
    for name, api, path in _PROBES:
        for budget, _weight in budgets_for_request(
            gateway.exchange_id, api, path, "GET", 1.0, rate_limit_ms, signed=False
        ):
            if budget.key not in seen:
                seen[budget.key] = BudgetHeadroom(
                    name=name,
                    budget=budget.key,
                    remaining=await limiter.headroom(budget, "public"),
                    capacity=budget.capacity,
                    window_s=budget.window_s,
                )
    return tuple(seen.values())
