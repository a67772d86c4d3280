"""Point-in-time universe: which symbols existed, and how much they traded, as known at a time.

One Parquet file per exchange (``<root>/universe/<exchange>.parquet``) holds a row per
(symbol, UTC day): the day's quote volume (sum of close × volume) and the open times of the
first and last candle seen that day with their timeframe. :meth:`UniverseStore.as_of` uses a
row only as far as it was known at ``ts_ms``:

- a symbol is listed once its first candle has *closed* (``first_ms + timeframe_ms <= ts_ms``);
  ``listed_ms`` is that candle's open time, i.e. the first data seen, not necessarily the
  exchange's listing (history downloaded from ``--since`` starts there);
- ``quote_volume_24h`` is the latest *complete* UTC day's volume (day end <= ``ts_ms``);
- ``delisted_ms`` is the close of the last candle seen, set only when that is more than
  ``delisted_after_days`` before ``ts_ms``.

So ``as_of(t)`` on the full history equals ``as_of(t)`` on a store that was only ever given
the candles closed by ``t``; the tests check exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xraybot.data import atomic
from xraybot.data.store import CandleStore, check_exchange, merge_candles, symbol_to_safe
from xraybot.data.store_checks import check_candles
from xraybot.model.candles import Candles, IntArray
from xraybot.model.errors import DataValidationError, InvalidInputError, StorageError

DAY_MS = 86_400_000
DEFAULT_DELISTED_AFTER_DAYS = 3
SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("day_ms", pa.int64(), nullable=False),
        pa.field("quote_volume", pa.float64(), nullable=False),
        pa.field("first_ms", pa.int64(), nullable=False),
        pa.field("last_ms", pa.int64(), nullable=False),
        pa.field("timeframe_ms", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class UniverseRow:
    """One symbol as known at a time: first data, delisting, last full day's quote volume."""

    symbol: str
    listed_ms: int
    delisted_ms: int | None
    quote_volume_24h: float
    days_listed: int


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The file's columns as numpy, symbols as codes into ``names``."""

    names: list[str]
    code: npt.NDArray[np.int32]
    day: IntArray
    volume: npt.NDArray[np.float64]
    first: IntArray
    last: IntArray
    timeframe: IntArray


