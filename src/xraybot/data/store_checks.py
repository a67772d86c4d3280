"""The invariants every stored candle keeps, checked on a whole series before anything is written.

``Candles`` already guarantees int64/float64 columns of one length, strictly ascending
timestamps and no duplicates; these rules add what a candle must look like. Row numbers are
0-based positions in the series handed to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from xraybot.model.candles import Candles, FloatArray, IntArray, timeframe_to_ms
from xraybot.model.errors import DataValidationError

MAX_SHOWN = 20

_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
# 1970-01-01 was a Thursday; weekly candles open on Monday 00:00 UTC (Binance, MEXC, ccxt).
_MONDAY_MS = 4 * _DAY_MS

# Rule names, in the order they are checked on a row.
ALIGNED = "aligned"
PRICE_POSITIVE = "price_positive"
HIGH_GE_LOW = "high_ge_low"
HIGH_GE_OPEN_CLOSE = "high_ge_open_close"
LOW_LE_OPEN_CLOSE = "low_le_open_close"
VOLUME_NON_NEGATIVE = "volume_non_negative"

RULES: dict[str, str] = {
    ALIGNED: "timestamps must be candle open times on the timeframe's grid (weeks open on "
    "Monday 00:00 UTC)",
    PRICE_POSITIVE: "open, high, low and close must be finite and > 0",
    HIGH_GE_LOW: "high must be >= low",
    HIGH_GE_OPEN_CLOSE: "high must be >= max(open, close)",
    LOW_LE_OPEN_CLOSE: "low must be <= min(open, close)",
    VOLUME_NON_NEGATIVE: "volume must be finite and >= 0",
}

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CandleProblem:
    """One row breaking one rule: where, what was found, which rule."""

    row: int
    ts_ms: int
    rule: str  # a key of RULES
    found: str

    def __str__(self) -> str:
        when = datetime.fromtimestamp(self.ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"row {self.row} (ts_ms {self.ts_ms}, {when}): found {self.found}; {RULES[self.rule]}"
        )


def grid_offset_ms(timeframe_ms: int) -> int:
    """Return where the timeframe's grid starts relative to the epoch (Monday for weeks)."""
    return _MONDAY_MS if timeframe_ms % _WEEK_MS == 0 else 0


def aligned(ts_ms: npt.NDArray[np.int64], timeframe_ms: int) -> BoolArray:
    """Return a mask of the timestamps that open a candle of the timeframe."""
    result: BoolArray = (ts_ms - grid_offset_ms(timeframe_ms)) % timeframe_ms == 0
    return result


def _num(value: np.float64) -> str:
    return repr(float(value))


def describe_row(
    rule: str,
    i: int,
    columns: tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    timeframe: str,
) -> str:
    """Say what row ``i`` of (ts_ms, open, high, low, close, volume) holds against ``rule``."""
    ts, o, h, low, c, v = columns
    if rule == ALIGNED:
        tf_ms = timeframe_to_ms(timeframe)
        past = (int(ts[i]) - grid_offset_ms(tf_ms)) % tf_ms
        return f"timestamp {int(ts[i])}, {past} ms past the {timeframe} grid"
    if rule == PRICE_POSITIVE:
        values = {"open": o[i], "high": h[i], "low": low[i], "close": c[i]}
        return " ".join(
            f"{k}={_num(x)}" for k, x in values.items() if not (np.isfinite(x) and x > 0)
        )
    if rule == HIGH_GE_LOW:
        return f"high={_num(h[i])} < low={_num(low[i])}"
    if rule == HIGH_GE_OPEN_CLOSE:
        return f"high={_num(h[i])} < max(open={_num(o[i])}, close={_num(c[i])})"
    if rule == LOW_LE_OPEN_CLOSE:
        return f"low={_num(low[i])} > min(open={_num(o[i])}, close={_num(c[i])})"
    return f"volume={_num(v[i])}"


def _found(rule: str, c: Candles, i: int) -> str:
    columns = (c.ts_ms, c.open, c.high, c.low, c.close, c.volume)
    return describe_row(rule, i, columns, c.timeframe)


def find_problems(candles: Candles, limit: int = MAX_SHOWN) -> tuple[list[CandleProblem], int]:
    """Return the first ``limit`` problems by row and the total number of (row, rule) hits."""
    o, h, lo, c, v = candles.open, candles.high, candles.low, candles.close, candles.volume
    with np.errstate(invalid="ignore"):
        prices_ok = (
            np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
            & (o > 0) & (h > 0) & (lo > 0) & (c > 0)
        )  # fmt: skip
        # The shape rules apply to rows whose prices are numbers at all; high < low is
        # reported alone, as it always breaks one of the two rules after it too.
        shaped = prices_ok & (h >= lo)
        masks: list[tuple[str, BoolArray]] = [
            (ALIGNED, ~aligned(candles.ts_ms, candles.timeframe_ms)),
            (PRICE_POSITIVE, ~prices_ok),
            (HIGH_GE_LOW, prices_ok & (h < lo)),
            (HIGH_GE_OPEN_CLOSE, shaped & (h < np.maximum(o, c))),
            (LOW_LE_OPEN_CLOSE, shaped & (lo > np.minimum(o, c))),
            (VOLUME_NON_NEGATIVE, ~(np.isfinite(v) & (v >= 0))),
        ]
    total = 0
    hits: list[tuple[int, int, str]] = []
    for order, (rule, mask) in enumerate(masks):
        rows = np.flatnonzero(mask)
        total += int(rows.size)
        hits.extend((int(i), order, rule) for i in rows[:limit])
    hits.sort()
    problems = [
        CandleProblem(i, int(candles.ts_ms[i]), rule, _found(rule, candles, i))
        for i, _, rule in hits[:limit]
    ]
    return problems, total


def check_candles(candles: Candles, what: str) -> None:
    """Raise DataValidationError listing the rows that break a rule; ``what`` names the series."""
    problems, total = find_problems(candles)
    if not total:
        return
    lines = "\n".join(f"  - {p}" for p in problems)
    more = f"\n  … and {total - len(problems)} more" if total > len(problems) else ""
    raise DataValidationError(
        f"{what}: {total} problem(s) in {len(candles)} candles, nothing was written:\n"
        f"{lines}{more}\nFix or drop those rows and write again."
    )
