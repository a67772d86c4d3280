"""Which strategy suits a symbol now: the best OOS trades entered in its current regime.

The symbol's regime (``xray.regime``: trend up/down/range, volatility low/normal/high) is
known at every candle from that candle and earlier ones. A trade is tagged with the regime
known when it entered: that of the last candle closed before its fill. Each candidate is
scored on the OOS trades it entered in the regime the symbol is in now (``regime_by`` says
which labels must match): their summed pnl as a fraction of the starting equity, then their
mean return per trade. A candidate needs ``min_regime_trades`` such trades to be scored; when
none has enough, or the current regime is unknown, the recommendation falls back to the best
whole-OOS total return and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xraybot.backtest.metrics import json_safe
from xraybot.backtest.select_run import StrategyRun
from xraybot.model.candles import Candles
from xraybot.xray import regime as regimes

RegimeBy = Literal["trend", "volatility", "trend_volatility"]
StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True, slots=True)
class RegimeView:
    """A symbol's regime label at every candle ("" while unknown) and at its last one."""

    by: RegimeBy
    ts_ms: npt.NDArray[np.int64]
    labels: StrArray
    current: str | None
    detail: regimes.Regime | None  # the regime as of the last candle, when known
    unknown: str = ""  # why the current regime is not known

    def at_entries(self, entry_ts: npt.NDArray[np.int64]) -> StrArray:
        """Return the label known when each trade entered (the last candle closed before)."""
        known = np.searchsorted(self.ts_ms, entry_ts, side="left") - 1
        out = np.full(entry_ts.shape[0], "", dtype=self.labels.dtype)
        ok = known >= 0
        out[ok] = self.labels[known[ok]]
        return out


def regime_view(
    candles: Candles, by: RegimeBy, params: regimes.RegimeParams = regimes.DEFAULT_PARAMS
) -> RegimeView:
    """Label every candle of ``candles`` with its regime (causal), and name the current one."""
    series = regimes.regime_series(candles, params)
    trend = np.where(
        series.trend > 0, regimes.UP, np.where(series.trend < 0, regimes.DOWN, regimes.RANGE)
    )
    pct = series.volatility_percentile
    volatility = np.where(
        pct < params.vol_low_pct,
        regimes.LOW,
        np.where(pct > params.vol_high_pct, regimes.HIGH, regimes.NORMAL),
    )
    if by == "trend":
        labels = trend
    elif by == "volatility":
        labels = volatility
    else:
        labels = np.char.add(np.char.add(trend, "/"), volatility)
    labels = np.where(series.ready, labels, "")
    if len(candles) and bool(series.ready[-1]):
        detail = series.at(-1, params)
        return RegimeView(by, series.ts_ms, labels, str(labels[-1]), detail)
    why = (
        f"the regime needs {params.min_candles} gap-free closed candles before the last one; "
        f"{candles.symbol} has {len(candles)} candles"
        + ("" if len(regimes.gap_free_runs(candles)) < 2 else " with gaps")
    )
    return RegimeView(by, series.ts_ms, labels, None, None, why)


