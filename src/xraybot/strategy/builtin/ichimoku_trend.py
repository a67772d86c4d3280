"""``ichimoku_trend``: Ichimoku Kinko Hyo trend following, strictly causal.

Long when the trend is confirmed on both counts — the conversion line (tenkan) above the
base line (kijun) and the close above the cloud — entered on the candle where that becomes
true. Out when tenkan crosses back below kijun or the close falls below the cloud. The short
side mirrors it. The cloud under candle t is the one computed ``displacement`` candles
earlier (``Ichimoku.cloud()``); the chikou span is not used, since charting it means
looking ``displacement`` candles into the future.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from xraybot.indicators import extra
from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy, feature
from xraybot.strategy.builtin._common import cross_above, cross_below, rising_edge


def _lines(candles: Candles, tenkan: int, kijun: int, senkou_b: int, shift: int) -> FloatArray:
    lines = extra.ichimoku(candles.high, candles.low, candles.close, tenkan, kijun, senkou_b, shift)
    cloud_a, cloud_b = lines.cloud()
    return np.stack([lines.tenkan, lines.kijun, cloud_a, cloud_b])


class IchimokuTrend(Strategy):
    name: ClassVar[str] = "ichimoku_trend"
    description: ClassVar[str] = (
        "Trend following: tenkan above kijun and close above the (causal) Ichimoku cloud."
    )
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("tenkan", 9, 2, 60, 1, doc="conversion-line window, candles"),
        Param("kijun", 26, 5, 120, 1, doc="base-line window, candles (> tenkan)"),
        Param("senkou_b", 52, 10, 240, 1, doc="leading span B window, candles"),
        Param("displacement", 26, 1, 120, 1, doc="candles the cloud is drawn ahead"),
    )

    @classmethod
    def check_params(cls, params: Params) -> None:
        tenkan, kijun = int(params["tenkan"]), int(params["kijun"])
        if tenkan >= kijun:
            raise InvalidInputError(
                f"strategy 'ichimoku_trend': tenkan must be below kijun; found "
                f"tenkan={tenkan}, kijun={kijun}."
            )

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        tenkan_n = int(params["tenkan"])
        kijun_n = int(params["kijun"])
        span_b_n = int(params["senkou_b"])
        shift = int(params["displacement"])
        # One cache entry holds the lines as rows (the cache stores arrays).
        tenkan, kijun, cloud_a, cloud_b = feature(
            cache,
            ("ichimoku", tenkan_n, kijun_n, span_b_n, shift),
            lambda: _lines(candles, tenkan_n, kijun_n, span_b_n, shift),
        )
        close = candles.close
        # fmax/fmin would hide a NaN span; max/min keep it, so no trend before the cloud.
        top = np.maximum(cloud_a, cloud_b)
        bottom = np.minimum(cloud_a, cloud_b)
        bullish = (tenkan > kijun) & (close > top)
        bearish = (tenkan < kijun) & (close < bottom)
        return Signals(
            entry_long=rising_edge(bullish),
            exit_long=cross_below(tenkan, kijun) | cross_below(close, bottom),
            entry_short=rising_edge(bearish),
            exit_short=cross_above(tenkan, kijun) | cross_above(close, top),
            features={
                "tenkan": tenkan,
                "kijun": kijun,
                "cloud_top": top,
                "cloud_bottom": bottom,
            },
        )

    def warmup(self, params: Params) -> int:
        # Rolling midpoints are exact once their window is full; the cloud under candle t
        # needs span B from `displacement` candles earlier. +1: an edge reads t-1.
        longest = max(int(params["tenkan"]), int(params["kijun"]), int(params["senkou_b"]))
        return longest + int(params["displacement"]) + 1
