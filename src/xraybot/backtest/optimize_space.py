"""The search space of an optimization, read from a strategy's ``Param`` declarations.

Every searchable ``Param`` (a numeric range, a bool, or choices) becomes a ``Dimension``;
the rest stay at their defaults. A ``space`` mapping narrows that: only the parameters it
names are searched, each as

- a list of values (searched as categories, e.g. ``{"rsi_period": [7, 14, 21]}``),
- a range ``{"low": 7, "high": 28, "step": 1}`` (any key left out keeps the Param's), or
- a single value, which fixes the parameter for the whole search.

Every value is validated against the ``Param`` first, so a typo fails before any candle
is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import optuna

from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import Param, ParamValue, Strategy

__all__ = ["Dimension", "SearchSpace", "SpaceSpec", "search_space"]

SpaceSpec = ParamValue | Sequence[ParamValue] | Mapping[str, float]
_GRID_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched parameter: ``int``/``float`` over ``[low, high]`` (by ``step`` when
    given), or ``categorical`` over ``choices``."""

    name: str
    kind: Literal["int", "float", "categorical"]
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    choices: tuple[ParamValue, ...] = ()

    def suggest(self, trial: optuna.Trial) -> ParamValue:
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1)
            )
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, step=self.step)
        return cast(ParamValue, trial.suggest_categorical(self.name, list(self.choices)))

    def grid(self) -> list[ParamValue]:
        """Every value a grid search visits, low to high."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.step is None:
            raise InvalidInputError(
                f"a grid search needs a step for {self.name!r} ({self.low:g}..{self.high:g}); "
                f"give one in the space, e.g. {{{self.name!r}: "
                f'{{"low": {self.low:g}, "high": {self.high:g}, "step": ...}}}}.'
            )
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        values = [self.low + i * self.step for i in range(count)]
        if self.kind == "int":
            return [round(v) for v in values]
        return [round(v, 12) for v in values]

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(repr(c) for c in self.choices) + "}"
        step = "" if self.step is None else f" step {self.step:g}"
        return f"{self.low:g}..{self.high:g}{step}"


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The dimensions to search and the values held fixed (defaults or single values)."""

    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, ParamValue]

    def suggest(self, trial: optuna.Trial) -> dict[str, ParamValue]:
        params = dict(self.fixed)
        for dimension in self.dimensions:
            params[dimension.name] = dimension.suggest(trial)
        return params

    def grid(self) -> dict[str, list[ParamValue]]:
        grid = {d.name: d.grid() for d in self.dimensions}
        size = math.prod(len(values) for values in grid.values())
        if size > _GRID_LIMIT:
            raise InvalidInputError(
                f"the grid has {size:,} points (over {_GRID_LIMIT:,}); narrow it with a "
                "space or use the tpe or nsga2 sampler."
            )
        return grid

    def describe(self) -> dict[str, str]:
        return {d.name: d.describe() for d in self.dimensions}


def search_space(strategy: Strategy, space: Mapping[str, SpaceSpec] | None = None) -> SearchSpace:
    """Build the search space of ``strategy``, narrowed by ``space`` when given."""
    defaults = strategy.defaults()
    if space is None:
        dims = tuple(_from_param(p) for p in strategy.parameters if p.searchable)
        searched = {d.name for d in dims}
        fixed = {n: v for n, v in defaults.items() if n not in searched}
    else:
        dims_list: list[Dimension] = []
        fixed = dict(defaults)
        for name, spec in space.items():
            param = strategy.param(name)
            found = _from_spec(param, spec)
            if isinstance(found, Dimension):
                dims_list.append(found)
                fixed.pop(name)
            else:
                fixed[name] = found
        dims = tuple(dims_list)
    if not dims:
        raise InvalidInputError(
            f"strategy {strategy.name!r} has nothing to search: no parameter declares a range, "
            "a bool or choices, and the space names none. Give a space such as "
            '{"name": {"low": 1, "high": 10}}.'
        )
    return SearchSpace(dims, fixed)


def _from_param(param: Param) -> Dimension:
    if param.choices:
        return Dimension(param.name, "categorical", choices=param.choices)
    if isinstance(param.default, bool):
        return Dimension(param.name, "categorical", choices=(False, True))
    if param.low is None or param.high is None or isinstance(param.default, str):
        raise InvalidInputError(f"parameter {param.name!r} declares no range or choices.")
    kind: Literal["int", "float"] = "int" if isinstance(param.default, int) else "float"
    step = param.step if param.step is not None else (1.0 if kind == "int" else None)
    return Dimension(param.name, kind, float(param.low), float(param.high), step)


def _from_spec(param: Param, spec: Any) -> Dimension | ParamValue:
    """A dimension to search, or the one value to hold the parameter at."""
    where = f"space[{param.name!r}]"
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"low", "high", "step"}
        if unknown:
            raise InvalidInputError(
                f"{where} may hold low, high and step; found {', '.join(sorted(unknown))}."
            )
        if isinstance(param.default, bool | str):
            raise InvalidInputError(
                f"{where}: {param.name} is a {param.kind}; give a list of values, not a range."
            )
        base = _from_param(param) if param.low is not None else None
        low = spec.get("low", base.low if base else None)
        high = spec.get("high", base.high if base else None)
        if low is None or high is None:
            raise InvalidInputError(f"{where} needs low and high; {param.name} declares none.")
        low = float(param.validate(low, f"{where} low"))
        high = float(param.validate(high, f"{where} high"))
        if low > high:
            raise InvalidInputError(f"{where}: low {low:g} is above high {high:g}.")
        step = spec.get("step", base.step if base else None)
        if step is not None and not (math.isfinite(float(step)) and float(step) > 0):
            raise InvalidInputError(f"{where}: step must be > 0; found {step!r}.")
        kind: Literal["int", "float"] = "int" if param.kind == "int" else "float"
        if kind == "int" and step is not None and float(step) != int(step):
            raise InvalidInputError(f"{where}: an int step must be whole; found {step!r}.")
        step_value = None if step is None else float(step)
        return Dimension(param.name, kind, low, high, step_value)
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        if not spec:
            raise InvalidInputError(f"{where} is an empty list; give at least one value.")
        values = tuple(dict.fromkeys(param.validate(v, where) for v in spec))
        if len(values) == 1:
            return values[0]
        return Dimension(param.name, "categorical", choices=values)
    return param.validate(spec, where)
