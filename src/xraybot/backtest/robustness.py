"""Monte Carlo of the trade sequence: how much of a backtest's result was the order of luck.

Each closed trade becomes a return on the equity it was taken with, reconstructed from the
sequence (``pnl / equity before the trade``, trades in exit order, equity = initial + the pnl
realized so far). That is exact for one position at a time; with overlapping trades
(a portfolio, partial closes) it is the realized-equity approximation. Each run then
compounds those returns in a new order:

- ``shuffle`` permutes them: the final return is the same in every run (a product does not
  depend on order), only the path and so the drawdown change;
- ``bootstrap`` draws as many trades with replacement: return and drawdown both vary.

Drawdowns here are on closed-trade equity (one point per trade), so ``observed_max_drawdown``
is computed the same way from the real sequence; it is usually below the candle-by-candle
max drawdown of ``Metrics``, which also sees open trades' losses. The runs are drawn in
blocks of rows so memory stays bounded, deterministically from ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xraybot.backtest.metrics import json_safe
from xraybot.backtest.results import TradeRecords
from xraybot.model.candles import FloatArray
from xraybot.model.errors import InvalidInputError

Method = Literal["shuffle", "bootstrap"]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_BLOCK_CELLS = 2_000_000  # runs x trades per block: ~16 MB for each float64 temporary


@dataclass(frozen=True, slots=True)
class MonteCarloSummary:
    """Quantiles over the runs of the final return and the max drawdown (positive fractions).

    ``quantiles`` are the levels (0.05 = 5 %); ``return_quantiles`` and
    ``max_drawdown_quantiles`` hold the values at those levels, in the same order.
    """

    method: Method
    runs: int
    trades: int
    seed: int
    initial_equity: float
    observed_return: float
    observed_max_drawdown: float
    quantiles: tuple[float, ...]
    return_quantiles: tuple[float, ...]
    max_drawdown_quantiles: tuple[float, ...]
    mean_return: float
    probability_of_loss: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: quantiles keyed ``p5``, ``p25``, … (NaN and inf become ``None``)."""
        labels = [quantile_label(q) for q in self.quantiles]
        return {
            "method": self.method,
            "runs": self.runs,
            "trades": self.trades,
            "seed": self.seed,
            "initial_equity": json_safe(self.initial_equity),
            "observed_return": json_safe(self.observed_return),
            "observed_max_drawdown": json_safe(self.observed_max_drawdown),
            "return_quantiles": {
                k: json_safe(v) for k, v in zip(labels, self.return_quantiles, strict=True)
            },
            "max_drawdown_quantiles": {
                k: json_safe(v) for k, v in zip(labels, self.max_drawdown_quantiles, strict=True)
            },
            "mean_return": json_safe(self.mean_return),
            "probability_of_loss": json_safe(self.probability_of_loss),
        }


def quantile_label(level: float) -> str:
    """``0.05`` → ``p5``, ``0.5`` → ``p50``, ``0.975`` → ``p97.5``."""
    return f"p{100 * level:g}"


def trade_returns(trades: TradeRecords, initial_equity: float) -> FloatArray:
    """Each trade's pnl over the realized equity before it, trades in exit order."""
    _check_equity(initial_equity)
    if len(trades) == 0:
        return np.empty(0, dtype=np.float64)
    order = np.lexsort((trades.entry_ts, trades.exit_ts))  # stable: exit time, then entry
    pnl = trades.pnl[order]
    before = initial_equity + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        # A wiped-out account has nothing left to lose: its later trades return 0.
        returns = np.where(before > 0, pnl / before, 0.0)
    return np.maximum(returns, -1.0)


def monte_carlo(
    trades: TradeRecords | npt.ArrayLike,
    initial_equity: float,
    runs: int = 1000,
    seed: int = 0,
    method: Method = "shuffle",
    quantiles: tuple[float, ...] = QUANTILES,
) -> MonteCarloSummary:
    """Resample the trade sequence ``runs`` times and summarize return and drawdown.

    ``trades`` is a ``TradeRecords`` or already per-trade returns (fractions, >= -1, in
    order). The same arguments always give the same summary.
    """
    _check_equity(initial_equity)
    if method not in ("shuffle", "bootstrap"):
        raise InvalidInputError(f"method must be shuffle or bootstrap; found {method!r}.")
    if runs < 1:
        raise InvalidInputError(f"runs must be >= 1; found {runs}.")
    if not quantiles or not all(0 <= q <= 1 for q in quantiles):
        raise InvalidInputError(f"quantiles must be levels in [0, 1]; found {quantiles!r}.")
    returns = (
        trade_returns(trades, initial_equity)
        if isinstance(trades, TradeRecords)
        else _check_returns(trades)
    )
    count = int(returns.shape[0])
    observed_final, observed_dd = _paths(returns[np.newaxis, :])
    finals = np.zeros(runs, dtype=np.float64)
    drawdowns = np.zeros(runs, dtype=np.float64)
    if count:
        rng = np.random.default_rng(seed)
        block = max(1, _BLOCK_CELLS // count)
        for start in range(0, runs, block):
            rows = min(block, runs - start)
            if method == "shuffle":
                sample = rng.permuted(np.broadcast_to(returns, (rows, count)), axis=1)
            else:
                sample = returns[rng.integers(0, count, size=(rows, count))]
            finals[start : start + rows], drawdowns[start : start + rows] = _paths(sample)
        if method == "shuffle":
            # A product does not depend on order; keep float rounding from faking a spread.
            finals[:] = observed_final[0]
    levels = np.asarray(quantiles, dtype=np.float64)
    return MonteCarloSummary(
        method=method,
        runs=runs,
        trades=count,
        seed=seed,
        initial_equity=float(initial_equity),
        observed_return=float(observed_final[0]),
        observed_max_drawdown=float(observed_dd[0]),
        quantiles=tuple(float(q) for q in quantiles),
        return_quantiles=tuple(float(v) for v in np.quantile(finals, levels)),
        max_drawdown_quantiles=tuple(float(v) for v in np.quantile(drawdowns, levels)),
        mean_return=float(finals.mean()),
        probability_of_loss=float(np.mean(finals < 0)),
    )


def _paths(sample: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Final return and max drawdown of each row of per-trade returns (equity starts at 1)."""
    if sample.shape[1] == 0:
        zeros = np.zeros(sample.shape[0], dtype=np.float64)
        return zeros, zeros.copy()
    growth = np.cumprod(1.0 + sample, axis=1)
    peak = np.maximum.accumulate(growth, axis=1)
    np.maximum(peak, 1.0, out=peak)  # the starting equity is the first peak
    drawdown = (1.0 - growth / peak).max(axis=1)
    return (growth[:, -1] - 1.0).astype(np.float64), drawdown.astype(np.float64)


def _check_equity(initial_equity: float) -> None:
    if not (math.isfinite(initial_equity) and initial_equity > 0):
        raise InvalidInputError(f"initial equity must be > 0; found {initial_equity!r}.")


def _check_returns(values: npt.ArrayLike) -> FloatArray:
    returns = np.asarray(values, dtype=np.float64)
    if returns.ndim != 1:
        raise InvalidInputError(
            f"per-trade returns must be a 1-D array; found {returns.ndim}-D "
            "(pass TradeRecords to reconstruct them from pnl)."
        )
    bad = np.flatnonzero(~np.isfinite(returns) | (returns < -1.0))
    if bad.size:
        raise InvalidInputError(
            f"per-trade returns must be finite and >= -1 (a trade cannot lose more than all); "
            f"found {returns[bad[0]]!r} at trade {int(bad[0])}."
        )
    return returns
