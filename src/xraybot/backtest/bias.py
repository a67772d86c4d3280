"""Bias checks: does a strategy's value at candle t change when data it must not see changes?

Two ways a backtest lies without raising anything:

* **Lookahead**: the value at t used candles after t (``shift(-1)``, ``np.roll``, a centered
  window, a statistic of the whole file). The signals are recomputed on the series cut right
  after t, and every array must give the full run's value at t. Checked at every candle where
  the full run signals (onsets first, then an even sample when there are more than
  ``max_points``) plus an even sample of quiet candles, so a 10k-candle series takes seconds.
* **Recursive / warm-up**: the value at t depends on how much history precedes it beyond the
  strategy's declared ``warmup(params)`` (an EMA seeded at the start of the file, an expanding
  mean). The signals are recomputed without the first k candles, for a few k, and compared
  from k + warm-up on. The report names the smallest warm-up with which every checked start
  agrees, so the fix is a number; ``None`` means no warm-up helps.

Decisions (entry/exit flags) must match exactly, even where a value equals its threshold up
to rounding (the report counts those flips as ``ties`` so they are told apart). Numbers
(features, strength) are compared by relative deviation ``|a - b| / max(|b|, scale)``, where
``scale`` is the mean magnitude of the array in the full run: relative for price-like series,
and not blown up where an oscillator crosses zero. NaN matches NaN; NaN against a number is a
mismatch, counted on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xraybot.backtest.bias_report import (
    ArrayDiff,
    BiasReport,
    Kind,
    LookaheadReport,
    WarmupDiff,
    WarmupReport,
)
from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import BoolArray, Params, Signals, Strategy
from xraybot.strategy.guard import compute_signals

__all__ = [
    "DEFAULT_MAX_POINTS",
    "DEFAULT_TOLERANCE",
    "LOOKAHEAD_TOLERANCE",
    "ArrayDiff",
    "BiasReport",
    "LookaheadReport",
    "WarmupDiff",
    "WarmupReport",
    "check_bias",
    "check_lookahead",
    "check_warmup",
    "default_offsets",
    "lookahead_points",
]

DEFAULT_MAX_POINTS = 500
DEFAULT_TOLERANCE = 1e-6
# Cutting the future off must not change a causal value at all; the slack only forgives
# summation order (an FFT convolution, a reduction split differently).
LOOKAHEAD_TOLERANCE = 1e-9
FIRST_INDICES = 10  # differing indices a report lists per array (bias_report._LISTED)

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each recomputation of the signals."""

_DECISIONS = ("entry_long", "exit_long", "entry_short", "exit_short")


def _named_arrays(signals: Signals) -> dict[str, tuple[Kind, npt.NDArray[Any]]]:
    """Every array of ``signals`` by report name: decisions, ``strength``, ``features.<key>``."""
    named: dict[str, tuple[Kind, npt.NDArray[Any]]] = {}
    for name in _DECISIONS:
        values = getattr(signals, name)
        if values is not None:
            named[name] = ("decision", values)
    if signals.strength is not None:
        named["strength"] = ("value", signals.strength)
    for key, values in signals.features.items():
        named[f"features.{key}"] = ("value", values)
    return named


def _scale(values: npt.NDArray[Any]) -> float:
    finite = np.abs(values[np.isfinite(values)])
    mean = float(finite.mean()) if finite.size else 0.0
    return mean if mean > 0.0 else float(np.finfo(np.float64).tiny)


def _compare(
    kind: Kind, got: npt.NDArray[Any], want: npt.NDArray[Any], scale: float, tolerance: float
) -> tuple[BoolArray, FloatArray, BoolArray]:
    """Where ``got`` differs from ``want``, the relative deviations, and NaN mismatches."""
    if kind == "decision":
        bad = got != want
        return bad, bad.astype(np.float64), np.zeros(bad.shape, dtype=np.bool_)
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    nan_mismatch = got_nan != want_nan
    with np.errstate(invalid="ignore", over="ignore"):
        deviation = np.abs(got - want) / np.maximum(np.abs(want), scale)
    deviation[np.isnan(deviation)] = np.inf  # inf against a different inf or a number
    deviation[(got == want) | got_nan | want_nan] = 0.0
    return (deviation > tolerance) | nan_mismatch, deviation, nan_mismatch


