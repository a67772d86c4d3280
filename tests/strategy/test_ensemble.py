from __future__ import annotations

import numpy as np
import pytest

from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import Signals
from xraybot.strategy.builtin.ensemble import Ensemble
from xraybot.strategy.ensemble import aggregate, parse_members, votes
from xraybot.strategy.guard import compute_signals
from xraybot.strategy.registry import load_strategy


def flags(n: int, *on: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(on)] = True
    return out


def test_score_is_weighted_mean_of_entry_minus_exit() -> None:
    n = 6
    a = Signals(flags(n, 1, 2), flags(n, 4))
    b = Signals(flags(n, 2), flags(n, 4, 5))
    c = Signals(flags(n, 2, 3), flags(n))
    weights = [1.0, 1.0, 2.0]
    out = aggregate([a, b, c], weights, entry_threshold=0.5, exit_threshold=0.5)
    score = out.features["ensemble_score"]
    np.testing.assert_allclose(score, np.array([0, 0.25, 1.0, 0.5, -0.5, -0.25]))
    np.testing.assert_array_equal(out.entry_long, [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(out.exit_long, [0, 0, 0, 0, 1, 0])
    assert out.strength is not None
    np.testing.assert_allclose(out.strength, np.array([0, 0.25, 1.0, 0.5, 0, 0]))
    assert out.entry_short is None


def test_threshold_is_inclusive_despite_rounding() -> None:
    n = 3
    members = [Signals(flags(n, 1), flags(n)) for _ in range(3)]
    members[2] = Signals(flags(n), flags(n))
    two_of_three = aggregate(members, [1.0, 1.0, 1.0], entry_threshold=2 / 3, exit_threshold=1)
    assert two_of_three.entry_long.tolist() == [False, True, False]
    stricter = aggregate(members, [1.0, 1.0, 1.0], entry_threshold=0.7, exit_threshold=1)
    assert not stricter.entry_long.any()


def test_memory_keeps_a_vote_until_it_expires_or_is_overruled() -> None:
    entry = flags(10, 1, 6)
    exit_ = flags(10, 7)
    assert votes(entry, exit_, 1).tolist() == [0, 1, 0, 0, 0, 0, 1, -1, 0, 0]
    assert votes(entry, exit_, 3).tolist() == [0, 1, 1, 1, 0, 0, 1, -1, -1, -1]
    # Two event-driven members one candle apart agree only with memory.
    a = Signals(flags(5, 1), flags(5))
    b = Signals(flags(5, 2), flags(5))
    assert not aggregate([a, b], [1, 1], entry_threshold=1.0, exit_threshold=1).entry_long.any()
    agreed = aggregate([a, b], [1, 1], entry_threshold=1.0, exit_threshold=1, memory=2)
    assert agreed.entry_long.tolist() == [False, False, True, False, False]


def test_short_score_counts_long_only_members_as_abstaining() -> None:
    n = 4
    long_only = Signals(flags(n, 1), flags(n))
    both = Signals(flags(n), flags(n), flags(n, 2), flags(n, 3))
    out = aggregate([long_only, both], [1.0, 1.0], entry_threshold=0.5, exit_threshold=0.5)
    assert out.entry_short is not None
    assert out.exit_short is not None
    assert out.entry_short.tolist() == [False, False, True, False]
    assert out.exit_short.tolist() == [False, False, False, True]


def test_members_spec_parsing() -> None:
    members = parse_members("rsi_reversion:1, ema_cross(fast_period=9;slow_period=21):2,macd_trend")
    assert [(m.name, m.weight) for m in members] == [
        ("rsi_reversion", 1.0),
        ("ema_cross", 2.0),
        ("macd_trend", 1.0),
    ]
    assert members[1].params == {"fast_period": 9, "slow_period": 21}
    assert members[2].params == load_strategy("macd_trend").resolve()
    flagged = parse_members("macd_trend(zero_filter=true, fast_period=8):1")
    assert flagged[0].params["zero_filter"] is True


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("", "members are empty"),
        ("ema_cross:-1", "weight must be a positive number; found '-1'"),
        ("ema_cross:abc", "weight must be a positive number"),
        ("ema_crosss:1", "'ema_crosss' is not a built-in.*rsi_reversion"),
        ("ensemble:1", "'ensemble' is not a built-in strategy an ensemble can hold"),
        ("ema_cross:1,ema_cross:2", "listed twice"),
        ("ema_cross(fast_period=40;slow_period=20)", "fast_period must be below"),
        ("ema_cross(fast=9)", "no parameter 'fast'"),
        ("ema_cross(9)", "look like 'key=value'"),
        ("ema cross:1", "is not 'name'"),
    ],
)
def test_bad_member_specs_are_refused(spec: str, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        Ensemble.resolve({"members": spec})


def test_single_member_with_unit_thresholds_is_that_member(btc: Candles) -> None:
    member = load_strategy("ema_cross")
    alone = compute_signals(member, btc, member.resolve())
    ensemble = Ensemble()
    params = ensemble.resolve(
        {"members": "ema_cross", "entry_threshold": 1.0, "exit_threshold": 1.0, "memory": 1}
    )
    out = compute_signals(ensemble, btc, params)
    np.testing.assert_array_equal(out.entry_long, alone.entry_long)
    np.testing.assert_array_equal(out.exit_long, alone.exit_long)
    np.testing.assert_array_equal(out.entry_short, alone.entry_short)


def test_warmup_covers_the_slowest_member_and_the_memory() -> None:
    ensemble = Ensemble()
    params = ensemble.resolve({"members": "bollinger_breakout:1,macd_trend:1", "memory": 4})
    macd = load_strategy("macd_trend")
    assert ensemble.warmup(params) == macd.warmup(macd.resolve()) + 3


def test_higher_threshold_never_adds_entries(btc: Candles) -> None:
    ensemble = Ensemble()
    counts = []
    for threshold in (0.3, 0.5, 0.7, 1.0):
        params = ensemble.resolve({"entry_threshold": threshold})
        signals = compute_signals(ensemble, btc, params)
        counts.append(int(signals.entry_long.sum()))
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1] > 0


def test_bad_member_params_at_signal_time_name_ensemble_and_member(btc: Candles) -> None:
    from xraybot.model.errors import StrategyError

    ensemble = Ensemble()
    params = ensemble.resolve({"members": "rsi_reversion"})
    tiny = btc.tail(0)
    out = compute_signals(ensemble, tiny, params)  # empty series: nothing to decide, no error
    assert len(out) == 0
    with pytest.raises(StrategyError, match=r"'ensemble' failed on BTC/USDT.*'rsi_reversion'"):
        compute_signals(ensemble, btc, {**params, "members": "rsi_reversion(rsi_period=1)"})
