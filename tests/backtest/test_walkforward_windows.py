"""Walk-forward window arithmetic: rolling and anchored, by counts and by durations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xraybot.backtest.walkforward_windows import Window, make_windows, parse_period, timeline
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

H = 3_600_000
D = 86_400_000


def hours(n: int, start: int = 1_700_000_000_000 - 1_700_000_000_000 % H) -> np.ndarray:
    return start + np.arange(n, dtype=np.int64) * H


def check_tiling(ws: list[Window], ts: np.ndarray, bar: int) -> None:
    """No window's IS overlaps its OOS; the OOS ranges tile up to the end without gaps."""
    assert ws
    for w in ws:
        assert w.is_start_ms < w.is_end_ms == w.oos_start_ms < w.oos_end_ms
        assert w.is_candles >= 1
        assert w.oos_candles >= 1
        in_is = (ts >= w.is_start_ms) & (ts < w.is_end_ms)
        in_oos = (ts >= w.oos_start_ms) & (ts < w.oos_end_ms)
        assert not (in_is & in_oos).any()
        assert int(in_is.sum()) == w.is_candles
        assert int(in_oos.sum()) == w.oos_candles
    for a, b in itertools.pairwise(ws):
        assert a.oos_end_ms == b.oos_start_ms
    assert ws[-1].oos_end_ms == int(ts[-1]) + bar
    assert [w.index for w in ws] == list(range(len(ws)))


def test_rolling_by_counts_has_a_fixed_in_sample_sliding_by_the_out_of_sample() -> None:
    ts = hours(1000)
    ws = make_windows(ts, "rolling", windows=4, is_fraction=0.75)
    check_tiling(ws, ts, H)
    # 1000 candles = 4 OOS + 3 OOS of in-sample: OOS ~142.9, IS 429 candles.
    assert [w.is_candles for w in ws] == [429] * 4
    assert sum(w.oos_candles for w in ws) == 1000 - 429
    assert max(w.oos_candles for w in ws) - min(w.oos_candles for w in ws) <= 1
    assert ws[0].is_start_ms == int(ts[0])
    for a, b in itertools.pairwise(ws):
        assert b.is_start_ms - a.is_start_ms == b.oos_start_ms - a.oos_start_ms


def test_anchored_by_counts_grows_from_the_first_candle() -> None:
    ts = hours(1000)
    rolling = make_windows(ts, "rolling", windows=4, is_fraction=0.75)
    anchored = make_windows(ts, "anchored", windows=4, is_fraction=0.75)
    check_tiling(anchored, ts, H)
    assert all(w.is_start_ms == int(ts[0]) for w in anchored)
    # Same OOS ranges as rolling; the in-sample grows by each OOS length.
    assert [(w.oos_start_ms, w.oos_end_ms) for w in anchored] == [
        (w.oos_start_ms, w.oos_end_ms) for w in rolling
    ]
    assert [w.is_candles for w in anchored] == [
        429 + sum(w.oos_candles for w in anchored[:k]) for k in range(4)
    ]


@given(
    n=st.integers(2, 3000),
    windows=st.integers(1, 12),
    fraction=st.floats(0.05, 0.95),
    mode=st.sampled_from(["rolling", "anchored"]),
)
def test_count_windows_always_tile(n: int, windows: int, fraction: float, mode: str) -> None:
    ts = hours(n)
    try:
        ws = make_windows(ts, mode, windows=windows, is_fraction=fraction)  # type: ignore[arg-type]
    except InvalidInputError:
        ws = []
    assume(ws)
    assert len(ws) == windows
    check_tiling(ws, ts, H)
    if mode == "rolling":
        assert len({w.is_candles for w in ws}) == 1


def test_durations_align_to_the_end_and_fit_as_many_as_possible() -> None:
    ts = hours(1000)  # 41.67 days
    ws = make_windows(ts, "rolling", is_period="10d", oos_period="5d")
    # (1000 h - 240 h) // 120 h = 6 windows; the 40 h that do not fit come first, unused.
    assert len(ws) == 6
    check_tiling(ws, ts, H)
    assert all(w.oos_end_ms - w.oos_start_ms == 5 * D for w in ws)
    assert all(w.is_end_ms - w.is_start_ms == 10 * D for w in ws)
    assert all(w.is_candles == 240 and w.oos_candles == 120 for w in ws)
    assert ws[0].is_start_ms == int(ts[0]) + 40 * H


def test_durations_anchored_and_a_chosen_number_of_windows() -> None:
    ts = hours(1000)
    ws = make_windows(ts, "anchored", windows=3, is_period="10d", oos_period=5 * D)
    assert len(ws) == 3
    check_tiling(ws, ts, H)
    assert all(w.is_start_ms == int(ts[0]) for w in ws)
    assert ws[0].oos_start_ms == int(ts[-1]) + H - 3 * 5 * D


def test_durations_refuse_more_windows_than_fit() -> None:
    with pytest.raises(InvalidInputError, match=r"too short for 7 windows .*\(6 fit\)"):
        make_windows(hours(1000), "rolling", windows=7, is_period="10d", oos_period="5d")
    with pytest.raises(InvalidInputError, match="too short for one window"):
        make_windows(hours(100), "rolling", is_period="10d", oos_period="5d")


def test_a_gap_that_empties_a_range_is_refused_by_name() -> None:
    ts = np.concatenate([hours(500), hours(300, start=int(hours(1)[0]) + 2000 * H)])
    with pytest.raises(InvalidInputError, match=r"window .* has no candles .* gap"):
        make_windows(ts, "rolling", is_period="10d", oos_period="5d")
    # By counts, the split follows candles, so a gap never empties a range.
    check_tiling(make_windows(ts, "rolling", windows=5), ts, H)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sliding"}, "rolling or anchored"),
        ({"is_fraction": 1.0}, "strictly between 0 and 1"),
        ({"is_fraction": 0.0}, "strictly between 0 and 1"),
        ({"windows": 0}, "at least 1"),
        ({"is_period": "30d"}, "give both"),
        ({"windows": 200}, "too few for 200 windows"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    mode = kwargs.pop("mode", "rolling")
    with pytest.raises(InvalidInputError, match=message):
        make_windows(hours(100), mode, **kwargs)  # type: ignore[arg-type]


def test_a_timeline_needs_two_ascending_candles() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 candles"):
        make_windows(hours(1))
    with pytest.raises(InvalidInputError, match="strictly ascending"):
        make_windows(np.array([3, 2, 1], dtype=np.int64) * H)


def test_parse_period() -> None:
    assert parse_period("90d") == 90 * D
    assert parse_period(" 12h ") == 12 * H
    assert parse_period("2w") == 14 * D
    assert parse_period("30m") == 30 * 60_000
    assert parse_period(5 * D) == 5 * D
    for bad in ("90", "d", "1.5d", "0d", "-3d", "90y"):
        with pytest.raises(InvalidInputError):
            parse_period(bad)


def test_timeline_is_the_union_of_the_series() -> None:
    def series(symbol: str, ts: np.ndarray) -> Candles:
        c = np.ones(ts.shape[0])
        return Candles(symbol, "1h", ts, c, c, c, c, c)

    a = series("A/USDT", hours(10))
    b = series("B/USDT", hours(10, start=int(hours(5)[-1])))
    assert np.array_equal(timeline([a, b]), hours(14))
    other = Candles("C/USDT", "4h", hours(3), *([np.ones(3)] * 5))
    with pytest.raises(InvalidInputError, match="one timeframe"):
        timeline([a, other])
    with pytest.raises(InvalidInputError, match="at least one"):
        timeline([])
