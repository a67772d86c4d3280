"""Columnar OHLCV candles.

A candle is stamped with its *open* time in integer milliseconds UTC and is known only
once it has closed (``ts_ms + timeframe_ms <= now_ms``). The arrays are read-only views:
slicing never copies, and nothing downstream can edit history through them. Being views,
they share memory with the arrays passed in: hand over arrays you will not modify.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xraybot.model.errors import DataValidationError, InvalidInputError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_TIMEFRAME = re.compile(r"([0-9]+)([mhdw])")


def timeframe_to_ms(timeframe: str) -> int:
    """Convert a ccxt-style timeframe ("1m", "4h", "1d", "1w") to milliseconds."""
    match = _TIMEFRAME.fullmatch(timeframe)
    if match is None or int(match.group(1)) == 0:
        raise InvalidInputError(
            f"timeframe must look like 1m, 5m, 1h, 4h, 1d or 1w; found {timeframe!r}."
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _frozen_view(values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    view = values.view()
    view.flags.writeable = False
    return view


_PRICE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Candles:
    """OHLCV for one symbol and timeframe, ascending by open time, no duplicates."""

    symbol: str
    timeframe: str
    ts_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        owner = f"Candles({self.symbol!r}, {self.timeframe!r})"
        timeframe_to_ms(self.timeframe)
        if not isinstance(self.ts_ms, np.ndarray) or self.ts_ms.dtype != np.int64:
            raise DataValidationError(
                f"{owner}.ts_ms must be a numpy int64 array of ms; found "
                f"{getattr(self.ts_ms, 'dtype', type(self.ts_ms).__name__)}."
            )
        if self.ts_ms.ndim != 1:
            raise DataValidationError(f"{owner}.ts_ms must be 1-D; found {self.ts_ms.ndim}-D.")
        n = self.ts_ms.shape[0]
        for name in _PRICE_FIELDS:
            column = getattr(self, name)
            if not isinstance(column, np.ndarray) or column.dtype != np.float64:
                raise DataValidationError(
                    f"{owner}.{name} must be a numpy float64 array; found "
                    f"{getattr(column, 'dtype', type(column).__name__)}."
                )
            if column.shape != (n,):
                raise DataValidationError(
                    f"{owner}.{name} must have the same length as ts_ms ({n}); "
                    f"found shape {column.shape}."
                )
        if n > 1:
            steps = np.diff(self.ts_ms)
            bad = np.flatnonzero(steps <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise DataValidationError(
                    f"{owner}: timestamps must be strictly ascending; row {i} has "
                    f"{int(self.ts_ms[i])} after {int(self.ts_ms[i - 1])}. "
                    "Sort and de-duplicate first."
                )
        for name in ("ts_ms", *_PRICE_FIELDS):
            object.__setattr__(self, name, _frozen_view(getattr(self, name)))

    @classmethod
    def empty(cls, symbol: str, timeframe: str) -> Candles:
        nothing = np.empty(0, dtype=np.float64)
        return cls(symbol, timeframe, np.empty(0, dtype=np.int64), *([nothing] * 5))

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def timeframe_ms(self) -> int:
        return timeframe_to_ms(self.timeframe)

    def _slice(self, start: int, stop: int) -> Candles:
        # Slices of a validated series are valid; skip the O(n) checks on the hot path.
        sliced = object.__new__(Candles)
        object.__setattr__(sliced, "symbol", self.symbol)
        object.__setattr__(sliced, "timeframe", self.timeframe)
        for name in ("ts_ms", *_PRICE_FIELDS):
            object.__setattr__(sliced, name, getattr(self, name)[start:stop])
        return sliced

    def closed(self, now_ms: int) -> Candles:
        """Return the candles that have closed by ``now_ms`` (open + timeframe <= now)."""
        cutoff = now_ms - self.timeframe_ms
        stop = int(np.searchsorted(self.ts_ms, cutoff, side="right"))
        return self._slice(0, stop)

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Candles:
        """Return candles with ``start_ms <= ts_ms < end_ms``; ``None`` leaves a side open."""
        start = 0 if start_ms is None else int(np.searchsorted(self.ts_ms, start_ms, side="left"))
        stop = (
            len(self) if end_ms is None else int(np.searchsorted(self.ts_ms, end_ms, side="left"))
        )
        return self._slice(start, max(start, stop))

    def tail(self, count: int) -> Candles:
        if count < 0:
            raise InvalidInputError(f"tail count must be >= 0; found {count}.")
        return self._slice(max(0, len(self) - count), len(self))
