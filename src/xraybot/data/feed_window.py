"""The live feed's recent windows: what "closed" means, how windows merge, where they live.

A window is the last N *closed* candles of one (symbol, timeframe) pair, as ``Candles``.
Two stores hold them: :class:`MemoryWindowStore` (embedded mode: the ``Candles`` object
itself, no copy) and :class:`CacheWindowStore` (distributed mode: packed bytes under one
key per pair in any byte cache with get/set/delete, such as ``storage.cache.RedisCache``,
so that worker processes read the window the feed process wrote).

The packed form (``XBW1``) is little-endian: magic ``b"XBW1"``, u16 symbol length, u16
timeframe length, u32 row count, the UTF-8 symbol and timeframe, then the int64 open
times and the float64 open, high, low, close and volume columns, each contiguous. One
value per pair written by one ``SET`` replaces the previous window atomically: a reader
sees the old window or the new one, never a mix. Reads are zero-copy views of the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import DataValidationError, InvalidInputError

Pair = tuple[str, str]  # (symbol, timeframe)

_MAGIC = b"XBW1"
_HEADER = struct.Struct("<4sHHI")
_COLUMNS = ("open", "high", "low", "close", "volume")


def check_pair(pair: Pair) -> Pair:
    """Return ``pair`` as (symbol, timeframe) after checking both, or raise InvalidInputError."""
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise InvalidInputError(
            f"a feed pair is a (symbol, timeframe) tuple such as ('BTC/USDT', '1m'); "
            f"found {pair!r}."
        )
    symbol, timeframe = pair
    if not isinstance(symbol, str) or not symbol:
        raise InvalidInputError(f"a feed symbol must be a non-empty string; found {symbol!r}.")
    timeframe_to_ms(timeframe)
    return symbol, timeframe


# -- closed candles ------------------------------------------------------------------------


def closed_part(candles: Candles, cutoff_ms: int) -> Candles:
    """Return the rows known to be closed: followed by a later row, or closed by ``cutoff_ms``.

    A later row proves the exchange's own clock passed the earlier candle's close (it
    opened the next one). ``cutoff_ms`` is a time on the exchange's clock by which a
    candle that has not been followed counts as closed anyway (the feed passes the
    exchange's time less its patience, for exchanges that skip candles without trades).
    """
    n = len(candles)
    count = max(n - 1, len(candles.closed(cutoff_ms)))
    return candles if count >= n else candles.between(None, int(candles.ts_ms[count]))


@dataclass(frozen=True, slots=True)
class Merge:
    """The outcome of merging freshly closed rows into a window."""

    window: Candles  # the window after the merge (at most ``keep`` rows)
    added: Candles  # rows whose open time the window did not hold (inside the new window)
    corrected: Candles  # rows that replaced a different row with the same open time


def _take(candles: Candles, rows: npt.NDArray[np.intp]) -> Candles:
    return Candles(
        candles.symbol,
        candles.timeframe,
        candles.ts_ms[rows],
        *(getattr(candles, name)[rows] for name in _COLUMNS),
    )


def merge_window(window: Candles, fresh: Candles, keep: int) -> Merge:
    """Merge closed ``fresh`` rows into ``window``: new ones added, changed ones replaced.

    A row identical to the one held (same open time, same values) is a duplicate and is
    neither added nor reported; the result keeps the ``keep`` most recent rows.
    """
    if keep < 1:
        raise InvalidInputError(f"a window keeps at least 1 candle; found keep={keep}.")
    if (fresh.symbol, fresh.timeframe) != (window.symbol, window.timeframe):
        raise InvalidInputError(
            f"cannot merge {fresh.symbol} {fresh.timeframe} candles into the window of "
            f"{window.symbol} {window.timeframe}; merge candles of the same pair."
        )
    at = np.searchsorted(window.ts_ms, fresh.ts_ms)
    inside = at < len(window)
    held = np.zeros(len(fresh), dtype=bool)
    held[inside] = window.ts_ms[at[inside]] == fresh.ts_ms[inside]
    changed = np.zeros(len(fresh), dtype=bool)
    if held.any():
        old = at[held]
        differs = np.zeros(int(held.sum()), dtype=bool)
        for name in _COLUMNS:
            differs |= getattr(window, name)[old] != getattr(fresh, name)[held]
        changed[held] = differs
    if not (changed.any() or (~held).any()):
        nothing = Candles.empty(window.symbol, window.timeframe)
        return Merge(window.tail(keep), nothing, nothing)
    kept = np.ones(len(window), dtype=bool)
    kept[at[held]] = False  # the fresh row wins (identical, or the correction)
    ts = np.concatenate([window.ts_ms[kept], fresh.ts_ms])
    order = np.argsort(ts, kind="stable")
    merged = Candles(
        window.symbol,
        window.timeframe,
        ts[order],
        *(
            np.concatenate([getattr(window, name)[kept], getattr(fresh, name)])[order]
            for name in _COLUMNS
        ),
    ).tail(keep)
    first = int(merged.ts_ms[0]) if len(merged) else 0
    recent = fresh.ts_ms >= first
    return Merge(
        merged,
        _take(fresh, np.flatnonzero(~held & recent)),
        _take(fresh, np.flatnonzero(changed & recent)),
    )


# -- packed bytes ------------------------------------------------------------------------


def encode_window(window: Candles) -> bytes:
    """Pack ``window`` into the ``XBW1`` bytes described in the module docstring."""
    symbol = window.symbol.encode()
    timeframe = window.timeframe.encode()
    parts = [
        _HEADER.pack(_MAGIC, len(symbol), len(timeframe), len(window)),
        symbol,
        timeframe,
        window.ts_ms.astype("<i8", copy=False).tobytes(),
    ]
    parts.extend(getattr(window, name).astype("<f8", copy=False).tobytes() for name in _COLUMNS)
    return b"".join(parts)


def decode_window(data: bytes) -> Candles:
    """Unpack ``XBW1`` bytes into ``Candles`` (views of ``data``), or raise DataValidationError."""
    if len(data) < _HEADER.size or data[:4] != _MAGIC:
        raise DataValidationError(
            f"a stored feed window must start with {_MAGIC!r}; found {bytes(data[:4])!r} "
            f"({len(data)} bytes). It was written by something else: delete the key."
        )
    _, symbol_len, timeframe_len, n = _HEADER.unpack_from(data)
    offset = _HEADER.size + symbol_len + timeframe_len
    expected = offset + n * 8 * (1 + len(_COLUMNS))
    if len(data) != expected:
        raise DataValidationError(
            f"a stored feed window of {n} candles must be {expected} bytes; found "
            f"{len(data)}. The value is truncated or corrupt: delete the key."
        )
    symbol = data[_HEADER.size : _HEADER.size + symbol_len].decode()
    timeframe = data[_HEADER.size + symbol_len : offset].decode()
    ts = np.frombuffer(data, dtype="<i8", count=n, offset=offset).astype(np.int64, copy=False)
    values = np.frombuffer(data, dtype="<f8", count=n * len(_COLUMNS), offset=offset + n * 8)
    columns = values.astype(np.float64, copy=False).reshape(len(_COLUMNS), n)
    return Candles(symbol, timeframe, ts, *columns)


# -- stores -------------------------------------------------------------------------------


class WindowStore(Protocol):
    """Where the feed publishes each pair's window and where readers find it."""

    async def read(self, symbol: str, timeframe: str) -> Candles | None:
        """Return the pair's window, or None if none is stored."""
        ...

    async def write(self, window: Candles) -> None:
        """Replace the window of ``(window.symbol, window.timeframe)``, atomically."""
        ...

    async def delete(self, symbol: str, timeframe: str) -> None:
        """Forget the pair's window; a missing one is not an error."""
        ...


class MemoryWindowStore:
    """Windows in this process (embedded mode): the ``Candles`` objects themselves."""

    def __init__(self) -> None:
        self._windows: dict[Pair, Candles] = {}

    async def read(self, symbol: str, timeframe: str) -> Candles | None:
        """Return the pair's window, or None if none is stored."""
        return self._windows.get((symbol, timeframe))

    async def write(self, window: Candles) -> None:
        """Replace the pair's window (a reference swap, so readers never see a mix)."""
        self._windows[(window.symbol, window.timeframe)] = window

    async def delete(self, symbol: str, timeframe: str) -> None:
        """Forget the pair's window; a missing one is not an error."""
        self._windows.pop((symbol, timeframe), None)


class BytesCache(Protocol):
    """A byte cache: ``storage.cache.RedisCache`` and ``MemoryCache`` satisfy it."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...


class CacheWindowStore:
    """Windows as packed ``XBW1`` bytes in a shared cache (distributed mode: Redis).

    The key of a pair is ``{namespace}:window:{symbol}:{timeframe}`` (inside the cache's
    own prefix), e.g. ``feed:mexc:window:BTC/USDT:1m``; ``ttl_s`` lets the windows of a
    feed that died expire instead of going stale unseen.
    """

    def __init__(self, cache: BytesCache, namespace: str, *, ttl_s: float | None = None) -> None:
        if not namespace:
            raise InvalidInputError(
                "a window store namespace must be non-empty, e.g. 'feed:mexc'; found ''."
            )
        self._cache = cache
        self._namespace = namespace
        self._ttl_s = ttl_s

    def key(self, symbol: str, timeframe: str) -> str:
        """Return the cache key of a pair's window."""
        return f"{self._namespace}:window:{symbol}:{timeframe}"

    async def read(self, symbol: str, timeframe: str) -> Candles | None:
        """Return the pair's window, or None if none is stored."""
        data = await self._cache.get(self.key(symbol, timeframe))
        return None if data is None else decode_window(data)

    async def write(self, window: Candles) -> None:
        """Replace the pair's window with one SET (atomic for every reader)."""
        await self._cache.set(
            self.key(window.symbol, window.timeframe), encode_window(window), self._ttl_s
        )

    async def delete(self, symbol: str, timeframe: str) -> None:
        """Forget the pair's window; a missing one is not an error."""
        await self._cache.delete(self.key(symbol, timeframe))


__all__ = [
    "BytesCache",
    "CacheWindowStore",
    "MemoryWindowStore",
    "Merge",
    "Pair",
    "WindowStore",
    "check_pair",
    "closed_part",
    "decode_window",
    "encode_window",
    "merge_window",
]
