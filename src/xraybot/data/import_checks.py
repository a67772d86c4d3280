"""Row-by-row checks of candles read from a file, run on the whole file before any write.

Readers turn a file into :class:`Rows` (numbers plus the line or row each came from) and
:class:`Problem` records for what they could not parse; :func:`check_rows` adds every broken
invariant. The lists are capped at :data:`MAX_SHOWN` problems with the total counted, so a
file of a million bad rows still gives a short report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from xraybot.data.store_checks import (
    ALIGNED,
    HIGH_GE_LOW,
    HIGH_GE_OPEN_CLOSE,
    LOW_LE_OPEN_CLOSE,
    PRICE_POSITIVE,
    RULES,
    VOLUME_NON_NEGATIVE,
    BoolArray,
    aligned,
    describe_row,
)
from xraybot.model.candles import FloatArray, IntArray, timeframe_to_ms

MAX_SHOWN = 20

# The store's own rules (store_checks.RULES) are quoted word for word, so a row refused here
# and one refused by CandleStore.write read the same.
RULE_ALIGNED = RULES[ALIGNED]
RULE_ASCENDING = "timestamps must be strictly ascending; sort the file by timestamp"
RULE_DUPLICATE = "each timestamp must appear once; remove the duplicate row"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: where it is, what was found there, and the rule broken."""

    file: str
    unit: str  # "line" (text files, header = line 1), "row" (1-based data row), or "file"
    number: int | None
    found: str
    rule: str

    @property
    def where(self) -> str:
        return self.unit if self.number is None else f"{self.unit} {self.number}"

    def __str__(self) -> str:
        return f"{self.file}, {self.where}: found {self.found}; {self.rule}"

    def as_dict(self) -> dict[str, object]:
        """Return the problem as plain JSON-ready values."""
        return {
            "file": self.file,
            "unit": self.unit,
            "number": self.number,
            "found": self.found,
            "rule": self.rule,
        }


@dataclass(slots=True)
class ProblemList:
    """The first :data:`MAX_SHOWN` problems by position, and how many there were in all."""

    shown: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(problem)

    def merge(self, problems: Iterable[Problem], count: int) -> None:
        """Add ``count`` problems of which ``problems`` are the first ones by position."""
        merged = sorted([*self.shown, *problems], key=_position)
        self.shown = merged[:MAX_SHOWN]
        self.total += count

    def __bool__(self) -> bool:
        return self.total > 0

    def lines(self) -> list[str]:
        """Return one line per shown problem, plus "… and N more" when some were left out."""
        out = [str(p) for p in self.shown]
        if self.total > len(self.shown):
            out.append(f"… and {self.total - len(self.shown)} more")
        return out


def _position(problem: Problem) -> int:
    return -1 if problem.number is None else problem.number


@dataclass(frozen=True, slots=True)
class Rows:
    """Numbers read from a file: one entry per parsed row, ``numbers`` saying where it was."""

    ts_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    numbers: IntArray
    unit: str

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])


def _num(value: float) -> str:
    return repr(float(value))


def check_rows(rows: Rows, timeframe: str, file: str) -> ProblemList:
    """Return every broken invariant of ``rows``: grid, order, prices, volume, high/low."""
    ts, o, h, low, c, v = rows.ts_ms, rows.open, rows.high, rows.low, rows.close, rows.volume
    n = len(rows)
    prev = np.concatenate([ts[:1], ts[:-1]])
    later = np.arange(n) > 0
    with np.errstate(invalid="ignore"):
        prices_ok = (
            np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c)
            & (o > 0) & (h > 0) & (low > 0) & (c > 0)
        )  # fmt: skip
        # The shape rules only apply to rows whose prices are numbers at all.
        checks: list[tuple[str, BoolArray]] = [
            (ALIGNED, ~aligned(ts, timeframe_to_ms(timeframe))),
            (_ASCENDING, later & (ts < prev)),
            (_DUPLICATE, later & (ts == prev)),
            (PRICE_POSITIVE, ~prices_ok),
            (HIGH_GE_LOW, prices_ok & (h < low)),
            (HIGH_GE_OPEN_CLOSE, prices_ok & (h >= low) & (h < np.maximum(o, c))),
            (LOW_LE_OPEN_CLOSE, prices_ok & (h >= low) & (low > np.minimum(o, c))),
            (VOLUME_NON_NEGATIVE, ~(np.isfinite(v) & (v >= 0))),
        ]
    count = 0
    hits: list[tuple[int, int, str]] = []  # (row index, check order, rule)
    for order, (rule, mask) in enumerate(checks):
        idx = np.flatnonzero(mask)
        count += int(idx.size)
        hits.extend((int(i), order, rule) for i in idx[:MAX_SHOWN])
    hits.sort()
    problems = [
        Problem(
            file,
            rows.unit,
            int(rows.numbers[i]),
            _found(rule, i, rows, timeframe),
            _RULE_TEXT[rule],
        )
        for i, _, rule in hits[:MAX_SHOWN]
    ]
    result = ProblemList()
    result.merge(problems, count)
    return result


_ASCENDING = "ascending"
_DUPLICATE = "duplicate"
_RULE_TEXT = {**RULES, _ASCENDING: RULE_ASCENDING, _DUPLICATE: RULE_DUPLICATE}


def _found(rule: str, i: int, rows: Rows, timeframe: str) -> str:
    if rule in (_ASCENDING, _DUPLICATE):
        ts = rows.ts_ms
        where = f"{rows.unit} {int(rows.numbers[i - 1])}"
        if rule == _DUPLICATE:
            return f"timestamp {int(ts[i])} again (also at {where})"
        return f"timestamp {int(ts[i])} after {int(ts[i - 1])} ({where})"
    columns = (rows.ts_ms, rows.open, rows.high, rows.low, rows.close, rows.volume)
    return describe_row(rule, i, columns, timeframe)
