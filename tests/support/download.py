"""The simulator for the history download tests: 40 synthetic symbols plus leveraged-token
junk, its clock stopped, every klines request recorded; and a clock moved by hand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from tests.support.servers import serve_asgi
from tests.support.sim import START_MS
from xraybot.model.candles import Candles
from xraybot.sim.app import create_app
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.exchange import SimExchange
from xraybot.sim.market import Quote, SimSymbol, Stats24h
from xraybot.sim.synthetic import SyntheticMarket

H = 3_600_000
DAY = 24 * H
NOW = START_MS  # the simulator's clock, frozen; 13 min 20 s into an hour
HOUR_START = NOW // H * H  # the candle still forming at NOW


# Leveraged tokens and stablecoins, trading 100× more than anything real, priced off a major.
JUNK = {"BTCUP": "BTC", "BTCDOWN": "BTC", "ETH3L": "ETH", "ETH3S": "ETH", "BULL": "BTC"}
LEGIT = {"JUP": "SOL"}  # ends in UP but is a coin: must be picked


class JunkMarket:
    """The synthetic universe plus junk a top-N pick must skip, all of it very liquid."""

    def __init__(self, inner: SyntheticMarket) -> None:
        self.inner = inner
        self.clock = inner.clock
        self._extra = {
            f"{base}USDT": (
                f"{source}USDT",
                SimSymbol(
                    base=base,
                    quote="USDT",
                    price_tick=inner.symbol(f"{source}USDT").price_tick,
                    amount_tick=Decimal("0.0001"),
                    min_notional=Decimal(1),
                    maker_fee=Decimal(0),
                    taker_fee=Decimal("0.0005"),
                    spread_bps=2.0,
                    listed_ms=inner.symbol(f"{source}USDT").listed_ms,
                ),
            )
            for base, source in (JUNK | LEGIT).items()
        }

    def _source(self, symbol_id: str) -> str:
        extra = self._extra.get(symbol_id)
        return extra[0] if extra is not None else symbol_id

    def symbols(self) -> Sequence[SimSymbol]:
        return [*self.inner.symbols(), *(s for _, s in self._extra.values())]

    def symbol(self, symbol_id: str) -> SimSymbol:
        extra = self._extra.get(symbol_id)
        return extra[1] if extra is not None else self.inner.symbol(symbol_id)

    def quote(self, symbol_id: str) -> Quote:
        return self.inner.quote(self._source(symbol_id))

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        return self.inner.candles(self._source(symbol_id), timeframe, start_ms, end_ms)

    def stats_24h(self, symbol_id: str) -> Stats24h:
        stats = self.inner.stats_24h(self._source(symbol_id))
        if symbol_id not in self._extra:
            return stats
        scale = 100.0
        return Stats24h(
            open=stats.open,
            high=stats.high,
            low=stats.low,
            last=stats.last,
            base_volume=stats.base_volume * scale,
            quote_volume=stats.quote_volume * scale,
            open_ms=stats.open_ms,
            close_ms=stats.close_ms,
        )


class Recording:
    """ASGI wrapper noting every request the simulator receives, and the most at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope["query_string"].decode()))
        self.requests.append((scope["path"], query))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@dataclass
class Sim:
    url: str
    market: SyntheticMarket
    exchange: SimExchange
    recording: Recording
    stores: list[Path] = field(default_factory=list)

    def klines(self) -> list[dict[str, str]]:
        """Return the query of every klines request so far, and forget them."""
        found = [q for path, q in self.recording.requests if path == "/api/v3/klines"]
        self.recording.requests.clear()
        return found

    def reference(self, symbol: str, start_ms: int, end_ms: int, timeframe: str = "1h") -> Candles:
        """Return the simulator's own closed candles of ``symbol`` in [start, end)."""
        spot_id = symbol.replace("/", "")
        return self.market.candles(spot_id, timeframe, start_ms, end_ms).closed(
            self.market.clock.now_ms()
        )


class HandClock:
    """Simulated time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = NOW

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


def serve(latency_ms: int = 0, rate_limits: bool = False) -> Iterator[Sim]:
    """Serve a simulator over 40 synthetic symbols plus junk, its clock stopped at NOW."""
    market = SyntheticMarket(HandClock(), n_symbols=40, seed=7)
    config = SimConfig(
        match_interval_ms=0, latency_ms=latency_ms, rate_limits=RateLimits(enabled=rate_limits)
    )
    app = create_app(config, JunkMarket(market))
    recording = Recording(app)
    with serve_asgi(recording) as url:
        yield Sim(url, market, app.state.exchange, recording)
