"""risk.exits scalar rules: hand-checked levels, and bit-identical compiled twins."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.matching.rules import (
    EXIT_LIQUIDATION,
    EXIT_NONE,
    EXIT_STOP_LOSS,
    EXIT_TRAILING,
    LONG,
    SHORT,
)
from xraybot.model.errors import InvalidInputError
from xraybot.risk import exits, kernel
from xraybot.risk.exits import (
    ExitRules,
    breakeven_stop,
    favourable_extreme,
    protective_stop,
    stop_level,
    target_level,
    time_exit_due,
    trailing_stop,
)

NAN = math.nan


def test_percent_stop_and_target_mirror_for_shorts() -> None:
    assert stop_level(LONG, 100.0, 0.03, NAN, NAN) == pytest.approx(97.0)
    assert stop_level(SHORT, 100.0, 0.03, NAN, NAN) == pytest.approx(103.0)
    assert target_level(LONG, 100.0, 0.06, NAN, NAN) == pytest.approx(106.0)
    assert target_level(SHORT, 100.0, 0.06, NAN, NAN) == pytest.approx(94.0)


def test_the_nearer_of_percent_and_atr_binds() -> None:
    # ATR 2: a 2-ATR stop is 96, tighter than 5 % (95) but looser than 3 % (97).
    assert stop_level(LONG, 100.0, 0.05, 2.0, 2.0) == 96.0
    assert stop_level(LONG, 100.0, 0.03, 2.0, 2.0) == pytest.approx(97.0)
    assert stop_level(SHORT, 100.0, 0.05, 2.0, 2.0) == 104.0
    assert target_level(LONG, 100.0, 0.10, 2.0, 3.0) == 106.0
    assert target_level(SHORT, 100.0, 0.10, 2.0, 3.0) == 94.0


def test_missing_parts_switch_a_level_off() -> None:
    assert stop_level(LONG, 100.0, NAN, 2.0, 2.0) == 96.0
    assert math.isnan(stop_level(LONG, 100.0, NAN, NAN, 2.0))
    assert math.isnan(stop_level(LONG, 100.0, NAN, 2.0, NAN))
    assert math.isnan(stop_level(0, 100.0, 0.03, 2.0, 2.0))


def test_favourable_extreme_keeps_the_best_price() -> None:
    assert favourable_extreme(LONG, 105.0, 104.0, 90.0) == 105.0
    assert favourable_extreme(LONG, 105.0, 107.0, 90.0) == 107.0
    assert favourable_extreme(SHORT, 95.0, 110.0, 96.0) == 95.0
    assert favourable_extreme(SHORT, 95.0, 110.0, 93.0) == 93.0


def test_breakeven_covers_both_fees_once_reached() -> None:
    assert math.isnan(breakeven_stop(LONG, 100.0, 104.9, 0.05, 0.001))
    level = breakeven_stop(LONG, 100.0, 105.0, 0.05, 0.001)
    assert level * (1 - 0.001) == pytest.approx(100.0 * (1 + 0.001), rel=1e-15)
    short = breakeven_stop(SHORT, 100.0, 95.0, 0.05, 0.001)
    assert short * (1 + 0.001) == pytest.approx(100.0 * (1 - 0.001), rel=1e-15)


def test_trailing_activates_then_follows_the_best_price() -> None:
    assert math.isnan(trailing_stop(LONG, 100.0, 104.0, 0.05, 0.05))
    assert trailing_stop(LONG, 100.0, 110.0, 0.05, 0.05) == pytest.approx(104.5)
    assert trailing_stop(SHORT, 100.0, 90.0, 0.05, 0.0) == pytest.approx(94.5)
    assert math.isnan(trailing_stop(LONG, 100.0, 110.0, NAN, 0.0))


def test_protective_stop_names_the_binding_level() -> None:
    assert protective_stop(LONG, 97.0, NAN, NAN, NAN) == (97.0, EXIT_STOP_LOSS)
    assert protective_stop(LONG, 97.0, 100.2, NAN, NAN) == (100.2, EXIT_STOP_LOSS)
    assert protective_stop(LONG, 97.0, NAN, 104.5, NAN) == (104.5, EXIT_TRAILING)
    assert protective_stop(LONG, 97.0, NAN, 97.0, NAN) == (97.0, EXIT_STOP_LOSS)
    assert protective_stop(LONG, 85.0, NAN, NAN, 90.5) == (90.5, EXIT_LIQUIDATION)
    assert protective_stop(LONG, 95.0, NAN, NAN, 90.5) == (95.0, EXIT_STOP_LOSS)
    assert protective_stop(LONG, NAN, NAN, NAN, 90.5) == (90.5, EXIT_LIQUIDATION)
    assert protective_stop(SHORT, 103.0, NAN, 101.0, 109.5) == (101.0, EXIT_TRAILING)
    assert protective_stop(SHORT, 115.0, NAN, NAN, 109.5) == (109.5, EXIT_LIQUIDATION)
    level, reason = protective_stop(LONG, NAN, NAN, NAN, NAN)
    assert math.isnan(level)
    assert reason == EXIT_NONE


def test_time_exit() -> None:
    assert not time_exit_due(2.0, 3.0)
    assert time_exit_due(3.0, 3.0)
    assert not time_exit_due(100.0, 0.0)
    assert not time_exit_due(100.0, NAN)


def test_exit_rules_validate_partials() -> None:
    with pytest.raises(InvalidInputError, match="ascend"):
        ExitRules(partial_targets=((0.05, 0.5), (0.02, 0.5)))
    with pytest.raises(InvalidInputError, match="add up"):
        ExitRules(partial_targets=((0.02, 0.6), (0.05, 0.6)))


# -- compiled twins -----------------------------------------------------------------------

EDGES = [0.0, 1.0, 0.03, 0.05, 2.0, 95.0, 97.0, 100.0, 104.5, 106.0, NAN, math.inf]
reals = st.one_of(st.sampled_from(EDGES), st.floats(allow_nan=True, allow_infinity=True))
codes = st.sampled_from([LONG, SHORT, 0, 2])


def identical(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return type(a) is type(b) and a == b


# risk/kernel.py compiles the rules of several modules; these are the exit rules' share.
EXIT_RULES = {
    name: compiled
    for name, compiled in kernel.COMPILED.items()
    if compiled.py_func.__module__ == exits.__name__  # type: ignore[attr-defined]
}


def test_every_scalar_rule_has_its_compiled_form() -> None:
    plain = {
        name
        for name, fn in vars(exits).items()
        if inspect.isfunction(fn) and fn.__module__ == exits.__name__ and not name.startswith("_")
    }
    assert set(EXIT_RULES) == plain
    for name, compiled in EXIT_RULES.items():
        assert compiled.py_func is getattr(exits, name)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(EXIT_RULES))
def test_compiled_rule_is_bit_identical_to_python(name: str) -> None:
    plain = getattr(exits, name)
    compiled = EXIT_RULES[name]
    params = list(inspect.signature(plain).parameters)
    first = codes if params[0] == "direction" else reals
    arguments = st.tuples(first, *[reals for _ in params[1:]])

    @settings(max_examples=150, deadline=None)
    @given(args=arguments)
    def check(args: tuple[Any, ...]) -> None:
        expected, found = plain(*args), compiled(*args)
        assert identical(found, expected), f"{name}{args}: python {expected!r}, numba {found!r}"

    check()