class _Tally:
    """Accumulates comparisons of one array over many points or offsets."""

    def __init__(self, name: str, kind: Kind) -> None:
        self.name, self.kind = name, kind
        self.checked = self.differing = self.nan_mismatches = 0
        self.max_deviation = 0.0
        self.indices: list[int] = []
        self.stable_after: int | None = 0
        self.ties = 0

    def add(
        self, bad: BoolArray, deviation: FloatArray, nan_mismatch: BoolArray, index: IntArray
    ) -> None:
        self.checked += int(bad.size)
        self.differing += int(bad.sum())
        self.nan_mismatches += int(nan_mismatch.sum())
        finite = deviation[~nan_mismatch]
        if self.kind == "value" and finite.size:
            self.max_deviation = max(self.max_deviation, float(finite.max()))
        self.indices.extend(int(i) for i in index[bad][:FIRST_INDICES])

    def settle(self, bad: BoolArray) -> None:
        """Fold in one shortened run's mismatches over its whole length (warm-up included)."""
        if self.stable_after is None or not bad.size:
            return
        if bad[-1]:
            self.stable_after = None
        elif bad.any():
            self.stable_after = max(self.stable_after, int(np.flatnonzero(bad)[-1]) + 1)

    def diff(self) -> ArrayDiff:
        return ArrayDiff(*self._common())

    def warmup_diff(self) -> WarmupDiff:
        return WarmupDiff(*self._common(), self.stable_after, self.ties)

    def _common(self) -> tuple[str, Kind, int, int, tuple[int, ...], float, int]:
        first = tuple(sorted(set(self.indices))[:FIRST_INDICES])
        return (
            self.name, self.kind, self.checked, self.differing, first, self.max_deviation,
            self.nan_mismatches,
        )  # fmt: skip


def _missing(kind: Kind, size: int) -> npt.NDArray[Any]:
    # An array the full run has and a shorter run lacks compares as "never signals" / NaN.
    return np.zeros(size, dtype=np.bool_) if kind == "decision" else np.full(size, np.nan)


# -- lookahead ----------------------------------------------------------------------------


