"""Real candles replayed on a SimClock, as a MarketData source.

The clock's time *is* replay time: start it inside the data (:meth:`ReplayMarket.default_start_ms`).
A symbol may have several files (say 1m for one month, 5m for years, 1h for longer). They
are merged into one price series, finest first: a coarser row is used only where no finer
row overlaps it. That series drives the quote (a price moving along the current row's
intrabar path; during a gap, the last close), the 24h statistics and the still-open
candle. Closed candles of a timeframe come from the file of exactly that timeframe, rows
as they are; otherwise they aggregate the coarsest file whose timeframe divides it; a
timeframe finer than every file gets no candles.

Files load lazily, per symbol, on first use (``symbols()`` loads every chosen symbol,
since ticks come from the prices); loaded data stays in memory, about 48 bytes per row.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from xraybot.model.candles import Candles, IntArray
from xraybot.model.errors import InvalidInputError, UnknownSymbolError
from xraybot.sim.bars import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Bars,
    DepthSnapshot,
    aggregate,
    amount_exponent,
    ceil_to,
    concat,
    contract_size_for,
    depth_ladder,
    floor_to,
    max_leverage_for,
    merge_into_one,
    parse_timeframe,
    partial_row,
    power_of_ten,
    quote_sides,
    spread_bps_for_volume,
    tick_exponent,
    to_candles,
)
from xraybot.sim.market import Quote, SimClock, SimSymbol, Stats24h
from xraybot.sim.replay_files import SeriesFile, exchange_dir, first_timestamp, read_bars, scan

_SWAP_MIN_VOLUME = 1e7  # USDT a day: liquid enough for MEXC to list a perpetual


@dataclass(frozen=True, slots=True)
class _Series:
    """One symbol's loaded files and their merged, finest-first timeline."""

    symbol: SimSymbol
    layers: dict[int, Bars]  # by timeframe in ms
    seg_start: IntArray  # open time of each merged segment's first row
    segments: tuple[tuple[int, int, int], ...]  # (tf_ms, first row, end row) per segment
    quote_volume: float  # typical 24h quote volume
    price_decimals: int
    amount_decimals: int


def _merge(layers: dict[int, Bars]) -> tuple[IntArray, tuple[tuple[int, int, int], ...]]:
    taken_start = np.empty(0, dtype=np.int64)
    taken_end = np.empty(0, dtype=np.int64)
    found: list[tuple[int, int, int, int]] = []
    for tf_ms in sorted(layers):
        ts = layers[tf_ms].ts
        ends = ts + tf_ms
        keep = np.ones(ts.shape[0], dtype=bool)
        if taken_start.size:
            # The finer interval starting last before this row's end is the only candidate
            # for an overlap: kept intervals are disjoint and sorted.
            idx = np.searchsorted(taken_start, ends, side="left") - 1
            keep = ~((idx >= 0) & (taken_end[np.maximum(idx, 0)] > ts))
        edges = np.flatnonzero(np.diff(np.concatenate(([0], keep.astype(np.int8), [0]))))
        for first, stop in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            found.append((int(ts[first]), tf_ms, first, stop))
        taken_start = np.concatenate((taken_start, ts[keep]))
        taken_end = np.concatenate((taken_end, ends[keep]))
        order = np.argsort(taken_start, kind="stable")
        taken_start, taken_end = taken_start[order], taken_end[order]
    found.sort()
    starts = np.array([f[0] for f in found], dtype=np.int64)
    return starts, tuple((tf, first, stop) for _, tf, first, stop in found)


def _typical_quote_volume(layers: dict[int, Bars]) -> float:
    tf_ms = min(layers)
    finest = layers[tf_ms]
    days = len(finest) * tf_ms / DAY_MS
    return float(np.dot(finest.volume, finest.close)) / max(days, 1.0 / 24.0)


