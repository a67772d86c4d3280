"""Walk-forward windows: in-sample ranges each followed by the out-of-sample range they feed.

The OOS ranges of successive windows tile the tested period without gaps or overlap and end
one candle after the last open time. ``rolling`` keeps the IS length fixed and slides it by
the OOS length; ``anchored`` starts every IS at the first candle, so it grows. Lengths come
either as counts (``windows`` and ``is_fraction``, the IS share of one IS + OOS pair, split on
the candle counts of the timeline) or as durations (``"90d"``/``"30d"``, aligned to the end of
the data; whatever does not fit is left before the first IS, which ``anchored`` still uses).
Pure functions of the timeline: no candles, no strategy.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

__all__ = ["DEFAULT_WINDOWS", "Period", "Window", "WindowMode", "make_windows", "parse_period",
           "timeline"]  # fmt: skip

WindowMode = Literal["rolling", "anchored"]
Period = str | int

DEFAULT_WINDOWS = 5
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PERIOD = re.compile(r"\s*([0-9]+)\s*([mhdw])\s*")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%MZ")


def parse_period(value: Period, what: str = "period") -> int:
    """Return a duration in ms from ``"90d"``, ``"12h"``, ``"2w"``, ``"30m"`` or an int of ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        match = _PERIOD.fullmatch(str(value))
        if match is None:
            raise InvalidInputError(
                f"{what} must be a duration such as 90d, 12h, 2w or 30m; found {value!r}."
            )
        ms = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if ms <= 0:
        raise InvalidInputError(f"{what} must be longer than zero; found {value!r}.")
    return ms


