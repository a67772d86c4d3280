"""The screener's filters on hand-made rows: reasons, dynamic thresholds, ranking, scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.xray.config import ScreenConfig
from xraybot.xray.filters import (
    Blacklist,
    Bounds,
    Breakout,
    KnownProblems,
    TopN,
    Trend,
    fmt_amount,
    fmt_pct,
    resolve,
)
from xraybot.xray.scoring import score
from xraybot.xray.screen_result import SymbolMetrics, distribution


def row(
    symbol: str,
    *,
    last: float = 1.0,
    volume: float = 100_000.0,
    spread: float | None = 0.1,
    trend: float | None = None,
    breakout: bool | None = None,
    score: float | None = None,
    volatility: float | None = None,
) -> SymbolMetrics:
    return SymbolMetrics(
        symbol, last, volume, spread, None, volatility, None, trend, breakout, score, ()
    )


def volume_filter(threshold: float | str) -> Bounds:
    return Bounds("quote_volume", "quote volume", lambda r: r.quote_volume_24h, threshold,
                  fmt=fmt_amount)  # fmt: skip


def test_a_fixed_threshold_names_value_and_threshold() -> None:
    out = volume_filter(50_000).apply([row("A/USDT", volume=12_300), row("B/USDT", volume=60_000)])
    assert [r.symbol for r in out.kept] == ["B/USDT"]
    assert [(r.symbol, r.filter, r.reason) for r in out.rejected] == [
        ("A/USDT", "quote_volume", "quote volume 12,300 < 50,000")
    ]
    assert out.rule == "quote volume >= 50,000"


def test_a_dynamic_threshold_is_the_percentile_of_what_the_filter_sees() -> None:
    rows = [row(f"S{i}/USDT", volume=float(v)) for i, v in enumerate(range(1_000, 11_000, 1_000))]
    out = volume_filter("p60").apply(rows)
    p60 = float(np.percentile([r.quote_volume_24h for r in rows], 60))
    assert out.rule == f"quote volume >= {fmt_amount(p60)} (p60)"
    assert all(r.quote_volume_24h >= p60 for r in out.kept)
    assert len(out.kept) == 4
    assert out.rejected[0].reason == f"quote volume 1,000 < {fmt_amount(p60)} (p60)"
    assert out.values == tuple(r.quote_volume_24h for r in rows)


def test_an_upper_bound_and_an_unknown_value() -> None:
    spread = Bounds("spread", "spread", lambda r: r.spread_pct, None, 0.5, fmt=fmt_pct,
                    unknown="unknown: the ticker has no bid/ask")  # fmt: skip
    out = spread.apply([row("A/USDT", spread=0.82), row("B/USDT", spread=None), row("C/USDT")])
    assert [r.symbol for r in out.kept] == ["C/USDT"]
    assert [r.reason for r in out.rejected] == [
        "spread 0.82% > 0.5%",
        "spread unknown: the ticker has no bid/ask",
    ]


def test_a_percentile_of_nothing_rejects_with_a_reason() -> None:
    out = volume_filter("p50").apply([row("A/USDT", volume=math.nan)])
    assert out.kept == ()
    assert out.rejected[0].reason == "quote volume unknown"
    assert resolve("p50", []).value is None


@given(
    volumes=st.lists(st.floats(0, 1e12, allow_nan=False), min_size=1, max_size=60),
    q=st.integers(0, 100),
)
def test_every_row_is_kept_or_rejected_once(volumes: list[float], q: int) -> None:
    rows = [row(f"S{i}/USDT", volume=v) for i, v in enumerate(volumes)]
    out = volume_filter(f"p{q}").apply(rows)
    kept = {r.symbol for r in out.kept}
    rejected = {r.symbol for r in out.rejected}
    assert kept.isdisjoint(rejected)
    assert kept | rejected == {r.symbol for r in rows}
    threshold = float(np.percentile(volumes, q))
    assert all(r.quote_volume_24h >= threshold for r in out.kept)
    assert all(f"(p{q})" in r.reason for r in out.rejected)


def test_blacklist_patterns_leveraged_tokens_and_stablecoins() -> None:
    rows = [
        row("LUNA/USDT"),
        row("ETHDOWN/USDT"),
        row("BTC3L/USDT"),
        row("BTCUP/USDT"),
        row("JUP/USDT"),
        row("USDC/USDT", last=1.0001),
        row("USDX1/USDT", last=0.999),
        row("BTC/USDT", last=64_000),
        row("TESTA/USDT"),
    ]
    bases = frozenset({"BTC", "ETH", "JUP", "LUNA"})
    out = Blacklist(("LUNA/USDT", "TEST*"), True, True, bases).apply(rows)
    reasons = {r.symbol: r.reason for r in out.rejected}
    assert reasons == {
        "LUNA/USDT": "blacklisted by 'LUNA/USDT'",
        "TESTA/USDT": "blacklisted by 'TEST*'",
        "ETHDOWN/USDT": "leveraged token (ETHDOWN)",
        "BTC3L/USDT": "leveraged token (BTC3L)",
        "BTCUP/USDT": "leveraged token (BTCUP)",
        "USDC/USDT": "stablecoin (USDC at 1.0001)",
        "USDX1/USDT": "stablecoin (USDX1 at 0.999)",
    }
    assert [r.symbol for r in out.kept] == ["JUP/USDT", "BTC/USDT"]
    off = Blacklist((), False, False, bases).apply(rows)
    assert len(off.kept) == len(rows)
    assert off.rule == "off"


def test_trend_and_breakout_say_what_they_found() -> None:
    rows = [row("A/USDT", trend=1.5, breakout=True), row("B/USDT", trend=-0.4, breakout=False)]
    up = Trend("up", 20, 50).apply(rows)
    assert [r.symbol for r in up.kept] == ["A/USDT"]
    assert up.rejected[0].reason == "trend -0.40% (EMA20 below EMA50), wanted up"
    down = Trend("down", 20, 50).apply([*rows, row("C/USDT")])
    assert [r.symbol for r in down.kept] == ["B/USDT"]
    assert [r.reason for r in down.rejected][-1] == "trend unknown"
    broke = Breakout(20).apply(rows)
    assert [r.symbol for r in broke.kept] == ["A/USDT"]
    assert broke.rejected[0].reason == "no breakout of the 20-candle high"


def test_top_n_keeps_the_best_and_says_where_the_rest_ranked() -> None:
    rows = [row(f"S{i}/USDT", score=s) for i, s in enumerate([0.2, 0.9, 0.5, 0.7])]
    out = TopN(2).apply(rows)
    assert [r.symbol for r in out.kept] == ["S1/USDT", "S3/USDT"]
    assert [r.reason for r in out.rejected] == [
        "rank 3 of 4 (score 0.500) is below the top 2 (last kept 0.700)",
        "rank 4 of 4 (score 0.200) is below the top 2 (last kept 0.700)",
    ]


def test_known_problems_reject_with_their_reason() -> None:
    out = KnownProblems("market", {"A/USDT": "inactive on sim"}).apply([row("A/USDT"), row("B/X")])
    assert [r.symbol for r in out.kept] == ["B/X"]
    assert out.rejected[0].reason == "inactive on sim"


def test_scores_are_weighted_ranks_between_0_and_1() -> None:
    rows = [
        row("BEST/USDT", volume=9e6, spread=0.01, volatility=3.0, trend=2.0, breakout=True),
        row("MID/USDT", volume=5e6, spread=0.10, volatility=2.0, trend=1.0, breakout=False),
        row("WORST/USDT", volume=1e5, spread=0.40, volatility=1.0, trend=0.0, breakout=False),
    ]
    scored = {r.symbol: r.score for r in score(rows, ScreenConfig())}
    assert scored["BEST/USDT"] == pytest.approx(1.0)
    assert scored["WORST/USDT"] == pytest.approx(0.0)
    assert 0.0 < scored["MID/USDT"] < 1.0  # type: ignore[operator]
    assert score([], ScreenConfig()) == ()


def test_distribution_has_the_percentiles_min_and_max() -> None:
    found = distribution([1.0, 2.0, 3.0, None, math.nan, 4.0])  # type: ignore[list-item]
    assert found["count"] == 4
    assert (found["min"], found["max"], found["p50"]) == (1.0, 4.0, 2.5)
    assert set(found) == {"count", "min", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "max"}
    assert distribution([]) == {"count": 0.0}
