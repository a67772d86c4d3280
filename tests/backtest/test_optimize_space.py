from __future__ import annotations

from typing import ClassVar

import optuna
import pytest

from xraybot.backtest.optimize_space import Dimension, search_space
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy
from xraybot.strategy.builtin.rsi_reversion import RsiReversion


class Mixed(Strategy):
    name: ClassVar[str] = "mixed"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("fast", 5, 2, 20),  # int range without a step: steps of 1
        Param("level", 0.5, 0.1, 0.9),  # float range without a step: continuous
        Param("use_volume", False),  # bool: searched as {False, True}
        Param("ma", "ema", choices=("ema", "sma", "wma")),
        Param("label", "x"),  # text without choices: not searchable, kept fixed
    )

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        raise NotImplementedError


def test_space_comes_from_the_param_declarations() -> None:
    space = search_space(RsiReversion())
    by_name = {d.name: d for d in space.dimensions}
    assert list(by_name) == ["rsi_period", "entry_level", "exit_level", "stop_loss", "take_profit"]
    assert by_name["rsi_period"] == Dimension("rsi_period", "int", 2, 50, 1)
    assert by_name["stop_loss"] == Dimension("stop_loss", "float", 0.005, 0.2, 0.005)
    assert space.fixed == {}

    mixed = search_space(Mixed())
    kinds = {d.name: (d.kind, d.step, d.choices) for d in mixed.dimensions}
    assert kinds == {
        "fast": ("int", 1.0, ()),
        "level": ("float", None, ()),
        "use_volume": ("categorical", None, (False, True)),
        "ma": ("categorical", None, ("ema", "sma", "wma")),
    }
    assert mixed.fixed == {"label": "x"}


def test_a_space_narrows_the_search() -> None:
    space = search_space(
        RsiReversion(),
        {
            "rsi_period": [7, 14, 21, 14],
            "entry_level": {"low": 20, "high": 35},
            "exit_level": 75,
            "stop_loss": [0.05],
        },
    )
    by_name = {d.name: d for d in space.dimensions}
    assert by_name["rsi_period"].choices == (7, 14, 21)  # validated, each once
    assert by_name["entry_level"] == Dimension("entry_level", "float", 20.0, 35.0, 1.0)
    assert by_name["entry_level"].grid() == [float(v) for v in range(20, 36)]
    # Named with one value, or not named at all: fixed.
    assert space.fixed == {"exit_level": 75.0, "stop_loss": 0.05, "take_profit": 0.06}
    assert set(space.grid()) == {"rsi_period", "entry_level"}


def test_suggestions_stay_inside_the_space() -> None:
    space = search_space(Mixed(), {"fast": {"low": 3, "high": 9, "step": 3}, "ma": ["sma", "wma"]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = []
    for _ in range(30):
        trial = study.ask()
        params = space.suggest(trial)
        Mixed.resolve(params)  # every suggestion is a valid parameter set
        seen.append(params)
        study.tell(trial, 0.0)
    assert {p["fast"] for p in seen} <= {3, 6, 9}
    assert {p["ma"] for p in seen} <= {"sma", "wma"}
    assert all(p["level"] == 0.5 and p["use_volume"] is False for p in seen)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"nope": [1]}, "no parameter 'nope'"),
        ({"rsi_period": [1, 14]}, r"must lie in \[2, 50\]"),
        ({"rsi_period": {"low": 30, "high": 10}}, "low 30 is above high 10"),
        ({"rsi_period": {"low": 5, "high": 9, "step": 1.5}}, "int step must be whole"),
        ({"rsi_period": {"from": 5}}, "may hold low, high and step"),
        ({"rsi_period": []}, "empty list"),
        ({"rsi_period": 14}, "nothing to search"),
    ],
)
def test_bad_spaces_are_refused(space: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        search_space(RsiReversion(), space)  # type: ignore[arg-type]


def test_a_grid_needs_steps_and_a_bound() -> None:
    with pytest.raises(InvalidInputError, match="needs a step for 'level'"):
        search_space(Mixed(), {"level": {"low": 0.2, "high": 0.4}}).grid()
    assert search_space(Mixed(), {"level": {"low": 0.2, "high": 0.4, "step": 0.1}}).grid() == {
        "level": [0.2, 0.3, 0.4]
    }
    with pytest.raises(InvalidInputError, match="points"):
        search_space(RsiReversion()).grid()  # 49 x 46 x 46 x 40 x 100 points
