"""Correlation of log returns on a common grid: against numpy.corrcoef, alignment, drops."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.xray import HOUR_MS, T0, candles_from_close, universe
from xraybot.model.candles import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError
from xraybot.xray.correlation import (
    align_returns,
    clip_outliers,
    correlation,
    correlation_of,
    rolling_mean_correlation,
)


def factor_paths(n: int, loadings: list[float], seed: int = 11) -> np.ndarray:
    """Return closes of symbols driven by one common factor: column j loads ``loadings[j]``."""
    rng = np.random.default_rng(seed)
    market = 0.01 * rng.standard_normal(n)
    returns = np.column_stack([b * market + 0.01 * rng.standard_normal(n) for b in loadings])
    return 50.0 * np.exp(np.cumsum(returns, axis=0))


def pearson(returns: np.ndarray) -> float:
    """Return numpy's correlation of the first two columns."""
    return float(np.corrcoef(returns[:, 0], returns[:, 1])[0, 1])


def test_the_matrix_is_numpys_corrcoef_of_the_log_returns() -> None:
    closes = factor_paths(300, [1.0, 0.5, 0.0, -1.0])
    names = ["A/USDT", "B/USDT", "C/USDT", "D/USDT"]
    found = correlation(universe(closes, names), winsorize=None)
    expected = np.atleast_2d(np.corrcoef(np.diff(np.log(closes), axis=0), rowvar=False))
    assert found.symbols == tuple(names)
    np.testing.assert_allclose(found.matrix, expected, rtol=1e-12, atol=1e-12)
    assert found.rows == 299
    assert found.first_ts_ms == T0 + HOUR_MS
    assert found.last_ts_ms == T0 + 299 * HOUR_MS
    assert found.between("A/USDT", "D/USDT") < -0.3
    assert found.dropped == {}
    upper = expected[np.triu_indices(4, k=1)]
    assert found.mean_pairwise() == pytest.approx(upper.mean())


def test_a_window_takes_the_trailing_returns_only() -> None:
    closes = factor_paths(300, [1.0, 0.3])
    found = correlation(universe(closes, ["A/USDT", "B/USDT"]), window=100, winsorize=None)
    tail = np.diff(np.log(closes[-101:]), axis=0)
    assert found.rows == 100
    assert found.between("A/USDT", "B/USDT") == pytest.approx(
        np.atleast_2d(np.corrcoef(tail.T))[0, 1]
    )


def test_symbols_are_aligned_by_time_and_sparse_ones_dropped_with_the_reason() -> None:
    closes = factor_paths(200, [1.0, 1.0, 1.0])
    a = candles_from_close(closes[:, 0], "A/USDT")
    # B misses five candles in the middle: its returns around them are missing, not shifted.
    keep = np.ones(200, dtype=bool)
    keep[100:105] = False
    b_ts = a.ts_ms[keep]
    b = candles_from_close(closes[keep, 1], "B/USDT", ts_ms=b_ts)
    young = candles_from_close(closes[150:, 2], "NEW/USDT", ts_ms=a.ts_ms[150:])
    aligned = align_returns({"A/USDT": a, "B/USDT": b, "NEW/USDT": young})
    assert aligned.symbols == ("A/USDT", "B/USDT")
    assert "NEW/USDT" in aligned.dropped
    assert "49 of the 199 common bars" in aligned.dropped["NEW/USDT"]
    assert "90%" in aligned.dropped["NEW/USDT"]
    assert np.isnan(aligned.returns[99:105, 1]).all()  # 100..104 missing, and 105's return
    found = correlation_of(aligned, winsorize=None)
    rows = aligned.complete_rows()
    assert found.rows == int(rows.sum()) == 199 - 6
    expected = pearson(aligned.returns[rows])
    assert found.between("A/USDT", "B/USDT") == pytest.approx(expected)


def test_a_price_that_never_moved_has_no_correlation() -> None:
    closes = factor_paths(100, [1.0, 1.0])
    stuck = candles_from_close(np.full(100, 3.0), "STUCK/USDT")
    found = correlation({**universe(closes, ["A/USDT", "B/USDT"]), "STUCK/USDT": stuck})
    assert found.symbols == ("A/USDT", "B/USDT")
    assert "did not move" in found.dropped["STUCK/USDT"]


def test_too_few_common_returns_are_refused_with_the_count() -> None:
    closes = factor_paths(20, [1.0, 1.0])
    with pytest.raises(DataValidationError, match=r"at least 30 bars .* found 19"):
        correlation(universe(closes, ["A/USDT", "B/USDT"]))


def test_mixed_timeframes_are_refused() -> None:
    a = candles_from_close(factor_paths(50, [1.0])[:, 0], "A/USDT")
    daily = Candles("B/USDT", "1d", a.ts_ms * 24, a.open, a.high, a.low, a.close, a.volume)
    with pytest.raises(InvalidInputError, match="one timeframe; found 1d, 1h"):
        align_returns({"A/USDT": a, "B/USDT": daily})


def test_the_rolling_mean_correlation_is_causal_and_matches_each_window() -> None:
    closes = factor_paths(240, [1.0, 0.8, 0.2])
    names = ["A/USDT", "B/USDT", "C/USDT"]
    aligned = align_returns(universe(closes, names))
    ts, means = rolling_mean_correlation(aligned, 50, step=10)
    assert ts.shape == means.shape
    returns = aligned.returns
    last = int(np.searchsorted(aligned.ts_ms, ts[-1]))
    block = clip_outliers(returns[last - 49 : last + 1], 5.0)
    expected = np.atleast_2d(np.corrcoef(block.T))[np.triu_indices(3, k=1)].mean()
    assert means[-1] == pytest.approx(expected)
    shorter = align_returns(universe(closes[:200], names))
    ts2, means2 = rolling_mean_correlation(shorter, 50, step=10)
    common = np.isin(ts, ts2)
    np.testing.assert_allclose(means[common], means2[np.isin(ts2, ts)])
    assert rolling_mean_correlation(shorter, 500)[0].shape == (0,)


def test_one_huge_candle_does_not_cut_a_coin_off_from_its_group() -> None:
    rng = np.random.default_rng(12)
    market = 0.01 * rng.standard_normal(300)
    moves = np.column_stack([market + 0.004 * rng.standard_normal(300) for _ in range(2)])
    closes = 20.0 * np.exp(np.cumsum(moves, axis=0))
    candles = universe(closes, ["A/USDT", "B/USDT"])
    assert correlation(candles, winsorize=None).between("A/USDT", "B/USDT") > 0.8
    closes[200:, 1] *= 1.25  # one +25% candle among ~1% moves
    candles = universe(closes, ["A/USDT", "B/USDT"])
    plain = correlation(candles, winsorize=None).between("A/USDT", "B/USDT")
    robust = correlation(candles)
    returns = np.diff(np.log(closes), axis=0)
    assert plain < 0.5  # Pearson: the jump owns B's variance
    assert robust.between("A/USDT", "B/USDT") > 0.8
    clipped = clip_outliers(returns, 5.0)
    assert robust.between("A/USDT", "B/USDT") == pytest.approx(
        np.atleast_2d(np.corrcoef(clipped.T))[0, 1]
    )
    assert clipped[199, 1] < returns[199, 1]  # the jump, clipped
    np.testing.assert_array_equal(clipped[:, 0], returns[:, 0])  # A had nothing to clip
    assert robust.as_dict()["winsorize"] == 5.0
    with pytest.raises(InvalidInputError, match="winsorize must be > 0"):
        clip_outliers(returns, 0.0)
