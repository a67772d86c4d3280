"""Price and volume spikes: robust z-scores against each candle's own trailing baseline.

For candle t the baseline is the ``baseline`` candles before it (t excluded), so a spike
never hides itself and a score is known as soon as its candle closes (causal, usable live).
The score is ``(x_t - median) / (1.4826 * MAD)``: the median and the median absolute
deviation ignore the spikes already in the baseline, where a mean and a standard deviation
would be dragged by them. 1.4826 makes the MAD estimate a normal standard deviation. When
over half the baseline is identical (an illiquid coin that did not trade), the MAD is 0 and
the mean absolute deviation (× 1.2533) stands in; if that is 0 too, no score is given.

- price: x is the log return close_{t-1} → close_t; ``|z| >= price_z`` is a spike, kind
  ``price_up`` or ``price_down``; ``value`` is the move in percent;
- volume: x is the log of the candle's volume (zero volume has none); ``z >= volume_z`` is
  a spike, kind ``volume``; ``value`` is the volume as a multiple of the baseline median.

Defaults (8 for price, 5 for volume) were set on the bundled 2025 Binance hourly candles:
they flag about one price spike per symbol in 500 hourly candles and fewer volume spikes;
at z = 5 on returns, crypto's fat tails flag several a week. :func:`isolation_anomalies` is
an optional second opinion (scikit-learn's IsolationForest on return, volume and range
together); it is fitted on the whole window, so unlike the z-scores it is not causal.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError

PRICE_UP, PRICE_DOWN, VOLUME, ISOLATED = "price_up", "price_down", "volume", "isolated"
DEFAULT_BASELINE = 100
DEFAULT_MIN_BASELINE = 30
DEFAULT_PRICE_Z = 8.0
DEFAULT_VOLUME_Z = 5.0
_MAD_TO_SD = 1.4826
_MEAN_AD_TO_SD = 1.2533


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One spike: which candle, how big (z), what kind, and the move itself."""

    symbol: str
    ts_ms: int  # open time of the candle the spike is in
    kind: str  # "price_up" | "price_down" | "volume" | "isolated"
    z: float  # robust z-score (for "isolated": the largest of its features' scores)
    value: float  # price: move in %; volume: multiple of the baseline median volume

    def as_dict(self) -> dict[str, object]:
        """Return the anomaly as JSON-ready data."""
        return {
            "symbol": self.symbol,
            "ts_ms": self.ts_ms,
            "kind": self.kind,
            "z": round(self.z, 3),
            "value": round(self.value, 6) if math.isfinite(self.value) else None,
        }


def robust_z(
    values: FloatArray,
    baseline: int = DEFAULT_BASELINE,
    min_baseline: int = DEFAULT_MIN_BASELINE,
) -> FloatArray:
    """Score each value against the ``baseline`` values before it (NaN where unknown)."""
    if not 2 <= min_baseline <= baseline:
        raise InvalidInputError(
            f"need 2 <= min_baseline <= baseline; found {min_baseline} and {baseline}."
        )
    n = values.shape[0]
    out = np.full(n, np.nan)
    if n < 2:
        return out
    padded = np.concatenate([np.full(baseline, np.nan), values[:-1]])
    windows = np.lib.stride_tricks.sliding_window_view(padded, baseline)  # row t: t-b .. t-1
    enough = np.isfinite(windows).sum(axis=1) >= min_baseline
    if not enough.any():
        return out
    rows = windows[enough]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are filtered above
        median = np.nanmedian(rows, axis=1)
        deviation = np.abs(rows - median[:, None])
        scale = _MAD_TO_SD * np.nanmedian(deviation, axis=1)
        fallback = _MEAN_AD_TO_SD * np.nanmean(deviation, axis=1)
    scale = np.where(scale > 0, scale, fallback)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(scale > 0, (values[enough] - median) / scale, np.nan)
    out[enough] = scores
    return out


def log_returns(candles: Candles) -> FloatArray:
    """Return log(close_t / close_{t-1}) per candle (NaN for the first and after a gap)."""
    close = np.asarray(candles.close)
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[1:] = np.diff(np.log(close))
        gap = np.diff(candles.ts_ms) != candles.timeframe_ms
        out[1:][gap] = np.nan  # a return across a hole is several candles' move
    return out


def log_volume(candles: Candles) -> FloatArray:
    """Return log(volume) per candle (NaN where nothing traded)."""
    volume = np.asarray(candles.volume)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(volume > 0, np.log(volume), np.nan)


