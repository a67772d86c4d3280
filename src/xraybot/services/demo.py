"""The embedded demo: a local simulator, a check against it, a look at the market, a paper order.

Everything runs on 127.0.0.1 against the simulator; no real exchange and no money. The later
steps have modules of their own: ``demo_backtest`` (no exchange at all), ``demo_risk`` and
``demo_trading`` (three paper users through the embedded runtime). The dashboard joins later.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.paper import PaperGateway
from xraybot.exchange.port import OrderReport, Ticker
from xraybot.exchange.ratelimit import RateLimiter
from xraybot.model.market import MarketKind
from xraybot.model.orders import Order
from xraybot.model.signals import IntentKind, OrderIntent, OrderType, Side
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.runtime.servers import serve_in_thread
from xraybot.services.exchange_check import ExchangeCheck, check_exchange
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import SimConfig
from xraybot.sim.synthetic import SyntheticMarket

DEMO_USER = "demo"
DEMO_SYMBOL = "BTC/USDT"


@dataclass(frozen=True, slots=True)
class DemoReport:
    sim_url: str
    symbols: int
    check: ExchangeCheck
    top_by_volume: tuple[Ticker, ...]
    paper_order: OrderReport
    paper_usdt_before: Decimal
    paper_usdt_after: Decimal


@contextmanager
def running_simulator(*, port: int, symbols: int, seed: int) -> Iterator[tuple[str, int]]:
    """Start the simulator over a synthetic universe in a thread; yield (URL, symbol count)."""
    market = SyntheticMarket(SimClock(int(time.time() * 1000)), n_symbols=symbols, seed=seed)
    app = create_app(SimConfig(port=port, seed=seed), market)
    with serve_in_thread(app, port=port) as url:
        yield url, len(market.symbols())


async def tour(sim_url: str, symbols: int, limiter: RateLimiter | None = None) -> DemoReport:
    """Check the simulator, rank its markets by volume and place one paper order."""
    config = ExchangeConfig(exchange="sim", sim_url=sim_url)
    shared_limiter = limiter is not None
    limiter = limiter if limiter is not None else build_limiter(config)
    pool = build_pool(config, limiter)
    try:
        gateway = await public_gateway(pool, "sim")
        check = await check_exchange(gateway, limiter)
        tickers = await gateway.fetch_tickers(kind=MarketKind.SPOT)
        top = sorted(tickers.values(), key=lambda t: t.quote_volume_24h, reverse=True)[:10]
        order, before, after = await _paper_order(gateway)
    finally:
        await pool.close()
        if limiter is not None and not shared_limiter:
            await limiter.aclose()
    return DemoReport(
        sim_url=sim_url,
        symbols=symbols,
        check=check,
        top_by_volume=tuple(top),
        paper_order=order,
        paper_usdt_before=before,
        paper_usdt_after=after,
    )


async def _paper_order(market_data: CcxtGateway) -> tuple[OrderReport, Decimal, Decimal]:
    paper = PaperGateway(market_data, balances={"USDT": Decimal(10_000)})
    before = (await paper.fetch_balance())["USDT"].total
    now = market_data.now_ms()
    intent = OrderIntent(
        user_id=DEMO_USER,
        strategy="demo",
        symbol=DEMO_SYMBOL,
        side=Side.BUY,
        kind=IntentKind.OPEN,
        order_type=OrderType.MARKET,
        amount=Decimal("0.01"),
        signal_ts_ms=now,
        reason="demo: one paper market buy",
    )
    report = await paper.create_order(Order.from_intent(intent, now))
    after = (await paper.fetch_balance())["USDT"].total
    await paper.close()
    return report, before, after
