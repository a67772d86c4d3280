"""Correlation of log returns across symbols on one common time grid.

The grid is every candle open time any symbol has; a symbol's return at grid row t is
``log(close_t / close_{t-1})`` between consecutive grid rows, missing where either candle is.
Symbols with returns on fewer than ``min_coverage`` of the rows (young listings, halted
markets) are dropped *with the reason*, because keeping them would shrink everyone's sample
to their few rows. Symbols whose price never moved have no correlation and are dropped too.
The matrix uses the rows where every kept symbol has a return, so it is a true correlation
matrix (what ``numpy.corrcoef`` gives on those rows) rather than a pairwise patchwork.

Before correlating, each symbol's returns are clipped to its median ± ``winsorize`` robust
standard deviations (1.4826 × MAD; default 5). Pearson's correlation is a ratio of sums of
squares, so one 25 % candle among 1 % ones can own a symbol's variance and cut it off from
the coins it moves with every other hour (measured: a single such jump moved a member of a
constructed four-coin group into a cluster of its own). The spike itself is reported by the
anomaly scan; ``winsorize=None`` gives the plain Pearson matrix.

"Rolling" means the matrix over the trailing ``window`` returns, as known at the last one;
:func:`rolling_mean_correlation` walks that window along the grid (causally) to show how
the market's co-movement changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import DataValidationError, InvalidInputError

DEFAULT_MIN_COVERAGE = 0.9
DEFAULT_MIN_ROWS = 30  # fewer common returns than this give correlations that are mostly noise
DEFAULT_WINSORIZE = 5.0
_MAD_TO_SD = 1.4826


@dataclass(frozen=True, slots=True)
class AlignedReturns:
    """Log returns of several symbols on one grid: ``returns[t, j]`` ends at ``ts_ms[t]``."""

    ts_ms: IntArray
    symbols: tuple[str, ...]
    returns: FloatArray  # shape (rows, symbols); NaN where a candle is missing
    dropped: Mapping[str, str]  # symbol -> why it is not in ``symbols``

    def complete_rows(self) -> npt.NDArray[np.bool_]:
        """Return which rows have a return for every symbol."""
        complete: npt.NDArray[np.bool_] = np.all(np.isfinite(self.returns), axis=1)
        return complete


@dataclass(frozen=True, slots=True)
class Correlation:
    """A correlation matrix of log returns, with the sample it came from."""

    symbols: tuple[str, ...]
    matrix: FloatArray  # (n, n), symmetric, 1 on the diagonal
    rows: int  # returns per symbol used
    first_ts_ms: int
    last_ts_ms: int
    dropped: Mapping[str, str]
    winsorize: float | None = DEFAULT_WINSORIZE  # returns clipped at this many robust SDs

    def between(self, a: str, b: str) -> float:
        """Return the correlation of two symbols."""
        return float(self.matrix[self.symbols.index(a), self.symbols.index(b)])

    def mean_pairwise(self) -> float:
        """Return the mean correlation over distinct pairs (NaN with fewer than two symbols)."""
        n = len(self.symbols)
        if n < 2:
            return math.nan
        upper = self.matrix[np.triu_indices(n, k=1)]
        return float(upper.mean())

    def as_dict(self) -> dict[str, object]:
        """Return the matrix and its sample as JSON-ready data."""
        return {
            "symbols": list(self.symbols),
            "matrix": [[round(float(x), 6) for x in row] for row in self.matrix],
            "rows": self.rows,
            "first_ts_ms": self.first_ts_ms,
            "last_ts_ms": self.last_ts_ms,
            "mean_pairwise": _rounded(self.mean_pairwise()),
            "winsorize": self.winsorize,
            "dropped": dict(self.dropped),
        }


def align_returns(
    candles_by_symbol: Mapping[str, Candles],
    *,
    window: int | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> AlignedReturns:
    """Put every symbol's log returns on one grid (its last ``window`` rows); drop sparse ones."""
    if not 0.0 < min_coverage <= 1.0:
        raise InvalidInputError(f"min_coverage must be a share in (0, 1]; found {min_coverage}.")
    if window is not None and window < 2:
        raise InvalidInputError(f"window must be at least 2 returns; found {window}.")
    timeframes = {c.timeframe for c in candles_by_symbol.values()}
    if len(timeframes) > 1:
        raise InvalidInputError(
            f"correlations need one timeframe; found {', '.join(sorted(timeframes))}. "
            "Fetch every symbol with the same timeframe."
        )
    dropped: dict[str, str] = {}
    usable = {}
    for symbol, candles in candles_by_symbol.items():
        if len(candles) < 2:
            dropped[symbol] = f"has {len(candles)} candle(s); a return needs two"
        else:
            usable[symbol] = candles
    if not usable:
        return AlignedReturns(np.empty(0, np.int64), (), np.empty((0, 0)), dropped)
    grid = np.unique(np.concatenate([c.ts_ms for c in usable.values()]))
    if window is not None:
        grid = grid[-(window + 1) :]
    closes = np.full((grid.shape[0], len(usable)), np.nan)
    for j, candles in enumerate(usable.values()):
        inside = np.isin(candles.ts_ms, grid)
        closes[np.searchsorted(grid, candles.ts_ms[inside]), j] = candles.close[inside]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.diff(np.log(closes), axis=0)
    rows = returns.shape[0]
    keep = []
    for j, symbol in enumerate(usable):
        present = int(np.isfinite(returns[:, j]).sum())
        if rows == 0 or present < min_coverage * rows:
            dropped[symbol] = (
                f"has returns on {present} of the {rows} common bars "
                f"({present / max(rows, 1):.0%}); correlation needs {min_coverage:.0%}"
            )
        else:
            keep.append(j)
    symbols = tuple(s for j, s in enumerate(usable) if j in keep)
    return AlignedReturns(grid[1:], symbols, returns[:, keep], dropped)


