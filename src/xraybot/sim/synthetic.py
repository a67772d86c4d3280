"""A seeded synthetic universe of N USDT symbols, like MEXC's, as a MarketData source.

Everything is a pure function of ``(seed, symbol, time)`` and of the reference day (the
UTC day of ``now_ms``; listing ages count back from it), so two instances built with the
same arguments serve identical candles for any range, in any order of asking.
Paths come from :mod:`xraybot.sim.synthetic_paths` (day grid → hours → minutes); this
module caches them and answers the port's questions:

- closed candles of a timeframe aggregate the coarsest level that divides it (minutes for
  sub-hour timeframes, hours up to a day, days for days and weeks, Monday-aligned); the
  still-open candle is built from the levels below it up to the current minute, whose
  price moves along the intrabar path of :func:`xraybot.sim.bars.intrabar`;
- ``quote`` is that price, with bid/ask ``spread_bps`` apart on the tick;
- ``stats_24h`` covers the minutes since ``now - 24h``: whole hours from the hour level,
  the two partial hours from their minutes, plus the open minute so far.

Memory is bounded by three LRUs (see :class:`SyntheticMarket`). Measured on the 2-core
development machine: ``stats_24h`` + ``quote`` for all 2,600 symbols take about 0.2 s
once the caches are warm, and about 1.4 s on the first call (every grid, the last two
days' hours and two hours of minutes per symbol are built then).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np

from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, UnknownSymbolError
from xraybot.sim.bars import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bars,
    DepthSnapshot,
    aggregate,
    ceil_to,
    concat,
    depth_ladder,
    floor_to,
    merge_into_one,
    parse_timeframe,
    partial_row,
    quote_sides,
    round_prices,
    to_candles,
)
from xraybot.sim.market import Quote, SimClock, SimSymbol, Stats24h
from xraybot.sim.synthetic_paths import Level, daily_grid, day_hours, hour_minutes
from xraybot.sim.synthetic_universe import MAX_AGE_DAYS, build_universe

K = TypeVar("K")
V = TypeVar("V")

HORIZON_DAYS = 400  # how far past the reference day the paths reach


class _Lru(Generic[K, V]):
    """A dict that forgets its least recently used entries beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        value = make()
        self._items[key] = value
        if len(self._items) > self.limit:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