class UniverseStore:
    """Daily quote volumes per symbol, kept so that screens can be run as of any past time."""

    def __init__(
        self, root: Path, *, delisted_after_days: int = DEFAULT_DELISTED_AFTER_DAYS
    ) -> None:
        if delisted_after_days < 1:
            raise InvalidInputError(
                f"delisted_after_days must be >= 1; found {delisted_after_days}."
            )
        self.root = Path(root)
        self.delisted_after_days = delisted_after_days
        self._cache: dict[Path, tuple[tuple[int, int, int], _Loaded]] = {}

    def path(self, exchange: str) -> Path:
        """Return the exchange's universe file."""
        return self.root / "universe" / f"{check_exchange(exchange)}.parquet"

    # -- record ------------------------------------------------------------------------

    def record_daily(
        self,
        exchange: str,
        symbol: str,
        day_ms: Sequence[int] | IntArray,
        quote_volume: npt.NDArray[np.float64],
    ) -> None:
        """Upsert whole-day quote volumes of one symbol (known once each day has ended)."""
        symbol_to_safe(symbol)
        days = np.asarray(day_ms, dtype=np.int64)
        volume = np.asarray(quote_volume, dtype=np.float64)
        what = f"daily quote volumes of {exchange} {symbol}"
        if days.shape != volume.shape or days.ndim != 1:
            raise DataValidationError(
                f"{what}: day_ms and quote_volume must be 1-D of one length; found shapes "
                f"{days.shape} and {volume.shape}."
            )
        _refuse(what, "day_ms must be 00:00 UTC of a day", days, days % DAY_MS != 0)
        _refuse(what, "each day must appear once", days, _repeated(days))
        with np.errstate(invalid="ignore"):
            bad_volume = ~(np.isfinite(volume) & (volume >= 0))
        _refuse(what, "quote volume must be finite and >= 0", days, bad_volume)
        rows = pa.table(
            {
                "symbol": pa.array([symbol] * days.shape[0], pa.string()),
                "day_ms": days,
                "quote_volume": volume,
                "first_ms": days,
                "last_ms": days,
                "timeframe_ms": np.full(days.shape, DAY_MS, dtype=np.int64),
            },
            schema=SCHEMA,
        )
        self._upsert(exchange, rows)

    def record_from_candles(self, exchange: str, candles: Candles) -> None:
        """Upsert the daily quote volumes (close × volume per UTC day) of a candle series."""
        self.record_many_from_candles(exchange, [candles])

    def record_many_from_candles(self, exchange: str, series: Iterable[Candles]) -> None:
        """Like :meth:`record_from_candles` for many series, rewriting the file once."""
        tables = [self._daily_rows(exchange, candles) for candles in series]
        tables = [t for t in tables if t.num_rows]
        if tables:
            self._upsert(exchange, pa.concat_tables(tables))

    def _daily_rows(self, exchange: str, candles: Candles) -> pa.Table:
        tf_ms = candles.timeframe_ms
        if DAY_MS % tf_ms:
            raise InvalidInputError(
                "daily quote volumes come from candles of a timeframe that divides a day "
                f"(1m … 12h, 1d); found {candles.timeframe} for {candles.symbol}."
            )
        check_candles(candles, f"candles {exchange} {candles.symbol} {candles.timeframe}")
        if len(candles) == 0:
            return SCHEMA.empty_table()
        # The days at the edges of a batch may hold stored candles the batch lacks (an
        # incremental download): aggregate the union, as the candle store holds it.
        first_day = int(candles.ts_ms[0]) // DAY_MS * DAY_MS
        end_day = int(candles.ts_ms[-1]) // DAY_MS * DAY_MS + DAY_MS
        stored = CandleStore(self.root).read(
            exchange, candles.symbol, candles.timeframe, first_day, end_day
        )
        union, _ = merge_candles(stored, candles)
        ts = union.ts_ms
        day = ts // DAY_MS * DAY_MS
        starts = np.concatenate([[0], np.flatnonzero(np.diff(day)) + 1])
        ends = np.concatenate([starts[1:], [ts.shape[0]]])
        volume = np.add.reduceat(union.close * union.volume, starts)
        return pa.table(
            {
                "symbol": pa.array([candles.symbol] * starts.shape[0], pa.string()),
                "day_ms": day[starts],
                "quote_volume": volume,
                "first_ms": ts[starts],
                "last_ms": ts[ends - 1],
                "timeframe_ms": np.full(starts.shape, tf_ms, dtype=np.int64),
            },
            schema=SCHEMA,
        )

    def _upsert(self, exchange: str, rows: pa.Table) -> None:
        path = self.path(exchange)
        with atomic.locked(path):
            atomic.remove_stale_temps(path)
            old = self._read(path) if path.exists() else SCHEMA.empty_table()
            # (symbol code, day) keys over one dictionary shared by old and new rows.
            names = pa.chunked_array([old.column("symbol"), rows.column("symbol")], pa.string())
            codes = np.asarray(pc.dictionary_encode(names).combine_chunks().indices, np.int64)
            days = np.concatenate([_ints(old, "day_ms"), _ints(rows, "day_ms")]) // DAY_MS
            keys = codes << 32 | days
            n_old = old.num_rows
            keep = ~np.isin(keys[:n_old], keys[n_old:])
            table = pa.concat_tables([old.filter(pa.array(keep)), rows])
            order = pc.sort_indices(
                table, sort_keys=[("day_ms", "ascending"), ("symbol", "ascending")]
            )
            table = table.take(order)

            def write(file: BinaryIO) -> None:
                pq.write_table(
                    table, file, compression="lz4", use_dictionary=["symbol"], row_group_size=65_536
                )

            atomic.write_atomic(path, write, f"the {exchange} universe")
        self._cache.pop(path, None)

    # -- query -------------------------------------------------------------------------

    def as_of(self, exchange: str, ts_ms: int) -> list[UniverseRow]:
        """Return the symbols known at ``ts_ms``, largest last-full-day quote volume first."""
        data = self._load(exchange)
        if data is None:
            return []
        visible = data.first + data.timeframe <= ts_ms
        if not visible.any():
            return []
        code, day = data.code[visible], data.day[visible]
        first, last = data.first[visible], data.last[visible]
        tf, volume = data.timeframe[visible], data.volume[visible]
        complete = day + DAY_MS <= ts_ms
        # A complete day's last candle has closed; of today only the first is known closed.
        seen = np.where(complete, last + tf, first + tf)
        n = len(data.names)
        listed = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(listed, code, first)
        last_seen = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last_seen, code, seen)
        latest = np.zeros(n, dtype=np.float64)
        c_code, c_day, c_volume = code[complete], day[complete], volume[complete]
        order = np.lexsort((c_day, c_code))
        if order.size:
            sorted_code = c_code[order]
            is_last = np.append(sorted_code[1:] != sorted_code[:-1], True)
            latest[sorted_code[is_last]] = c_volume[order][is_last]
        horizon = ts_ms - self.delisted_after_days * DAY_MS
        rows = [
            UniverseRow(
                symbol=data.names[i],
                listed_ms=int(listed[i]),
                delisted_ms=int(last_seen[i]) if last_seen[i] < horizon else None,
                quote_volume_24h=float(latest[i]),
                days_listed=(ts_ms - int(listed[i])) // DAY_MS,
            )
            for i in np.unique(code)
        ]
        rows.sort(key=lambda r: (-r.quote_volume_24h, r.symbol))
        return rows

    def _load(self, exchange: str) -> _Loaded | None:
        path = self.path(exchange)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        table = self._read(path)
        encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
        loaded = _Loaded(
            names=[str(s) for s in encoded.dictionary.to_pylist()],
            code=np.asarray(encoded.indices, dtype=np.int32),
            day=_ints(table, "day_ms"),
            volume=_floats(table, "quote_volume"),
            first=_ints(table, "first_ms"),
            last=_ints(table, "last_ms"),
            timeframe=_ints(table, "timeframe_ms"),
        )
        self._cache[path] = (stamp, loaded)
        return loaded

    def _read(self, path: Path) -> pa.Table:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as e:
            raise StorageError(
                f"could not read the universe file {path}: found {e}. Move it away and record "
                "the universe again (xraybot data import / download do)."
            ) from e
        if table.schema.remove_metadata() != SCHEMA:
            raise StorageError(
                f"{path} is not an xraybot universe file: found schema {table.schema}. "
                "Move it away and record the universe again."
            )
        return table


def _ints(table: pa.Table, name: str) -> IntArray:
    return np.asarray(table.column(name).to_numpy(), dtype=np.int64)


def _floats(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    return np.asarray(table.column(name).to_numpy(), dtype=np.float64)


def _repeated(days: IntArray) -> npt.NDArray[np.bool_]:
    _, first = np.unique(days, return_index=True)
    mask = np.ones(days.shape, dtype=bool)
    mask[first] = False  # the first occurrence is fine, later ones repeat it
    return mask


def _refuse(what: str, rule: str, days: IntArray, bad: npt.NDArray[np.bool_]) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        shown = ", ".join(f"row {int(i)} (day_ms {int(days[i])})" for i in rows[:10])
        raise DataValidationError(
            f"{what}: {rows.size} row(s) break the rule '{rule}': {shown}. Nothing was "
            "recorded; fix those rows and record again."
        )