def correlation(
    candles_by_symbol: Mapping[str, Candles],
    *,
    window: int | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    min_rows: int = DEFAULT_MIN_ROWS,
    winsorize: float | None = DEFAULT_WINSORIZE,
) -> Correlation:
    """Return the correlation matrix of log returns over the trailing ``window`` bars."""
    aligned = align_returns(candles_by_symbol, window=window, min_coverage=min_coverage)
    return correlation_of(aligned, min_rows=min_rows, winsorize=winsorize)


def correlation_of(
    aligned: AlignedReturns,
    *,
    min_rows: int = DEFAULT_MIN_ROWS,
    winsorize: float | None = DEFAULT_WINSORIZE,
) -> Correlation:
    """Return the correlation matrix of the rows where every symbol has a return."""
    complete = aligned.complete_rows()
    sample = aligned.returns[complete]
    if winsorize is not None:
        sample = clip_outliers(sample, winsorize)
    dropped = dict(aligned.dropped)
    if sample.shape[0] < min_rows:
        raise DataValidationError(
            f"correlation needs at least {min_rows} bars where all {len(aligned.symbols)} "
            f"symbols have a return; found {sample.shape[0]}. Fetch more candles or fewer, "
            "older symbols."
        )
    moving = sample.std(axis=0) > 0
    for j in np.flatnonzero(~moving):
        dropped[aligned.symbols[j]] = (
            f"price did not move over the {sample.shape[0]} bars, so it has no correlation"
        )
    symbols = tuple(s for s, m in zip(aligned.symbols, moving, strict=True) if m)
    sample = sample[:, moving]
    times = aligned.ts_ms[complete]
    if len(symbols) == 1:
        matrix = np.ones((1, 1))
    elif not symbols:
        matrix = np.empty((0, 0))
    else:
        matrix = np.atleast_2d(np.corrcoef(sample, rowvar=False))
        np.fill_diagonal(matrix, 1.0)  # exactly, whatever the rounding
    return Correlation(
        symbols=symbols,
        matrix=matrix,
        rows=int(sample.shape[0]),
        first_ts_ms=int(times[0]),
        last_ts_ms=int(times[-1]),
        dropped=dropped,
        winsorize=winsorize,
    )


def clip_outliers(returns: FloatArray, k: float) -> FloatArray:
    """Clip each column to its median ± ``k`` robust standard deviations (MAD-based)."""
    if k <= 0:
        raise InvalidInputError(f"winsorize must be > 0 robust standard deviations; found {k}.")
    if returns.shape[0] == 0:
        return returns
    median = np.median(returns, axis=0)
    scale = _MAD_TO_SD * np.median(np.abs(returns - median), axis=0)
    # A column with MAD 0 (mostly flat) is left alone: clipping would flatten it entirely.
    scale = np.where(scale > 0, scale, np.inf)
    clipped: FloatArray = np.clip(returns, median - k * scale, median + k * scale)
    return clipped


def rolling_mean_correlation(
    aligned: AlignedReturns,
    window: int,
    *,
    step: int = 1,
    winsorize: float | None = DEFAULT_WINSORIZE,
) -> tuple[IntArray, FloatArray]:
    """Return, every ``step`` complete rows, the mean pairwise correlation of the last ``window``.

    Causal: the value at a row uses that row's returns and the ``window - 1`` before it
    (each window is clipped on its own, like :func:`correlation_of`).
    Returns (ts_ms, mean correlation); empty with fewer than two symbols or ``window`` rows.
    """
    if window < 3 or step < 1:
        raise InvalidInputError(f"window must be >= 3 and step >= 1; found {window} and {step}.")
    complete = aligned.complete_rows()
    sample = aligned.returns[complete]
    times = aligned.ts_ms[complete]
    n_rows, n = sample.shape if sample.ndim == 2 else (0, 0)
    if n < 2 or n_rows < window:
        return np.empty(0, np.int64), np.empty(0)
    upper = np.triu_indices(n, k=1)
    ends = np.arange(window, n_rows + 1, step)
    means = np.empty(ends.shape[0])
    for i, end in enumerate(ends):
        block = sample[end - window : end]
        if winsorize is not None:
            block = clip_outliers(block, winsorize)
        with np.errstate(divide="ignore", invalid="ignore"):
            matrix = np.atleast_2d(np.corrcoef(block, rowvar=False))
        means[i] = np.nanmean(matrix[upper]) if np.isfinite(matrix[upper]).any() else np.nan
    return times[ends - 1], means


def _rounded(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None
