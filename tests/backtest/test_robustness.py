"""Monte Carlo of the trade sequence: reconstruction, determinism, shuffle and bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.backtest import robustness
from xraybot.backtest.results import TradeRecords
from xraybot.backtest.robustness import monte_carlo, quantile_label, trade_returns
from xraybot.matching.rules import EXIT_STOP_LOSS
from xraybot.model.errors import InvalidInputError

H = 3_600_000


def trades_from(pnl: list[float], exit_ts: list[int] | None = None) -> TradeRecords:
    n = len(pnl)
    exits = np.array(exit_ts if exit_ts is not None else [(i + 1) * H for i in range(n)], np.int64)
    index = np.arange(n, dtype=np.int64)
    return TradeRecords(
        entry_ts=exits - H,
        exit_ts=exits,
        direction=np.ones(n, np.int8),
        entry_price=np.full(n, 10.0),
        exit_price=np.full(n, 10.0),
        amount=np.ones(n),
        fee=np.zeros(n),
        funding=np.zeros(n),
        pnl=np.array(pnl, np.float64),
        exit_reason=np.full(n, EXIT_STOP_LOSS, np.int8),
        entry_index=index,
        exit_index=index,
    )


def mixed_returns(count: int = 80) -> np.ndarray:
    return np.random.default_rng(7).normal(0.002, 0.03, count)


def test_trade_returns_are_pnl_over_the_equity_before_each_trade() -> None:
    returns = trade_returns(trades_from([100.0, -55.0, 10.0]), 1000.0)
    np.testing.assert_allclose(returns, [0.1, -0.05, 10 / 1045])


def test_trade_returns_follow_exit_order() -> None:
    returns = trade_returns(trades_from([10.0, 100.0], exit_ts=[5 * H, 2 * H]), 1000.0)
    np.testing.assert_allclose(returns, [0.1, 10 / 1100])


def test_the_observed_sequence_is_summarized_too() -> None:
    summary = monte_carlo([0.1, -0.5, 0.2], 1000.0, runs=5)
    assert summary.observed_return == pytest.approx(1.1 * 0.5 * 1.2 - 1)
    assert summary.observed_max_drawdown == pytest.approx(0.5)


def test_shuffle_keeps_the_final_return_and_varies_the_drawdown() -> None:
    pnl = [120.0, -80.0, 45.0, -200.0, 310.0, -15.0, 60.0, -90.0, 25.0, 5.0] * 4
    summary = monte_carlo(trades_from(pnl), 1000.0, runs=500, seed=3)
    final = sum(pnl) / 1000.0  # compounding pnl / equity-before telescopes to the pnl sum
    assert summary.observed_return == pytest.approx(final, rel=1e-12)
    assert summary.return_quantiles == (summary.observed_return,) * 5
    assert summary.mean_return == pytest.approx(summary.observed_return, rel=1e-12)
    assert summary.probability_of_loss == 0.0
    dd = summary.max_drawdown_quantiles
    assert list(dd) == sorted(dd)
    assert dd[0] < dd[-1]
    assert all(0 <= d < 1 for d in dd)
    assert summary.trades == len(pnl)


def test_bootstrap_quantiles_are_ordered_and_spread() -> None:
    summary = monte_carlo(mixed_returns(), 10_000.0, runs=800, method="bootstrap")
    for values in (summary.return_quantiles, summary.max_drawdown_quantiles):
        assert list(values) == sorted(values)
        assert values[0] < values[-1]
    assert 0 < summary.probability_of_loss < 1
    assert summary.return_quantiles[0] > -1


def test_same_seed_same_summary_other_seed_other_draws() -> None:
    returns = mixed_returns()
    for method in ("shuffle", "bootstrap"):
        first = monte_carlo(returns, 1.0, runs=200, seed=11, method=method)
        assert monte_carlo(returns, 1.0, runs=200, seed=11, method=method) == first
        other = monte_carlo(returns, 1.0, runs=200, seed=12, method=method)
        assert other.max_drawdown_quantiles != first.max_drawdown_quantiles


def test_the_block_size_does_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    returns = mixed_returns(50)
    whole = [monte_carlo(returns, 1.0, runs=37, method=m) for m in ("shuffle", "bootstrap")]
    monkeypatch.setattr(robustness, "_BLOCK_CELLS", 120)  # blocks of 2 runs
    assert [monte_carlo(returns, 1.0, runs=37, method=m) for m in ("shuffle", "bootstrap")] == whole


def test_no_trades_means_nothing_happens() -> None:
    summary = monte_carlo(TradeRecords.empty(), 1000.0, runs=10, method="bootstrap")
    assert summary.trades == 0
    assert summary.return_quantiles == (0.0,) * 5
    assert summary.max_drawdown_quantiles == (0.0,) * 5
    assert summary.probability_of_loss == 0.0


def test_to_dict_is_json_with_named_quantiles() -> None:
    data = monte_carlo(mixed_returns(), 1.0, runs=50, quantiles=(0.05, 0.5, 0.975)).to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert list(data["return_quantiles"]) == ["p5", "p50", "p97.5"]
    assert data["method"] == "shuffle"
    assert quantile_label(0.25) == "p25"


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=">= -1"):
        monte_carlo([0.1, -1.5], 1.0)
    with pytest.raises(InvalidInputError, match="1-D"):
        monte_carlo([[0.1]], 1.0)
    with pytest.raises(InvalidInputError, match="shuffle or bootstrap"):
        monte_carlo([0.1], 1.0, method="jackknife")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="runs"):
        monte_carlo([0.1], 1.0, runs=0)
    with pytest.raises(InvalidInputError, match="initial equity"):
        monte_carlo([0.1], -5.0)
    with pytest.raises(InvalidInputError, match="quantiles"):
        monte_carlo([0.1], 1.0, quantiles=(5.0,))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=-0.9, max_value=2.0), min_size=1, max_size=40),
    st.sampled_from(["shuffle", "bootstrap"]),
)
def test_quantiles_are_bounded_and_ordered(returns: list[float], method: str) -> None:
    summary = monte_carlo(returns, 100.0, runs=64, seed=1, method=method)  # type: ignore[arg-type]
    assert list(summary.return_quantiles) == sorted(summary.return_quantiles)
    assert list(summary.max_drawdown_quantiles) == sorted(summary.max_drawdown_quantiles)
    assert all(r >= -1 for r in summary.return_quantiles)
    assert all(0 <= d <= 1 for d in summary.max_drawdown_quantiles)
    assert summary.observed_return == pytest.approx(float(np.prod(1 + np.array(returns)) - 1))
    assert 0 <= summary.probability_of_loss <= 1
