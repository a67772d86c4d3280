"""Walk-forward figures: annualized log rates, efficiency edge cases and parameter stability."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xraybot.backtest.metrics import YEAR_MS
from xraybot.backtest.optimize_space import Dimension
from xraybot.backtest.walkforward_stats import (
    annual_log_return,
    efficiency,
    parameter_stability,
)
from xraybot.model.errors import InvalidInputError


def test_annual_log_return_is_continuously_compounded_and_additive() -> None:
    assert annual_log_return(100.0, 200.0, YEAR_MS) == pytest.approx(math.log(2))
    assert annual_log_return(100.0, 200.0, YEAR_MS // 2) == pytest.approx(2 * math.log(2))
    assert annual_log_return(100.0, 50.0, YEAR_MS) == pytest.approx(-math.log(2))
    assert annual_log_return(100.0, 100.0, 1) == 0.0
    # Two halves of a year, each at its own rate: the whole year's rate is their mean.
    first = annual_log_return(100.0, 130.0, YEAR_MS // 2)
    second = annual_log_return(130.0, 117.0, YEAR_MS // 2)
    whole = annual_log_return(100.0, 117.0, YEAR_MS)
    assert whole == pytest.approx((first + second) / 2)
    assert annual_log_return(100.0, 0.0, YEAR_MS) == -math.inf
    with pytest.raises(InvalidInputError):
        annual_log_return(100.0, 110.0, 0)
    with pytest.raises(InvalidInputError):
        annual_log_return(0.0, 110.0, YEAR_MS)


@pytest.mark.parametrize(
    ("oos", "is_", "expected"),
    [
        (0.2, 0.4, 0.5),
        (0.6, 0.4, 1.5),
        (-0.1, 0.4, -0.25),  # lost out-of-sample: negative efficiency
        (0.0, 0.4, 0.0),
        (0.2, 0.0, None),  # no in-sample gain: no yardstick
        (0.2, -0.3, None),  # an in-sample loss would flip the sign
        (-0.2, -0.3, None),
        (0.2, math.nan, None),
        (math.nan, 0.4, None),
        (0.2, math.inf, None),
        (-math.inf, 0.4, -math.inf),  # wiped out out-of-sample
    ],
)
def test_efficiency_edge_cases(oos: float, is_: float, expected: float | None) -> None:
    found = efficiency(oos, is_)
    if expected is None:
        assert found is None
    else:
        assert found == pytest.approx(expected)


def num(name: str, low: float, high: float) -> Dimension:
    return Dimension(name, "float", low, high)


def test_identical_choices_are_perfectly_stable() -> None:
    stab = parameter_stability([{"p": 14}] * 4, [Dimension("p", "int", 2, 50, 1)])
    (p,) = stab.parameters
    assert p.values == (14, 14, 14, 14)
    assert p.mean == 14
    assert p.std == 0
    assert p.cv == 0
    assert p.score == 1.0
    assert stab.score == 1.0


def test_numeric_stability_is_the_spread_relative_to_the_searched_range() -> None:
    stab = parameter_stability([{"x": 10.0}, {"x": 12.0}], [num("x", 0.0, 100.0)])
    (p,) = stab.parameters
    assert p.mean == pytest.approx(11.0)
    assert p.std == pytest.approx(1.0)  # population std
    assert p.cv == pytest.approx(0.01)
    assert p.score == pytest.approx(1 - 0.01 * math.sqrt(12))
    # The same values over a range 10x narrower are 10x less stable.
    narrow = parameter_stability([{"x": 10.0}, {"x": 12.0}], [num("x", 5.0, 15.0)])
    assert narrow.parameters[0].cv == pytest.approx(0.1)


def test_values_scattered_like_random_picks_score_about_zero() -> None:
    spread = [{"x": float(v)} for v in np.linspace(0.0, 1.0, 1001)]
    assert parameter_stability(spread, [num("x", 0.0, 1.0)]).score == pytest.approx(0.0, abs=1e-3)
    ends = [{"x": 0.0}, {"x": 1.0}] * 3  # std 0.5 > 1/sqrt(12): clipped at 0
    assert parameter_stability(ends, [num("x", 0.0, 1.0)]).score == 0.0


def test_categorical_stability_is_the_rescaled_share_of_the_commonest_value() -> None:
    flags = Dimension("flag", "categorical", choices=(False, True))
    chosen = [{"flag": v} for v in (True, True, False, True)]
    (p,) = parameter_stability(chosen, [flags]).parameters
    assert p.score == pytest.approx((0.75 - 0.5) / 0.5)
    assert p.mean is None
    assert p.cv is None
    three = Dimension("ma", "categorical", choices=("sma", "ema", "wma"))
    scattered = [{"ma": v} for v in ("sma", "ema", "wma")]
    assert parameter_stability(scattered, [three]).score == 0.0


def test_the_score_is_the_mean_over_parameters_and_json_is_plain() -> None:
    params = [{"a": 1, "b": True}, {"a": 1, "b": False}]
    stab = parameter_stability(
        params,
        [Dimension("a", "int", 0, 10, 1), Dimension("b", "categorical", choices=(False, True))],
    )
    assert stab.score == pytest.approx((1.0 + 0.0) / 2)
    data = json.loads(json.dumps(stab.to_dict()))
    assert data["score"] == pytest.approx(0.5)
    assert data["parameters"]["a"] == {
        "name": "a",
        "values": [1, 1],
        "low": 0.0,
        "high": 10.0,
        "mean": 1.0,
        "std": 0.0,
        "cv": 0.0,
        "score": 1.0,
    }
    assert data["parameters"]["b"]["values"] == [True, False]
    assert parameter_stability([], [num("x", 0, 1)]).score is None