def _load(files: list[SeriesFile]) -> _Series | None:
    layers = {f.tf_ms: bars for f in files if len(bars := read_bars(f))}
    if not layers:
        return None
    seg_start, segments = _merge(layers)
    lowest = min(float(b.low.min()) for b in layers.values())
    finest = layers[min(layers)]
    price = float(np.median(finest.close))
    volume = _typical_quote_volume(layers)
    price_exp, amount_exp = tick_exponent(lowest), amount_exponent(price)
    has_swap = volume >= _SWAP_MIN_VOLUME
    symbol = SimSymbol(
        base=files[0].base,
        quote=files[0].quote,
        price_tick=power_of_ten(price_exp),
        amount_tick=power_of_ten(amount_exp),
        min_notional=Decimal(1),
        maker_fee=Decimal(0),
        taker_fee=Decimal("0.0005"),
        spread_bps=spread_bps_for_volume(volume),
        listed_ms=int(seg_start[0]),
        has_swap=has_swap,
        contract_size=contract_size_for(price) if has_swap else Decimal("0.0001"),
        max_leverage=max_leverage_for(volume) if has_swap else 1,
    )
    return _Series(symbol, layers, seg_start, segments, volume, -price_exp, -amount_exp)


def _choose(
    catalogue: dict[tuple[str, str], list[SeriesFile]], limit: int | None
) -> list[tuple[str, str]]:
    # Most data on disk first: a proxy for history and activity that reads no file.
    def size(key: tuple[str, str]) -> int:
        return sum(f.path.stat().st_size for f in catalogue[key])

    ranked = sorted(catalogue, key=lambda key: (-size(key), key))
    return ranked if limit is None else ranked[:limit]


