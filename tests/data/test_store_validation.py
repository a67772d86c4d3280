"""Writes validate the whole series first: each broken rule is named with its row, nothing lands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support.store import DAY, MINUTE, T0, make_candles, steps
from xraybot.data.store import CandleStore
from xraybot.data.store_checks import (
    ALIGNED,
    HIGH_GE_LOW,
    HIGH_GE_OPEN_CLOSE,
    LOW_LE_OPEN_CLOSE,
    PRICE_POSITIVE,
    RULES,
    VOLUME_NON_NEGATIVE,
    find_problems,
)
from xraybot.model import Candles
from xraybot.model.errors import DataValidationError

Columns = dict[str, np.ndarray]


def _columns(candles: Candles) -> Columns:
    names = ("ts_ms", "open", "high", "low", "close", "volume")
    return {name: getattr(candles, name).copy() for name in names}


def _unaligned(c: Columns) -> None:
    c["ts_ms"][3] += 1


def _nan_close(c: Columns) -> None:
    c["close"][3] = np.nan


def _zero_open(c: Columns) -> None:
    c["open"][3] = 0.0


def _negative_low(c: Columns) -> None:
    c["low"][3] = -1.0


def _infinite_high(c: Columns) -> None:
    c["high"][3] = np.inf


def _high_below_low(c: Columns) -> None:
    c["high"][3], c["low"][3] = 90.0, 95.0
    c["open"][3] = c["close"][3] = 92.0


def _high_below_open(c: Columns) -> None:
    c["open"][3], c["close"][3], c["high"][3], c["low"][3] = 99.0, 95.0, 98.0, 94.0


def _low_above_close(c: Columns) -> None:
    c["open"][3], c["close"][3], c["high"][3], c["low"][3] = 99.0, 95.0, 100.0, 96.0


def _negative_volume(c: Columns) -> None:
    c["volume"][3] = -0.5


def _nan_volume(c: Columns) -> None:
    c["volume"][3] = np.nan


CASES: list[tuple[Callable[[Columns], None], str, str]] = [
    (_unaligned, ALIGNED, f"timestamp {T0 + 3 * MINUTE + 1}, 1 ms past the 1m grid"),
    (_nan_close, PRICE_POSITIVE, "close=nan"),
    (_zero_open, PRICE_POSITIVE, "open=0.0"),
    (_negative_low, PRICE_POSITIVE, "low=-1.0"),
    (_infinite_high, PRICE_POSITIVE, "high=inf"),
    (_high_below_low, HIGH_GE_LOW, "high=90.0 < low=95.0"),
    (_high_below_open, HIGH_GE_OPEN_CLOSE, "high=98.0 < max(open=99.0, close=95.0)"),
    (_low_above_close, LOW_LE_OPEN_CLOSE, "low=96.0 > min(open=99.0, close=95.0)"),
    (_negative_volume, VOLUME_NON_NEGATIVE, "volume=-0.5"),
    (_nan_volume, VOLUME_NON_NEGATIVE, "volume=nan"),
]


@pytest.mark.parametrize(("breaker", "rule", "found"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_rule_is_named_with_its_row_and_nothing_is_written(
    tmp_path: Path, breaker: Callable[[Columns], None], rule: str, found: str
) -> None:
    store = CandleStore(tmp_path)
    stored = make_candles(steps(T0 - 100 * MINUTE, 50), seed=3)
    store.write("mexc", stored)
    path = store.path("mexc", "BTC/USDT", "1m")
    before = path.read_bytes()
    columns = _columns(make_candles(steps(T0, 10)))
    breaker(columns)
    bad = Candles("BTC/USDT", "1m", **columns)

    problems, total = find_problems(bad)
    assert total == 1
    assert (problems[0].row, problems[0].rule) == (3, rule)

    with pytest.raises(DataValidationError) as caught:
        store.write("mexc", bad)
    message = str(caught.value)
    assert "candles mexc BTC/USDT 1m: 1 problem(s) in 10 candles, nothing was written" in message
    assert f"row 3 (ts_ms {int(columns['ts_ms'][3])}, " in message
    assert f"found {found}; {RULES[rule]}" in message
    assert "Fix or drop those rows" in message
    assert path.read_bytes() == before  # the stored series is untouched
    assert len(store.read("mexc", "BTC/USDT", "1m")) == 50


def test_a_bad_first_write_creates_no_file(tmp_path: Path) -> None:
    store = CandleStore(tmp_path)
    columns = _columns(make_candles(steps(T0, 10)))
    _negative_volume(columns)
    with pytest.raises(DataValidationError, match="row 3"):
        store.write("mexc", Candles("BTC/USDT", "1m", **columns))
    assert not store.path("mexc", "BTC/USDT", "1m").exists()


def test_many_problems_are_listed_by_row_and_counted(tmp_path: Path) -> None:
    columns = _columns(make_candles(steps(T0, 100)))
    columns["volume"][10:70] = -1.0  # 60 rows
    columns["ts_ms"][5] += 7  # row 5 comes first although its rule is checked first too
    columns["close"][80] = np.nan
    candles = Candles("BTC/USDT", "1m", **columns)
    problems, total = find_problems(candles)
    assert total == 62
    assert [p.row for p in problems] == [5, *range(10, 29)]
    with pytest.raises(DataValidationError) as caught:
        CandleStore(tmp_path).write("mexc", candles)
    assert "62 problem(s)" in str(caught.value)
    assert "… and 42 more" in str(caught.value)


def test_one_row_breaking_several_rules_is_reported_for_each() -> None:
    columns = _columns(make_candles(steps(T0, 5)))
    columns["ts_ms"][2] += 1
    columns["volume"][2] = -3.0
    problems, total = find_problems(Candles("BTC/USDT", "1m", **columns))
    assert total == 2
    assert [(p.row, p.rule) for p in problems] == [(2, ALIGNED), (2, VOLUME_NON_NEGATIVE)]


def test_weeks_must_open_on_monday_and_days_at_midnight() -> None:
    week = 7 * DAY
    mondays = make_candles(T0 + np.arange(4, dtype=np.int64) * week, timeframe="1w")
    assert find_problems(mondays) == ([], 0)
    thursdays = make_candles(np.arange(4, dtype=np.int64) * week, timeframe="1w")
    problems, total = find_problems(thursdays)
    assert total == 4
    assert "past the 1w grid" in problems[0].found
    assert find_problems(make_candles(steps(T0 + 3_600_000, 3, DAY), timeframe="1d"))[1] == 3
