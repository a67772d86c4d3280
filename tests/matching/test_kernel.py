"""kernel.py: every compiled rule returns exactly what its plain Python form returns."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.matching import costs, kernel, rules

# Values chosen to collide, so equality edges (touch = fill) and gaps occur often.
EDGES = [0.0, -0.0, 1.0, 0.5, 97.0, 100.0, 106.0, math.nan, math.inf, -math.inf]
reals = st.one_of(st.sampled_from(EDGES), st.floats(allow_nan=True, allow_infinity=True))
codes = st.sampled_from([1, -1, 0, 2])

RULES: dict[str, Callable[..., Any]] = {
    name: getattr(module, name)
    for module in (rules, costs)
    for name in kernel.COMPILED
    if hasattr(module, name)
}


def test_every_rule_has_its_compiled_form_and_nothing_else() -> None:
    hot = {
        name
        for module in (rules, costs)
        for name, fn in vars(module).items()
        if inspect.isfunction(fn)
        and fn.__module__ == module.__name__
        and not name.startswith("_")
        and name not in {"exit_reason_name", "exit_reason_code", "side_code", "direction_code"}
    }
    assert set(kernel.COMPILED) == hot == set(RULES)
    for name, compiled in kernel.COMPILED.items():
        assert getattr(kernel, f"{name}_nb") is compiled
        assert compiled.py_func is RULES[name]


def identical(a: object, b: object) -> bool:
    """Same type and same bits, NaN equal to NaN and 0.0 distinct from -0.0."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def arguments(fn: Callable[..., Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    """Ints for the side/direction code (the first parameter when it is one), floats elsewhere."""
    params = list(inspect.signature(fn).parameters)
    first_is_code = params[0] in {"side", "direction"}
    return st.tuples(*[codes if (i == 0 and first_is_code) else reals for i in range(len(params))])


@pytest.mark.parametrize("name", sorted(kernel.COMPILED))
def test_compiled_rule_is_bit_identical_to_python(name: str) -> None:
    plain, compiled = RULES[name], kernel.COMPILED[name]

    @settings(max_examples=150, deadline=None)
    @given(args=arguments(plain))
    def check(args: tuple[Any, ...]) -> None:
        expected, found = plain(*args), compiled(*args)
        assert identical(found, expected), f"{name}{args}: python {expected!r}, numba {found!r}"

    check()