class ReplayMarket:
    """Real candles from a data directory, replayed at the clock's time.

    ``symbols`` keeps the N symbols with the most data on disk (total bytes of their
    files; ties by name); None keeps all. ``exchange`` picks ``ohlcv/<exchange>``; None
    picks binance when present, else the first folder by name.
    """

    def __init__(
        self,
        clock: SimClock,
        data_dir: Path,
        symbols: int | None = None,
        exchange: str | None = None,
    ) -> None:
        if symbols is not None and (
            isinstance(symbols, bool) or not isinstance(symbols, int) or symbols < 1
        ):
            raise InvalidInputError(f"symbols must be None or an int >= 1; found {symbols!r}.")
        self.clock = clock
        self.directory = exchange_dir(data_dir, exchange)
        catalogue = scan(self.directory)
        if not catalogue:
            raise InvalidInputError(
                f"{self.directory} holds no <BASE>_<QUOTE>-<tf>.csv.gz files; "
                "add candle files in the shared/data layout."
            )
        chosen = _choose(catalogue, symbols)
        self._files = {f"{base}{quote}": catalogue[(base, quote)] for base, quote in chosen}
        self._order = list(self._files)
        self._swap_ids = {f"{base}_{quote}": f"{base}{quote}" for base, quote in chosen}
        self._loaded: dict[str, _Series | None] = {}

    @classmethod
    def default_start_ms(
        cls,
        data_dir: Path,
        symbols: int | None = None,
        exchange: str | None = None,
        share: float = 0.5,
    ) -> int:
        """Return a start time inside the data: when ``share`` of the chosen symbols have
        begun, plus a day of warm-up, on the hour. Reads only the files' first rows."""
        if not 0.0 < share <= 1.0:
            raise InvalidInputError(f"share must be in (0, 1]; found {share!r}.")
        catalogue = scan(exchange_dir(data_dir, exchange))
        firsts = []
        for key in _choose(catalogue, symbols):
            stamps = [t for f in catalogue[key] if (t := first_timestamp(f)) is not None]
            if stamps:
                firsts.append(min(stamps))
        if not firsts:
            raise InvalidInputError(f"the replay data under {data_dir} has no candles.")
        firsts.sort()
        begun = firsts[max(0, math.ceil(share * len(firsts)) - 1)]
        return ceil_to(begun + DAY_MS, HOUR_MS)

    # -- the port ----------------------------------------------------------------------

    def symbols(self) -> Sequence[SimSymbol]:
        """Return every chosen symbol whose data has begun by now (loads them all)."""
        now = self.clock.now_ms()
        found = [self._series(spot) for spot in self._order]
        return [s.symbol for s in found if s is not None and s.symbol.listed_ms <= now]

    def symbol(self, symbol_id: str) -> SimSymbol:
        """Return the symbol for a spot (``BTCUSDT``) or swap (``BTC_USDT``) id, else KeyError."""
        spot = self._swap_ids.get(symbol_id, symbol_id)
        if spot not in self._files:
            raise KeyError(symbol_id)
        series = self._series(spot)
        if series is None or series.symbol.listed_ms > self.clock.now_ms():
            raise KeyError(symbol_id)
        if spot != symbol_id and not series.symbol.has_swap:
            raise KeyError(symbol_id)
        return series.symbol

    def quote(self, symbol_id: str) -> Quote:
        """Return last, bid and ask now (during a gap in the data: the last close)."""
        series, now = self._live(symbol_id)
        last = self._last_price(series, now)
        bid, ask = quote_sides(last, series.symbol.spread_bps, series.price_decimals)
        return Quote(ts_ms=now, last=last, bid=bid, ask=ask)

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        """Return candles with ``start_ms <= ts < end_ms`` that have closed by now, plus the
        still-open current candle if its open time is in range (as exchanges do)."""
        tf_ms = parse_timeframe(timeframe)
        series, now = self._live(symbol_id)
        usable = [t for t in series.layers if t <= tf_ms and tf_ms % t == 0]
        if not usable:
            return Candles.empty(symbol_id, timeframe)
        open_start = floor_to(now, tf_ms)
        source = series.layers[max(usable)]
        lo, hi = ceil_to(start_ms, tf_ms), min(ceil_to(end_ms, tf_ms), open_start)
        closed = source.between(lo, hi) if lo < hi else Bars.empty()
        if max(usable) != tf_ms:
            closed = aggregate(closed, tf_ms)
        parts = [closed]
        if start_ms <= open_start < end_ms:
            rows = self._merged(series, open_start, now + 1, tf_ms)
            if len(rows):
                parts.append(merge_into_one(open_start, self._cut_at(series, rows, now)))
        return to_candles(symbol_id, timeframe, concat(parts))

    def stats_24h(self, symbol_id: str) -> Stats24h:
        """Return the rolling 24-hour statistics ending now (rows opened since now - 24h)."""
        series, now = self._live(symbol_id)
        since = now - DAY_MS
        rows = self._merged(series, since, now + 1, None)
        last = self._last_price(series, now)
        if not len(rows):
            return Stats24h(
                open=last, high=last, low=last, last=last, base_volume=0.0,
                quote_volume=0.0, open_ms=since, close_ms=now,
            )  # fmt: skip
        rows = self._cut_at(series, rows, now)
        return Stats24h(
            open=float(rows.open[0]),
            high=float(rows.high.max()),
            low=float(rows.low.min()),
            last=last,
            base_volume=float(rows.volume.sum()),
            quote_volume=rows.quote_volume(),
            open_ms=since,
            close_ms=now,
        )

    # -- extras for the HTTP layer -------------------------------------------------------

    def order_book(self, symbol_id: str, depth: int = 20) -> DepthSnapshot:
        """Return a deterministic book around the quote (sizes fixed within a minute)."""
        quote = self.quote(symbol_id)
        series, _ = self._live(symbol_id)
        key = zlib.crc32(series.symbol.spot_id.encode())
        return depth_ladder(
            ts_ms=quote.ts_ms,
            bid=quote.bid,
            ask=quote.ask,
            spread_bps=series.symbol.spread_bps,
            quote_volume_24h=series.quote_volume,
            price_decimals=series.price_decimals,
            amount_decimals=series.amount_decimals,
            levels=depth,
            rng=np.random.default_rng([key, 4, quote.ts_ms // MINUTE_MS]),
        )

    def typical_quote_volume(self, symbol_id: str) -> float:
        """Return the symbol's average 24h quote volume over its data."""
        return self._live(symbol_id)[0].quote_volume

    # -- the merged timeline -------------------------------------------------------------

    def _series(self, spot: str) -> _Series | None:
        if spot not in self._loaded:
            self._loaded[spot] = _load(self._files[spot])
        return self._loaded[spot]

    def _live(self, symbol_id: str) -> tuple[_Series, int]:
        spot = self._swap_ids.get(symbol_id, symbol_id)
        if spot not in self._files:
            raise UnknownSymbolError(
                f"the replay of {self.directory} has no symbol {symbol_id!r}; "
                f"choose one of {', '.join(self._order[:5])}{'…' if len(self._order) > 5 else ''}."
            )
        series = self._series(spot)
        now = self.clock.now_ms()
        if series is None or series.symbol.listed_ms > now:
            first = "none" if series is None else str(series.symbol.listed_ms)
            raise UnknownSymbolError(
                f"{symbol_id} has no candles before the clock's {now} ms (its data starts at "
                f"{first}); start the clock later, e.g. at ReplayMarket.default_start_ms()."
            )
        return series, now

    def _merged(self, series: _Series, start_ms: int, end_ms: int, tf_ms: int | None) -> Bars:
        """Return merged rows opening in [start, end) (only timeframes dividing ``tf_ms``)."""
        first = max(int(np.searchsorted(series.seg_start, start_ms, side="right")) - 1, 0)
        stop = int(np.searchsorted(series.seg_start, end_ms, side="left"))
        parts = []
        for layer_tf, lo, hi in series.segments[first:stop]:
            if tf_ms is not None and (layer_tf > tf_ms or tf_ms % layer_tf):
                continue
            parts.append(series.layers[layer_tf].slice(lo, hi).between(start_ms, end_ms))
        return concat(parts)

    def _row_at(self, series: _Series, ts_ms: int) -> tuple[int, int]:
        """Return (tf_ms, row) of the last merged row opening at or before ``ts_ms``."""
        k = int(np.searchsorted(series.seg_start, ts_ms, side="right")) - 1
        layer_tf, lo, hi = series.segments[k]
        ts = series.layers[layer_tf].ts
        return layer_tf, lo + int(np.searchsorted(ts[lo:hi], ts_ms, side="right")) - 1

    def _last_price(self, series: _Series, now: int) -> float:
        layer_tf, row = self._row_at(series, now)
        bars = series.layers[layer_tf]
        start = int(bars.ts[row])
        if now >= start + layer_tf:  # a gap: the price holds at the last close
            return float(bars.close[row])
        return float(self._partial(series, layer_tf, row, now).close[0])

    def _partial(self, series: _Series, layer_tf: int, row: int, now: int) -> Bars:
        bars = series.layers[layer_tf]
        start = int(bars.ts[row])
        return partial_row(
            start,
            float(bars.open[row]),
            float(bars.high[row]),
            float(bars.low[row]),
            float(bars.close[row]),
            float(bars.volume[row]),
            (now - start) / layer_tf,
            series.price_decimals,
        )

    def _cut_at(self, series: _Series, rows: Bars, now: int) -> Bars:
        """Replace the last row by its state at ``now`` if it is still open."""
        start = int(rows.ts[-1])
        layer_tf, row = self._row_at(series, now)
        if start != int(series.layers[layer_tf].ts[row]) or now >= start + layer_tf:
            return rows
        return concat([rows.slice(0, len(rows) - 1), self._partial(series, layer_tf, row, now)])
