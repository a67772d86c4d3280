"""Walk-forward figures: annualized rates, walk-forward efficiency and parameter stability.

**Rates.** Annualized returns are continuously compounded, ``ln(final / initial) x year /
span`` (:func:`annual_log_return`): unlike CAGR they stay finite on short windows, keep the
sign of the return and add up over time, so a stitched OOS rate is the time-weighted mean of
its windows' rates. An account wiped out has a rate of -inf.

**Efficiency** (:func:`efficiency`) is OOS rate / IS rate. It is ``None`` when the IS rate is
not positive: an in-sample that lost money (or made nothing) gives no yardstick, and dividing
by a negative rate would flip the sign. A wiped-out OOS gives -inf (``None`` in JSON).

**Stability** (:func:`parameter_stability`). For a numeric parameter, the spread of the
chosen values across windows as a coefficient of variation relative to its searched range
(the optimizer's space, else the declared ``Param`` range): ``cv = std / (high - low)`` with
the population std, scored ``1 - cv x sqrt(12)`` clipped to [0, 1]. That is 1 when every
window chose the same value, and 0 when they scatter as much as uniform random picks over
the range would (std ``range / sqrt(12)``) or more. A categorical parameter (a bool, declared
choices, or a list in the space) scores the share of windows that chose its most common
value, rescaled so that random picks (share 1/k of k options) score 0. The stability score is
the mean over the searched parameters; with one window every parameter trivially scores 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np

from xraybot.backtest.metrics import YEAR_MS, Metrics, json_safe
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import Params, ParamValue

__all__ = ["ParameterStability", "Searched", "Stability", "annual_log_return", "efficiency",
           "metrics_rate", "parameter_stability"]  # fmt: skip

_RANDOM_STD = 1.0 / math.sqrt(12.0)  # std of uniform picks over a unit range


def annual_log_return(initial: float, final: float, span_ms: int) -> float:
    """``ln(final / initial) x year / span``; -inf when the account was wiped out."""
    if span_ms <= 0 or initial <= 0:
        raise InvalidInputError(
            f"an annual return needs a positive span and initial equity; found {span_ms} ms "
            f"and {initial!r}."
        )
    if final <= 0:
        return -math.inf
    return math.log(final / initial) * YEAR_MS / span_ms


def metrics_rate(metrics: Metrics) -> float:
    """The continuously compounded annual rate of a backtest's metrics."""
    return annual_log_return(
        metrics.initial_equity, metrics.final_equity, metrics.end_ms - metrics.start_ms
    )


def efficiency(oos_rate: float, is_rate: float) -> float | None:
    """OOS rate / IS rate; ``None`` when the IS rate is not positive (see the module notes)."""
    if math.isnan(oos_rate) or not is_rate > 0 or math.isinf(is_rate):
        return None
    return oos_rate / is_rate


@dataclass(frozen=True, slots=True)
class ParameterStability:
    """How one parameter's chosen value moved across windows (see the module notes)."""

    name: str
    values: tuple[ParamValue, ...]
    low: float | None
    high: float | None
    mean: float | None
    std: float | None
    cv: float | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: json_safe(getattr(self, f.name)) for f in fields(self)}
        out["values"] = list(self.values)
        return out


@dataclass(frozen=True, slots=True)
class Stability:
    score: float | None
    parameters: tuple[ParameterStability, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": json_safe(self.score) if self.score is not None else None,
            "parameters": {p.name: p.to_dict() for p in self.parameters},
        }


class Searched(Protocol):
    """A searched parameter as the optimizer's space describes it (``optimize_space.Dimension``):
    ``kind`` ``int``/``float`` over ``[low, high]``, or ``categorical`` over ``choices``."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def low(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def choices(self) -> tuple[ParamValue, ...]: ...


def parameter_stability(params: Sequence[Params], searched: Sequence[Searched]) -> Stability:
    """Score how stable each ``searched`` parameter was over the windows' chosen ``params``."""
    out = []
    for dimension in searched:
        values = tuple(p[dimension.name] for p in params if dimension.name in p)
        if values:
            out.append(_one_stability(dimension, values))
    score = float(np.mean([p.score for p in out])) if out else None
    return Stability(score, tuple(out))


def _one_stability(dimension: Searched, values: tuple[ParamValue, ...]) -> ParameterStability:
    name = dimension.name
    if dimension.kind != "categorical":
        low, high = float(dimension.low), float(dimension.high)
        array = np.array(values, dtype=np.float64)
        mean, std = float(array.mean()), float(array.std())
        cv = std / (high - low) if high > low else 0.0
        score = min(1.0, max(0.0, 1.0 - cv / _RANDOM_STD))
        return ParameterStability(name, values, low, high, mean, std, cv, score)
    options = len(dimension.choices)
    counts: dict[ParamValue, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    share = max(counts.values()) / len(values)
    floor = 1.0 / options if options else 1.0
    score = 1.0 if options <= 1 else max(0.0, (share - floor) / (1.0 - floor))
    return ParameterStability(name, values, None, None, None, None, None, score)