def detect_anomalies(
    candles: Candles,
    *,
    price_z: float = DEFAULT_PRICE_Z,
    volume_z: float = DEFAULT_VOLUME_Z,
    baseline: int = DEFAULT_BASELINE,
    min_baseline: int = DEFAULT_MIN_BASELINE,
) -> list[Anomaly]:
    """Return the symbol's price and volume spikes, in time order."""
    if price_z <= 0 or volume_z <= 0:
        raise InvalidInputError(f"z thresholds must be > 0; found {price_z} and {volume_z}.")
    found: list[Anomaly] = []
    returns = log_returns(candles)
    z = robust_z(returns, baseline, min_baseline)
    for i in np.flatnonzero(np.nan_to_num(np.abs(z)) >= price_z).tolist():
        found.append(
            Anomaly(
                symbol=candles.symbol,
                ts_ms=int(candles.ts_ms[i]),
                kind=PRICE_UP if z[i] > 0 else PRICE_DOWN,
                z=float(z[i]),
                value=float(np.expm1(returns[i]) * 100.0),
            )
        )
    volume = log_volume(candles)
    zv = robust_z(volume, baseline, min_baseline)
    for i in np.flatnonzero(np.nan_to_num(zv) >= volume_z).tolist():
        start = max(0, i - baseline)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            typical = float(np.exp(np.nanmedian(volume[start:i])))
        found.append(
            Anomaly(
                symbol=candles.symbol,
                ts_ms=int(candles.ts_ms[i]),
                kind=VOLUME,
                z=float(zv[i]),
                value=float(candles.volume[i]) / typical if typical > 0 else math.nan,
            )
        )
    found.sort(key=lambda a: (a.ts_ms, a.kind))
    return found


def scan(
    candles_by_symbol: Mapping[str, Candles] | Iterable[Candles],
    *,
    price_z: float = DEFAULT_PRICE_Z,
    volume_z: float = DEFAULT_VOLUME_Z,
    baseline: int = DEFAULT_BASELINE,
    min_baseline: int = DEFAULT_MIN_BASELINE,
) -> list[Anomaly]:
    """Return every symbol's spikes, largest |z| first."""
    series = (
        candles_by_symbol.values() if isinstance(candles_by_symbol, Mapping) else candles_by_symbol
    )
    found = [
        anomaly
        for candles in series
        for anomaly in detect_anomalies(
            candles,
            price_z=price_z,
            volume_z=volume_z,
            baseline=baseline,
            min_baseline=min_baseline,
        )
    ]
    found.sort(key=lambda a: (-abs(a.z), a.symbol, a.ts_ms))
    return found


def isolation_anomalies(
    candles: Candles, *, contamination: float = 0.005, seed: int = 0
) -> list[Anomaly]:
    """Return candles whose return, volume and range together are isolated (not causal)."""
    if not 0.0 < contamination <= 0.5:
        raise InvalidInputError(
            f"contamination must be a share in (0, 0.5]; found {contamination}."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.log(np.asarray(candles.high) / np.asarray(candles.low))
    returns = log_returns(candles)
    features = np.column_stack(
        [_standardized(returns), _standardized(log_volume(candles)), _standardized(spread)]
    )
    usable = np.all(np.isfinite(features), axis=1)
    if usable.sum() < 2 * DEFAULT_MIN_BASELINE:
        return []
    model = IsolationForest(contamination=contamination, random_state=seed)
    flags = model.fit_predict(features[usable])
    rows = np.flatnonzero(usable)[flags == -1]
    found = []
    for i in rows.tolist():
        strongest = int(np.argmax(np.abs(features[i])))
        found.append(
            Anomaly(
                symbol=candles.symbol,
                ts_ms=int(candles.ts_ms[i]),
                kind=ISOLATED,
                z=float(features[i, strongest]),
                value=float(np.expm1(returns[i]) * 100.0),
            )
        )
    return found


def _standardized(values: FloatArray) -> FloatArray:
    """Return the robust z-scores against the whole window's median and MAD."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full(values.shape[0], np.nan)
    median = float(np.median(finite))
    scale = _MAD_TO_SD * float(np.median(np.abs(finite - median)))
    if scale <= 0:
        scale = _MEAN_AD_TO_SD * float(np.mean(np.abs(finite - median)))
    if scale <= 0:
        return np.zeros(values.shape[0])
    return (values - median) / scale