@dataclass(frozen=True, slots=True)
class RegimeScore:
    """One candidate's OOS trades entered in the current regime, and its whole OOS figures."""

    strategy: str
    trades: int  # OOS trades entered in the current regime
    regime_return: float  # their summed pnl / starting equity
    mean_trade_return: float  # their mean pnl / entry notional (NaN without trades)
    win_rate: float  # NaN without trades
    oos_trades: int
    oos_return: float
    oos_sharpe: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "regime_trades": self.trades,
            "regime_return": json_safe(self.regime_return),
            "mean_trade_return": json_safe(self.mean_trade_return),
            "win_rate": json_safe(self.win_rate),
            "oos_trades": self.oos_trades,
            "oos_return": json_safe(self.oos_return),
            "oos_sharpe": json_safe(self.oos_sharpe),
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The strategy recommended for a symbol, with the scores and reasons behind it."""

    strategy: str | None  # None when no candidate could be backtested
    regime: str | None  # the current regime label (None when unknown)
    regime_by: RegimeBy
    fell_back: bool  # True when chosen on the whole OOS, not on the current regime
    reason: str
    scores: tuple[RegimeScore, ...] = ()  # best first
    skipped: Mapping[str, str] = field(default_factory=dict)  # candidate -> why not run
    detail: regimes.Regime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "regime": self.regime,
            "regime_by": self.regime_by,
            "regime_detail": None if self.detail is None else self.detail.as_dict(),
            "fell_back": self.fell_back,
            "reason": self.reason,
            "scores": [s.to_dict() for s in self.scores],
            "skipped": dict(self.skipped),
        }


def score(run: StrategyRun, view: RegimeView) -> RegimeScore:
    """Score ``run``'s OOS trades that entered while the symbol was in the current regime."""
    trades = run.trades
    equity = run.result.settings.equity
    if view.current is None or not len(trades):
        chosen = np.zeros(len(trades), dtype=np.bool_)
    else:
        chosen = view.at_entries(trades.entry_ts) == view.current
    pnl = trades.pnl[chosen]
    notional = (trades.entry_price * trades.amount)[chosen]
    count = int(chosen.sum())
    if count:
        with np.errstate(divide="ignore", invalid="ignore"):
            per_trade = np.where(notional > 0, pnl / notional, np.nan)
        mean = float(np.nanmean(per_trade)) if np.isfinite(per_trade).any() else math.nan
        win_rate = float((pnl > 0).mean())
    else:
        mean = win_rate = math.nan
    return RegimeScore(
        strategy=run.strategy,
        trades=count,
        regime_return=float(pnl.sum()) / equity,
        mean_trade_return=mean,
        win_rate=win_rate,
        oos_trades=len(trades),
        oos_return=run.metrics.total_return,
        oos_sharpe=run.metrics.sharpe,
    )


def recommend(
    runs: Mapping[str, StrategyRun],
    view: RegimeView,
    min_trades: int,
    skipped: Mapping[str, str] | None = None,
) -> Recommendation:
    """Pick the candidate with the best OOS trades in the current regime (see the module)."""
    skipped = dict(skipped or {})
    if not runs:
        return Recommendation(
            None,
            view.current,
            view.by,
            fell_back=False,
            reason="no candidate could be backtested: "
            + "; ".join(f"{k}: {v}" for k, v in skipped.items()),
            skipped=skipped,
            detail=view.detail,
        )
    scores = [score(run, view) for run in runs.values()]
    eligible = [s for s in scores if s.trades >= min_trades]
    if view.current is not None and eligible:
        eligible.sort(key=_regime_key)
        best = eligible[0]
        rest = sorted((s for s in scores if s.trades < min_trades), key=_regime_key)
        too_few = (
            f"; {len(rest)} with fewer than {min_trades} trades in it not ranked" if rest else ""
        )
        reason = (
            f"best of {len(eligible)} in the current {view.by} regime {view.current!r}: "
            f"{best.trades} OOS trades entered in it returned {best.regime_return:+.2%} of "
            f"equity (mean {_pct(best.mean_trade_return)} a trade){too_few}"
        )
        ordered = (*eligible, *rest)
        return Recommendation(
            best.strategy, view.current, view.by, False, reason, ordered, skipped, view.detail
        )
    ordered = tuple(sorted(scores, key=_overall_key))
    best = ordered[0]
    if view.current is None:
        why = f"the current regime is unknown ({view.unknown})"
    else:
        most = max(s.trades for s in scores)
        why = (
            f"no candidate has {min_trades} OOS trades entered in the current {view.by} "
            f"regime {view.current!r} (the most: {most})"
        )
    reason = (
        f"{why}; fell back to the best whole-OOS return: {best.oos_return:+.2%} over "
        f"{best.oos_trades} trades"
    )
    return Recommendation(
        best.strategy, view.current, view.by, True, reason, ordered, skipped, view.detail
    )


def _nan_last(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def _regime_key(s: RegimeScore) -> tuple[float, float, float, str]:
    return (-s.regime_return, -_nan_last(s.mean_trade_return), -_nan_last(s.oos_return), s.strategy)


def _overall_key(s: RegimeScore) -> tuple[float, float, str]:
    return (-_nan_last(s.oos_return), -_nan_last(s.oos_sharpe), s.strategy)


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.2%}"
