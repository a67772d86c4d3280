"""Anomalies: injected price and volume spikes are found at their candle, causally."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.xray import HOUR_MS, T0, candles_from_close, walk
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.xray.anomalies import (
    PRICE_DOWN,
    PRICE_UP,
    VOLUME,
    detect_anomalies,
    isolation_anomalies,
    log_returns,
    robust_z,
    scan,
)


def with_volume(candles: Candles, volume: np.ndarray) -> Candles:
    return Candles(
        candles.symbol,
        candles.timeframe,
        np.asarray(candles.ts_ms),
        np.asarray(candles.open),
        np.asarray(candles.high),
        np.asarray(candles.low),
        np.asarray(candles.close),
        volume,
    )


def test_an_injected_jump_is_found_at_its_candle_with_its_size() -> None:
    close = walk(300, 0.0, 0.004, seed=21)
    close[200:] *= 1.10  # +10% in candle 200, then the walk goes on from there
    found = detect_anomalies(candles_from_close(close, "JMP/USDT"))
    assert [(a.ts_ms, a.kind) for a in found] == [(T0 + 200 * HOUR_MS, PRICE_UP)]
    spike = found[0]
    assert spike.symbol == "JMP/USDT"
    assert spike.z > 8
    expected = (close[200] / close[199] - 1) * 100
    assert spike.value == pytest.approx(expected)


def test_a_one_candle_spike_is_up_then_down() -> None:
    close = walk(300, 0.0, 0.004, seed=22)
    close[150] *= 0.85
    kinds = [(a.ts_ms, a.kind) for a in detect_anomalies(candles_from_close(close))]
    assert kinds == [(T0 + 150 * HOUR_MS, PRICE_DOWN), (T0 + 151 * HOUR_MS, PRICE_UP)]


def test_an_injected_volume_burst_is_found_with_its_multiple() -> None:
    candles = candles_from_close(walk(300, 0.0, 0.004, seed=23))
    volume = np.asarray(candles.volume).copy()
    volume[250] *= 40.0
    found = detect_anomalies(with_volume(candles, volume))
    assert [(a.ts_ms, a.kind) for a in found] == [(T0 + 250 * HOUR_MS, VOLUME)]
    assert found[0].value == pytest.approx(volume[250] / np.exp(np.median(np.log(volume[150:250]))))


def test_plain_noise_has_no_spikes() -> None:
    assert detect_anomalies(candles_from_close(walk(1000, 0.0, 0.01, seed=24))) == []


def test_scores_are_causal() -> None:
    values = np.random.default_rng(25).standard_normal(400)
    full = robust_z(values)
    for cut in (31, 100, 250, 399):
        np.testing.assert_array_equal(robust_z(values[:cut]), full[:cut])
    assert np.isnan(full[:30]).all()  # fewer than 30 values before them
    assert np.isfinite(full[30:]).all()


def test_a_spike_after_a_flat_stretch_is_still_scored() -> None:
    values = np.zeros(120)
    values[::10] = 1.0  # the MAD is 0: the mean absolute deviation stands in
    values[110] = 50.0
    z = robust_z(values)
    assert z[110] > 100
    assert np.isnan(robust_z(np.zeros(50))).all()  # nothing moved at all: no score


def test_a_return_across_a_gap_is_not_a_spike() -> None:
    close = walk(200, 0.0, 0.004, seed=26)
    close[120:] *= 1.5
    ts = np.arange(200, dtype=np.int64) * HOUR_MS + T0
    ts[120:] += 48 * HOUR_MS  # two days missing: the jump happened while nobody looked
    candles = candles_from_close(close, ts_ms=ts)
    assert np.isnan(log_returns(candles)[120])
    assert detect_anomalies(candles) == []


def test_scan_puts_the_largest_first_across_symbols() -> None:
    a = walk(300, 0.0, 0.004, seed=27)
    a[200:] *= 1.05
    b = walk(300, 0.0, 0.004, seed=28)
    b[220:] *= 0.70
    found = scan(
        {"A/USDT": candles_from_close(a, "A/USDT"), "B/USDT": candles_from_close(b, "B/USDT")}
    )
    assert [a.symbol for a in found] == ["B/USDT", "A/USDT"]
    assert abs(found[0].z) > abs(found[1].z)
    assert found[0].as_dict()["kind"] == PRICE_DOWN


def test_isolation_forest_flags_the_injected_candle() -> None:
    candles = candles_from_close(walk(400, 0.0, 0.004, seed=29))
    volume = np.asarray(candles.volume).copy()
    close = np.asarray(candles.close).copy()
    close[300:] *= 1.2
    volume[300] *= 30
    spiky = candles_from_close(close, seed=0)
    found = isolation_anomalies(with_volume(spiky, volume), contamination=0.005)
    assert T0 + 300 * HOUR_MS in {a.ts_ms for a in found}


def test_bad_settings_are_refused() -> None:
    candles = candles_from_close(walk(50, 0.0))
    with pytest.raises(InvalidInputError, match="z thresholds must be > 0"):
        detect_anomalies(candles, price_z=0)
    with pytest.raises(InvalidInputError, match="min_baseline <= baseline"):
        robust_z(np.zeros(10), baseline=10, min_baseline=20)
    with pytest.raises(InvalidInputError, match="contamination"):
        isolation_anomalies(candles, contamination=0.9)