def _spread(indices: IntArray, budget: int) -> IntArray:
    """At most ``budget`` of ``indices``, evenly spread, first one included."""
    if indices.size <= budget:
        return indices
    if budget <= 0:
        return indices[:0]
    return indices[(np.arange(budget, dtype=np.int64) * indices.size) // budget]


def lookahead_points(
    signal: BoolArray, onset: BoolArray, start: int, max_points: int
) -> tuple[IntArray, int]:
    """Candles to cut after, ascending, and how many of them signal.

    Onsets (a decision turning true: where trades start and end) come first, then the other
    signalling candles, each evenly spread when the budget is short; a quarter of the budget
    is kept for quiet candles from ``start`` on, where a leak in the features alone shows.
    The last candle is skipped: cutting after it changes nothing.
    """
    last = signal.shape[0] - 1
    if last <= 0:
        return np.empty(0, dtype=np.int64), 0
    onsets = np.flatnonzero(onset[:last]).astype(np.int64)
    held = np.flatnonzero(signal[:last] & ~onset[:last]).astype(np.int64)
    quiet = np.flatnonzero(~signal[:last]).astype(np.int64)
    quiet = quiet[quiet >= min(start, last - 1)]
    budget = max_points - min(quiet.size, max_points // 4)
    chosen = _spread(onsets, budget)
    chosen = np.union1d(chosen, _spread(held, budget - chosen.size))
    return np.union1d(chosen, _spread(quiet, max_points - chosen.size)), int(chosen.size)


def check_lookahead(
    strategy: Strategy,
    candles: Candles,
    params: Params,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    tolerance: float = LOOKAHEAD_TOLERANCE,
    full: Signals | None = None,
    progress: Progress | None = None,
) -> LookaheadReport:
    """Recompute the signals on ``candles`` cut after sampled candles t; compare at t.

    ``params`` are resolved (``strategy.resolve``); ``full`` reuses signals already computed
    on the whole series. ``progress(done, total)`` follows the recomputations.
    """
    _positive_int("max_points", max_points)
    _tolerance("lookahead tolerance", tolerance)
    if full is None:
        full = compute_signals(strategy, candles, params)
    named = _named_arrays(full)
    signal = np.zeros(len(candles), dtype=np.bool_)
    onset = np.zeros(len(candles), dtype=np.bool_)
    for name in _DECISIONS:
        if name in named:
            flags = named[name][1]
            signal |= flags
            onset |= flags & ~np.concatenate(([False], flags[:-1]))
    start = _warmup(strategy, params)
    points, signalling = lookahead_points(signal, onset, start, max_points)
    got = {name: _missing(kind, points.size) for name, (kind, _) in named.items()}
    for done, t in enumerate(points.tolist(), start=1):
        cut = _named_arrays(
            compute_signals(strategy, candles.between(None, int(candles.ts_ms[t]) + 1), params)
        )
        for name in named:
            if name in cut:
                got[name][done - 1] = cut[name][1][t]
        if progress is not None:
            progress(done, points.size)
    arrays = []
    for name, (kind, values) in named.items():
        tally = _Tally(name, kind)
        tally.add(*_compare(kind, got[name], values[points], _scale(values), tolerance), points)
        arrays.append(tally.diff())
    return LookaheadReport(
        points.size, int(signal[:-1].sum()), signalling, tolerance, tuple(arrays)
    )


# -- recursive / warm-up ------------------------------------------------------------------


def default_offsets(n: int, warmup: int) -> tuple[int, ...]:
    """Starts to drop: one candle (any seeded recursion shows), a tenth and a quarter of the
    series (history-length effects grow with it); only those leaving candles to compare."""
    candidates = (1, n // 10, n // 4)
    return tuple(sorted({k for k in candidates if k >= 1 and k + warmup < n}))


def check_warmup(
    strategy: Strategy,
    candles: Candles,
    params: Params,
    *,
    offsets: Sequence[int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    full: Signals | None = None,
    progress: Progress | None = None,
) -> WarmupReport:
    """Recompute the signals on ``candles`` without their first k candles, for each offset k,
    and compare with the full run from k + ``strategy.warmup(params)`` on."""
    _tolerance("tolerance", tolerance)
    n, warmup = len(candles), _warmup(strategy, params)
    usable = _usable_offsets(n, warmup, offsets)
    if full is None:
        full = compute_signals(strategy, candles, params)
    named = _named_arrays(full)
    tallies = {name: _Tally(name, kind) for name, (kind, _) in named.items()}
    for done, k in enumerate(usable, start=1):
        shorter = _named_arrays(
            compute_signals(strategy, candles.between(int(candles.ts_ms[k]), None), params)
        )
        index = np.arange(k, n, dtype=np.int64)
        compared = {
            name: _compare(
                kind,
                shorter[name][1] if name in shorter else _missing(kind, n - k),
                values[k:],
                _scale(values),
                tolerance,
            )
            for name, (kind, values) in named.items()
        }
        # A decision flip where every number agrees within tolerance, at t and at t-1 (a
        # cross reads both), is a tie at a threshold that rounding broke differently.
        numbers_differ = np.zeros(n - k, dtype=np.bool_)
        for name, (kind, _) in named.items():
            if kind == "value":
                numbers_differ |= compared[name][0]
        numbers_differ[1:] |= numbers_differ[:-1].copy()
        has_numbers = any(kind == "value" for kind, _ in named.values())
        for name, (kind, _) in named.items():
            bad, deviation, nan_mismatch = compared[name]
            tally = tallies[name]
            tally.add(bad[warmup:], deviation[warmup:], nan_mismatch[warmup:], index[warmup:])
            if kind == "decision" and has_numbers:
                tally.ties += int((bad & ~numbers_differ)[warmup:].sum())
            tally.settle(bad)
        if progress is not None:
            progress(done, len(usable))
    arrays = tuple(t.warmup_diff() for t in tallies.values())
    return WarmupReport(warmup, usable, tolerance, arrays)


# -- both ---------------------------------------------------------------------------------


def check_bias(
    strategy: Strategy,
    candles: Candles,
    params: Mapping[str, object] | None = None,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    offsets: Sequence[int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    lookahead_tolerance: float = LOOKAHEAD_TOLERANCE,
    progress: Progress | None = None,
) -> BiasReport:
    """Run the lookahead and the warm-up check of ``strategy`` on ``candles``.

    ``params`` are overrides of the defaults (validated by ``strategy.resolve``).
    ``progress(done, total)`` counts recomputations of the signals over both checks.
    """
    resolved = strategy.resolve(params)
    _positive_int("max_points", max_points)
    after = len(_usable_offsets(len(candles), _warmup(strategy, resolved), offsets))
    full = compute_signals(strategy, candles, resolved)
    report = progress or (lambda done, total: None)
    report(1, 1 + max_points + after)
    lookahead = check_lookahead(
        strategy, candles, resolved, max_points=max_points, tolerance=lookahead_tolerance,
        full=full, progress=lambda done, total: report(1 + done, 1 + total + after),
    )  # fmt: skip
    before = 1 + lookahead.points
    warmup = check_warmup(
        strategy, candles, resolved, offsets=offsets, tolerance=tolerance, full=full,
        progress=lambda done, total: report(before + done, before + total),
    )  # fmt: skip
    name = str(getattr(strategy, "name", None) or type(strategy).__name__)
    return BiasReport(
        name, candles.symbol, candles.timeframe, len(candles), resolved, lookahead, warmup
    )


# -- argument checks ----------------------------------------------------------------------


def _warmup(strategy: Strategy, params: Params) -> int:
    value = strategy.warmup(params)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise StrategyError(
            f"strategy {getattr(strategy, 'name', type(strategy).__name__)!r}: warmup() must "
            f"return a whole number of candles >= 0; found {value!r}."
        )
    return int(value)


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a whole number >= 1; found {value!r}.")


def _tolerance(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0.0):
        raise InvalidInputError(f"{name} must be a finite number >= 0; found {value!r}.")


def _usable_offsets(n: int, warmup: int, offsets: Iterable[int] | None) -> tuple[int, ...]:
    chosen = default_offsets(n, warmup) if offsets is None else _offsets(offsets)
    usable = tuple(k for k in chosen if k + warmup < n)
    if not usable:
        raise InvalidInputError(
            f"the warm-up check needs candles after start + warm-up ({warmup}); found {n} "
            f"candles with starts {list(chosen)}. Give a longer series or smaller offsets."
        )
    return usable


def _offsets(values: Iterable[int]) -> tuple[int, ...]:
    chosen = tuple(values)
    for k in chosen:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(
                f"warm-up offsets must be whole numbers of candles >= 1; found {k!r}."
            )
    if not chosen:
        raise InvalidInputError("give at least one warm-up offset; found none.")
    return tuple(sorted(set(chosen)))