# -- windows ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step: IS ``[is_start_ms, oos_start_ms)``, OOS ``[oos_start_ms,
    oos_end_ms)``; the candle counts are those of the timeline the windows were cut from."""

    index: int
    is_start_ms: int
    oos_start_ms: int
    oos_end_ms: int
    is_candles: int
    oos_candles: int

    @property
    def is_end_ms(self) -> int:
        return self.oos_start_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "in_sample": {
                "start_ms": self.is_start_ms,
                "end_ms": self.is_end_ms,
                "candles": self.is_candles,
            },
            "out_of_sample": {
                "start_ms": self.oos_start_ms,
                "end_ms": self.oos_end_ms,
                "candles": self.oos_candles,
            },
        }


def make_windows(
    ts_ms: npt.ArrayLike,
    mode: WindowMode = "rolling",
    *,
    windows: int | None = None,
    is_fraction: float = 0.75,
    is_period: Period | None = None,
    oos_period: Period | None = None,
    bar_ms: int | None = None,
) -> list[Window]:
    """Cut walk-forward windows from an ascending timeline of candle open times.

    Counts: ``windows`` (default 5) OOS ranges of equal candle counts after an IS of
    ``is_fraction / (1 - is_fraction)`` OOS lengths. Durations: ``is_period`` and
    ``oos_period`` (both), as many windows as fit or the last ``windows`` of them.
    ``bar_ms`` (default: the smallest step of ``ts_ms``) makes the last window end one
    candle after the last open time. Every IS and OOS range must hold at least one candle.
    """
    ts = np.asarray(ts_ms, dtype=np.int64)
    if mode not in ("rolling", "anchored"):
        raise InvalidInputError(f"walk-forward mode must be rolling or anchored; found {mode!r}.")
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise InvalidInputError(
            f"walk-forward needs a timeline of at least 2 candles; found {ts.shape[0]}."
        )
    steps = np.diff(ts)
    if (steps <= 0).any():
        raise InvalidInputError("walk-forward timestamps must be strictly ascending.")
    if windows is not None and windows < 1:
        raise InvalidInputError(f"windows must be at least 1; found {windows}.")
    step = int(steps.min()) if bar_ms is None else bar_ms
    end = int(ts[-1]) + step
    if (is_period is None) != (oos_period is None):
        raise InvalidInputError(
            "give both the in-sample and the out-of-sample length (e.g. 90d and 30d), or "
            "neither and use windows with is_fraction."
        )
    if is_period is not None and oos_period is not None:
        is_ms = parse_period(is_period, "the in-sample length")
        oos_ms = parse_period(oos_period, "the out-of-sample length")
        bounds = _by_duration(int(ts[0]), end, mode, windows, is_ms, oos_ms)
    else:
        bounds = _by_count(ts, end, mode, windows or DEFAULT_WINDOWS, is_fraction)
    out = []
    for k, (is_start, oos_start, oos_end) in enumerate(bounds):
        a, b, c = np.searchsorted(ts, [is_start, oos_start, oos_end], side="left")
        if b - a < 1 or c - b < 1:
            raise InvalidInputError(
                f"walk-forward window {k + 1} has no candles in its "
                f"{'in-sample' if b - a < 1 else 'out-of-sample'} range "
                f"({_iso(is_start)} / {_iso(oos_start)} / {_iso(oos_end)}); the data has a "
                "gap there. Use other lengths or a gap-free period (--start/--end)."
            )
        out.append(Window(k, is_start, oos_start, oos_end, int(b - a), int(c - b)))
    return out


def _by_count(
    ts: npt.NDArray[np.int64], end: int, mode: WindowMode, windows: int, is_fraction: float
) -> list[tuple[int, int, int]]:
    if not 0.0 < is_fraction < 1.0:
        raise InvalidInputError(
            f"is_fraction must lie strictly between 0 and 1 (0.75 = 3 parts in-sample to 1 "
            f"out-of-sample); found {is_fraction!r}."
        )
    n = int(ts.shape[0])
    ratio = is_fraction / (1.0 - is_fraction)
    oos_len = n / (windows + ratio)
    cuts = [math.floor(n - (windows - k) * oos_len + 0.5) for k in range(windows + 1)]
    cuts[-1] = n
    is_len = cuts[0]
    if is_len < 1 or min(b - a for a, b in itertools.pairwise(cuts)) < 1:
        raise InvalidInputError(
            f"{n} candles are too few for {windows} windows with is_fraction {is_fraction:g}; "
            "use fewer windows or more data."
        )

    def at(i: int) -> int:
        return int(ts[i]) if i < n else end

    return [
        (at(cuts[k] - is_len if mode == "rolling" else 0), at(cuts[k]), at(cuts[k + 1]))
        for k in range(windows)
    ]


def _by_duration(
    start: int, end: int, mode: WindowMode, windows: int | None, is_ms: int, oos_ms: int
) -> list[tuple[int, int, int]]:
    fit = (end - start - is_ms) // oos_ms
    count = fit if windows is None else windows
    if fit < 1 or count > fit:
        days = (end - start) / _UNIT_MS["d"]
        wanted = "one window" if windows is None else f"{windows} windows"
        raise InvalidInputError(
            f"the data spans {days:.1f} days: too short for {wanted} of "
            f"{is_ms / _UNIT_MS['d']:g} days in-sample + {oos_ms / _UNIT_MS['d']:g} days "
            f"out-of-sample each ({max(fit, 0)} fit). Use shorter lengths or more data."
        )
    out = []
    for k in range(count):
        oos_start = end - (count - k) * oos_ms
        is_start = oos_start - is_ms if mode == "rolling" else start
        out.append((is_start, oos_start, oos_start + oos_ms))
    return out


def timeline(series: Sequence[Candles]) -> npt.NDArray[np.int64]:
    """The union of the series' open times (windows are cut on it), ascending."""
    if not series:
        raise InvalidInputError("walk-forward needs at least one candle series; found none.")
    frames = {(s.timeframe) for s in series}
    if len(frames) > 1:
        raise InvalidInputError(
            f"walk-forward needs one timeframe for all series; found {sorted(frames)}."
        )
    return np.unique(np.concatenate([s.ts_ms for s in series]))