class SyntheticMarket:
    """A deterministic MEXC-like universe: majors plus invented tickers, all quoted in USDT.

    ``now_ms`` fixes the reference day (default: the clock's time at construction); pass
    it to get the same universe on another day. Memory is bounded by three LRUs, counted
    in entries: ``grid_cache`` day grids (~37 KB on average, ~75 KB for a four-year-old
    listing; only a new day's hours need them), ``hour_cache`` a day's hours (~4 KB) and
    ``minute_cache`` an hour's minutes (~4 KB). The defaults bound the caches at about
    120 MB; a warm bulk ticker over 2,600 symbols holds about 65 MB.
    """

    def __init__(
        self,
        clock: SimClock,
        n_symbols: int = 2600,
        seed: int = 0,
        now_ms: int | None = None,
        *,
        grid_cache: int = 512,
        hour_cache: int = 8192,
        minute_cache: int = 12_288,
    ) -> None:
        if isinstance(n_symbols, bool) or not isinstance(n_symbols, int) or n_symbols < 1:
            raise InvalidInputError(f"n_symbols must be an int >= 1; found {n_symbols!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidInputError(f"seed must be an int >= 0; found {seed!r}.")
        self.clock = clock
        self.seed = seed
        reference = clock.now_ms() if now_ms is None else now_ms
        self.ref_day = reference // DAY_MS
        self.end_ms = (self.ref_day + HORIZON_DAYS) * DAY_MS
        self._symbols, self._params = build_universe(n_symbols, seed, self.ref_day * DAY_MS)
        self._listed = np.array([s.listed_ms for s in self._symbols], dtype=np.int64)
        self._by_id: dict[str, int] = {}
        for index, symbol in enumerate(self._symbols):
            self._by_id[symbol.spot_id] = index
            if symbol.has_swap:
                self._by_id[symbol.swap_id] = index
        self._grids: _Lru[int, Level] = _Lru(grid_cache)
        self._hours: _Lru[tuple[int, int], tuple[Level, Bars]] = _Lru(hour_cache)
        self._minutes: _Lru[tuple[int, int], Bars] = _Lru(minute_cache)

    # -- the port ----------------------------------------------------------------------

    def symbols(self) -> Sequence[SimSymbol]:
        """Return every symbol listed by now, majors first, in a stable order."""
        now = self.clock.now_ms()
        if now >= int(self._listed.max()):
            return list(self._symbols)
        return [s for s in self._symbols if s.listed_ms <= now]

    def symbol(self, symbol_id: str) -> SimSymbol:
        """Return the symbol for a spot (``BTCUSDT``) or swap (``BTC_USDT``) id, else KeyError."""
        index = self._by_id.get(symbol_id)
        if index is None or self._symbols[index].listed_ms > self.clock.now_ms():
            raise KeyError(symbol_id)
        return self._symbols[index]

    def quote(self, symbol_id: str) -> Quote:
        """Return last, bid and ask now."""
        index, now = self._listed_index(symbol_id)
        last = float(self._partial(index, MINUTE_MS, now).close[0])
        params = self._params[index]
        bid, ask = quote_sides(last, self._symbols[index].spread_bps, params.price_decimals)
        return Quote(ts_ms=now, last=last, bid=bid, ask=ask)

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        """Return candles with ``start_ms <= ts < end_ms`` that have closed by now, plus the
        still-open current candle if its open time is in range (as exchanges do)."""
        tf_ms = parse_timeframe(timeframe)
        index, now = self._listed_index(symbol_id)
        base = DAY_MS if tf_ms % DAY_MS == 0 else HOUR_MS if tf_ms % HOUR_MS == 0 else MINUTE_MS
        open_start = floor_to(now, tf_ms)
        lo = max(ceil_to(start_ms, tf_ms), floor_to(int(self._listed[index]), tf_ms))
        hi = min(ceil_to(end_ms, tf_ms), open_start)
        closed = aggregate(self._rows(index, base, lo, hi), tf_ms) if lo < hi else Bars.empty()
        parts = [closed]
        if start_ms <= open_start < end_ms:
            current = concat(
                [
                    self._rows(index, base, open_start, floor_to(now, base)),
                    self._partial(index, base, now),
                ]
            )
            parts.append(merge_into_one(open_start, current))
        return to_candles(symbol_id, timeframe, concat(parts))

    def stats_24h(self, symbol_id: str) -> Stats24h:
        """Return the rolling 24-hour statistics ending now."""
        index, now = self._listed_index(symbol_id)
        since = now - DAY_MS
        first_hour, this_hour = ceil_to(since, HOUR_MS), floor_to(now, HOUR_MS)
        rows = concat(
            [
                self._rows(index, MINUTE_MS, ceil_to(since, MINUTE_MS), first_hour),
                self._rows(index, HOUR_MS, first_hour, this_hour),
                self._rows(index, MINUTE_MS, this_hour, floor_to(now, MINUTE_MS)),
                self._partial(index, MINUTE_MS, now),
            ]
        )
        return Stats24h(
            open=float(rows.open[0]),
            high=float(rows.high.max()),
            low=float(rows.low.min()),
            last=float(rows.close[-1]),
            base_volume=float(rows.volume.sum()),
            quote_volume=rows.quote_volume(),
            open_ms=since,
            close_ms=now,
        )

    # -- extras for the HTTP layer -------------------------------------------------------

    def order_book(self, symbol_id: str, depth: int = 20) -> DepthSnapshot:
        """Return a deterministic book around the quote (sizes fixed within a minute)."""
        quote = self.quote(symbol_id)
        index = self._by_id[symbol_id]
        params = self._params[index]
        minute = quote.ts_ms // MINUTE_MS
        return depth_ladder(
            ts_ms=quote.ts_ms,
            bid=quote.bid,
            ask=quote.ask,
            spread_bps=self._symbols[index].spread_bps,
            quote_volume_24h=params.quote_volume,
            price_decimals=params.price_decimals,
            amount_decimals=params.amount_decimals,
            levels=depth,
            rng=np.random.default_rng([self.seed, index, 4, minute]),
        )

    def typical_quote_volume(self, symbol_id: str) -> float:
        """Return the symbol's typical 24h quote volume in USDT (its volume scale)."""
        return self._params[self._index(symbol_id)].quote_volume

    # -- paths -------------------------------------------------------------------------

    def _index(self, symbol_id: str) -> int:
        index = self._by_id.get(symbol_id)
        if index is None:
            raise UnknownSymbolError(
                f"the synthetic universe has no symbol {symbol_id!r}; use a spot id like "
                "'BTCUSDT', or a swap id like 'BTC_USDT' for a symbol with a swap."
            )
        return index

    def _listed_index(self, symbol_id: str) -> tuple[int, int]:
        index = self._index(symbol_id)
        now = self.clock.now_ms()
        listed = int(self._listed[index])
        if now < listed:
            raise UnknownSymbolError(
                f"{symbol_id} is listed at {listed} ms; the clock is at {now} ms. "
                "Ask again once the clock has passed the listing."
            )
        if now >= self.end_ms:
            raise InvalidInputError(
                f"the synthetic paths reach {self.end_ms} ms ({HORIZON_DAYS} days past the "
                f"reference day); the clock is at {now} ms. Restart the simulator with a "
                "later now_ms."
            )
        return index, now

    def _bars(self, index: int, level: Level, lo: int = 0, hi: int | None = None) -> Bars:
        """Return rows ``lo:hi`` of ``level`` as prices rounded to the symbol's tick."""
        hi = len(level) if hi is None else hi
        decimals = self._params[index].price_decimals
        logs = np.stack(
            (level.open[lo:hi], level.high[lo:hi], level.low[lo:hi], level.close[lo:hi])
        )
        prices = round_prices(np.exp(logs), decimals)
        ts = level.ts0 + np.arange(lo, hi, dtype=np.int64) * level.step_ms
        return Bars(ts, prices[0], prices[1], prices[2], prices[3], level.volume[lo:hi])

    def _grid(self, index: int) -> Level:
        # Only new days' hours need the grid, so a small cache serves a bulk ticker.
        return self._grids.get(
            index,
            lambda: daily_grid(
                self.seed, self._params[index], self.ref_day, self.ref_day + HORIZON_DAYS
            ),
        )

    def _day(self, index: int, day: int) -> tuple[Level, Bars]:
        def make() -> tuple[Level, Bars]:
            level = day_hours(self.seed, self._params[index], self._grid(index), day)
            return level, self._bars(index, level)

        return self._hours.get((index, day), make)

    def _hour(self, index: int, hour_ms: int) -> Bars:
        def make() -> Bars:
            hours = self._day(index, hour_ms // DAY_MS)[0]
            return self._bars(index, hour_minutes(self.seed, self._params[index], hours, hour_ms))

        return self._minutes.get((index, hour_ms), make)

    def _rows(self, index: int, step_ms: int, start_ms: int, end_ms: int) -> Bars:
        """Return closed rows of ``step_ms`` (1m, 1h or 1d) with ts in [start, end)."""
        # The listing day's (partial) row is stamped with the day's open time.
        listed = floor_to(int(self._listed[index]), step_ms)
        start_ms = max(start_ms, listed, (self.ref_day - MAX_AGE_DAYS) * DAY_MS)
        end_ms = min(end_ms, self.end_ms)
        if start_ms >= end_ms:
            return Bars.empty()
        if step_ms == DAY_MS:
            grid = self._grid(index)
            lo, hi = (
                min(max(-(-(t - grid.ts0) // DAY_MS), 0), len(grid)) for t in (start_ms, end_ms)
            )
            return self._bars(index, grid, lo, max(lo, hi))
        if step_ms == HOUR_MS:
            days = range(start_ms // DAY_MS, -(-end_ms // DAY_MS))
            return concat([self._day(index, d)[1].between(start_ms, end_ms) for d in days])
        hours = range(floor_to(start_ms, HOUR_MS), end_ms, HOUR_MS)
        return concat([self._hour(index, h).between(start_ms, end_ms) for h in hours])

    def _partial(self, index: int, step_ms: int, now: int) -> Bars:
        """Return the open row of ``step_ms`` holding ``now``, as far as it has got."""
        if step_ms == MINUTE_MS:
            minute = floor_to(now, MINUTE_MS)
            rows = self._hour(index, floor_to(now, HOUR_MS))
            k = (minute - int(rows.ts[0])) // MINUTE_MS
            return partial_row(
                minute,
                float(rows.open[k]),
                float(rows.high[k]),
                float(rows.low[k]),
                float(rows.close[k]),
                float(rows.volume[k]),
                (now - minute) / MINUTE_MS,
                self._params[index].price_decimals,
            )
        child = MINUTE_MS if step_ms == HOUR_MS else HOUR_MS
        start = floor_to(now, step_ms)
        closed = self._rows(index, child, start, floor_to(now, child))
        return merge_into_one(start, concat([closed, self._partial(index, child, now)]))
