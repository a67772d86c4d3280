"""A small deterministic market for simulator tests, and helpers to run the simulator.

``FakeMarket`` satisfies ``xraybot.sim.market.MarketData`` with a handful of symbols whose
prices the test sets by hand, on a clock the test moves by hand.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import numpy as np

from tests.support.servers import serve_asgi
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.sim.app import create_app
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.exchange import SimExchange
from xraybot.sim.market import Quote, SimSymbol, Stats24h

DEMO_KEY = "sim-demo-key"
DEMO_SECRET = "sim-demo-secret"
# Near the wall clock: ccxt sizes pagination windows and order timestamps from its own clock.
START_MS = int(time.time()) // 60 * 60_000
DAY_MS = 86_400_000


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


def _symbol(base: str, **fields: Any) -> SimSymbol:
    defaults: dict[str, Any] = {
        "quote": "USDT",
        "maker_fee": Decimal("0.001"),
        "taker_fee": Decimal("0.002"),
        "spread_bps": 2.0,
        "listed_ms": START_MS - 400 * DAY_MS,
    }
    return SimSymbol(base=base, **{**defaults, **fields})


SYMBOLS: tuple[SimSymbol, ...] = (
    _symbol(
        "BTC",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal("0.000001"),
        min_notional=Decimal(1),
        has_swap=True,
        contract_size=Decimal("0.0001"),
        max_leverage=125,
    ),
    _symbol(
        "ETH",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal("0.0001"),
        min_notional=Decimal(1),
        has_swap=True,
        contract_size=Decimal("0.01"),
        max_leverage=100,
    ),
    _symbol(
        "LTC",
        price_tick=Decimal("0.01"),
        amount_tick=Decimal("0.001"),
        min_notional=Decimal(1),
        has_swap=True,
        contract_size=Decimal("0.01"),
        max_leverage=50,
    ),
    _symbol(
        "ADA",
        price_tick=Decimal("0.0001"),
        amount_tick=Decimal("0.01"),
        min_notional=Decimal(1),
        has_swap=True,
        contract_size=Decimal(1),
        max_leverage=50,
    ),
    _symbol(
        "ATLAS",
        price_tick=Decimal("0.000001"),
        amount_tick=Decimal("0.01"),
        min_notional=Decimal(1),
    ),
    _symbol(
        "PYTH", price_tick=Decimal("0.0001"), amount_tick=Decimal("0.01"), min_notional=Decimal(1)
    ),
)
PRICES = {"BTC": 50_000.0, "ETH": 3_000.0, "LTC": 80.0, "ADA": 0.6, "ATLAS": 0.005, "PYTH": 0.4}


class FakeMarket:
    """Fixed prices per base asset (``set_price`` moves them) and gently waving candles."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self._symbols = {s.base: s for s in SYMBOLS}
        self._ids = {s.spot_id: s for s in SYMBOLS} | {s.swap_id: s for s in SYMBOLS if s.has_swap}
        self._quotes: dict[str, tuple[float, float, float]] = {}
        self.reset_prices()

    def reset_prices(self) -> None:
        for base, price in PRICES.items():
            self.set_price(base, price)

    def set_price(
        self, base: str, last: float, bid: float | None = None, ask: float | None = None
    ) -> None:
        """Set last/bid/ask of ``base`` (bid and ask default to 1 bp either side of last)."""
        half = last * 0.0001
        self._quotes[base] = (
            last,
            last - half if bid is None else bid,
            last + half if ask is None else ask,
        )

    def symbols(self) -> Sequence[SimSymbol]:
        return list(self._symbols.values())

    def symbol(self, symbol_id: str) -> SimSymbol:
        return self._ids[symbol_id]

    def quote(self, symbol_id: str) -> Quote:
        last, bid, ask = self._quotes[self.symbol(symbol_id).base]
        return Quote(ts_ms=self.clock.now_ms(), last=last, bid=bid, ask=ask)

    def price_at(self, base: str, ts_ms: int) -> float:
        return self._quotes[base][0] * (1 + 0.01 * math.sin(ts_ms / 3_600_000))

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        symbol = self.symbol(symbol_id)
        step = timeframe_to_ms(timeframe)
        now = self.clock.now_ms()
        first = max(-(-start_ms // step) * step, -(-symbol.listed_ms // step) * step)
        last = min(end_ms - 1, now) // step * step
        ts = (
            np.arange(first, last + 1, step, dtype=np.int64)
            if last >= first
            else np.empty(0, np.int64)
        )
        opens = np.array([self.price_at(symbol.base, int(t)) for t in ts], dtype=np.float64)
        closes = np.array([self.price_at(symbol.base, int(t) + step) for t in ts], dtype=np.float64)
        highs = np.maximum(opens, closes) * 1.001
        lows = np.minimum(opens, closes) * 0.999
        volume = np.full(ts.shape, 10.0)
        return Candles(symbol_id, timeframe, ts, opens, highs, lows, closes, volume)

    def stats_24h(self, symbol_id: str) -> Stats24h:
        last = self._quotes[self.symbol(symbol_id).base][0]
        now = self.clock.now_ms()
        return Stats24h(
            open=last / 1.02,
            high=last * 1.05,
            low=last * 0.95,
            last=last,
            base_volume=1_000.0,
            quote_volume=1_000.0 * last,
            open_ms=now - DAY_MS,
            close_ms=now,
        )


def test_config(**overrides: Any) -> SimConfig:
    """Return a config for fast deterministic tests: no limits, no slippage, no ticker."""
    settings: dict[str, Any] = {
        "rate_limits": RateLimits(enabled=False),
        "slippage_rate": Decimal(0),
        "match_interval_ms": 0,
    }
    return SimConfig(**{**settings, **overrides})


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class Sim:
    """A running simulator: its URL, its exchange object and its market."""

    url: str
    exchange: SimExchange
    market: FakeMarket

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call the admin API; return the decoded JSON (errors too, with "status")."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return {"status": error.code, **json.loads(error.read())}

    def reset(self) -> None:
        self.exchange.reset()
        self.market.reset_prices()
        self.market.clock.now = START_MS

    def client(
        self, api_key: str | None = DEMO_KEY, secret: str = DEMO_SECRET, **config: Any
    ) -> Any:
        return mexc_client(self.url, api_key, secret, **config)


@contextmanager
def running_sim(config: SimConfig | None = None, market: FakeMarket | None = None) -> Iterator[Sim]:
    """Serve a simulator over ``market`` on 127.0.0.1 for the duration of the block."""
    market = market or FakeMarket()
    app = create_app(config or test_config(), market)
    with serve_asgi(app) as url:
        yield Sim(url=url, exchange=app.state.exchange, market=market)


def mexc_client(
    url: str, api_key: str | None = DEMO_KEY, secret: str = DEMO_SECRET, **config: Any
) -> Any:
    """Return the unmodified ccxt MEXC client with only its URLs pointed at ``url``."""
    settings: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout_on_exit": 0,  # ccxt waits 250 ms on close for TLS; loopback HTTP needs none
        "urls": {
            "api": {
                "spot": {"public": url, "private": url},
                "spot2": {"public": url, "private": url},
                "contract": {
                    "public": url + "/api/v1/contract",
                    "private": url + "/api/v1/private",
                },
                "broker": {"private": url + "/api/v3/broker"},
            }
        },
    }
    if api_key is not None:
        settings |= {"apiKey": api_key, "secret": secret}
    return ccxt.mexc({**settings, **config})
