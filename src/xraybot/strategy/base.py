"""The strategy contract: typed parameters with ranges, and vectorized causal signals.

A strategy looks at a whole candle series at once and answers, for every candle, whether to
enter or leave a position once that candle has closed. The backtest kernel consumes the arrays
directly; live trading evaluates the same method on the trailing window and reads the last row.
``signals`` must be *causal*: the value at index ``t`` may use candles ``0..t`` only
(``backtest.bias`` checks this for every strategy), and values before ``warmup(params)``
candles are not trusted by the bias checks.

Parameters are declared as ``Param`` records (name, default, range, step or choices) so the
optimizer can search them and a user's overrides are validated before any candle is read.
``FeatureCache`` lets one sweep share indicator arrays between parameter sets (a grid over RSI
entry levels computes each RSI period once).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules

BoolArray = npt.NDArray[np.bool_]
ParamValue = int | float | bool | str
Params = Mapping[str, ParamValue]


@dataclass(frozen=True, slots=True)
class Param:
    """One tunable parameter: its default fixes the type; ``low``/``high``/``step`` or
    ``choices`` bound what the optimizer may try and what a user may set."""

    name: str
    default: ParamValue
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[ParamValue, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidInputError(f"Param name must be an identifier; found {self.name!r}.")
        if (self.low is None) != (self.high is None):
            raise InvalidInputError(f"Param {self.name!r}: give both low and high, or neither.")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InvalidInputError(
                f"Param {self.name!r}: low {self.low} is above high {self.high}."
            )
        self.validate(self.default, "default")

    @property
    def kind(self) -> str:
        """``int``, ``float``, ``bool`` or ``str``: the type every value must have."""
        return type(self.default).__name__

    @property
    def searchable(self) -> bool:
        """True when the optimizer can search it: a numeric range, a bool or choices."""
        return bool(self.choices) or self.low is not None or isinstance(self.default, bool)

    def validate(self, value: object, source: str = "value") -> ParamValue:
        """Return ``value`` as this parameter's type, or raise naming what is wrong."""
        where = f"parameter {self.name!r} ({source})"
        expected = type(self.default)
        coerced: ParamValue
        if expected is bool:
            if not isinstance(value, bool):
                raise InvalidInputError(f"{where} must be true or false; found {value!r}.")
            coerced = value
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"{where} must be a whole number; found {value!r}.")
            if isinstance(value, float) and not value.is_integer():
                raise InvalidInputError(f"{where} must be a whole number; found {value!r}.")
            coerced = int(value)
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"{where} must be a number; found {value!r}.")
            if not math.isfinite(value):
                raise InvalidInputError(f"{where} must be finite; found {value!r}.")
            coerced = float(value)
        else:
            if not isinstance(value, str):
                raise InvalidInputError(f"{where} must be text; found {value!r}.")
            coerced = value
        if self.choices and coerced not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise InvalidInputError(f"{where} must be one of {allowed}; found {coerced!r}.")
        in_range = (
            isinstance(coerced, bool | str)
            or self.low is None
            or self.high is None
            or self.low <= coerced <= self.high
        )
        if not in_range:
            raise InvalidInputError(
                f"{where} must lie in [{self.low:g}, {self.high:g}]; found {coerced!r}."
            )
        return coerced


@dataclass(frozen=True, slots=True)
class Signals:
    """Per-candle decisions for one series, aligned with its candles.

    ``entry_long[t]`` means "open a long once candle t has closed"; the backtest fills it at
    the open of t+1. Short arrays are ``None`` for long-only strategies. ``strength`` (0..1)
    lets ensembles and sizing weigh a signal; ``features`` names the indicator arrays the
    decision used (bias checks compare them, reports draw them, learning reads them).
    """

    entry_long: BoolArray
    exit_long: BoolArray
    entry_short: BoolArray | None = None
    exit_short: BoolArray | None = None
    strength: FloatArray | None = None
    features: Mapping[str, FloatArray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.entry_long.shape[0])

    @property
    def has_short(self) -> bool:
        return self.entry_short is not None

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The decision arrays that are present, by name (features excluded)."""
        named: dict[str, npt.NDArray[Any] | None] = {
            "entry_long": self.entry_long,
            "exit_long": self.exit_long,
            "entry_short": self.entry_short,
            "exit_short": self.exit_short,
            "strength": self.strength,
        }
        return {name: values for name, values in named.items() if values is not None}


class FeatureCache:
    """Memoizes feature arrays by key for one candle series (e.g. ``("rsi", 14)``).

    One cache belongs to one series: share it between parameter sets of a sweep, never
    between symbols. Cached arrays are made read-only so one strategy cannot edit another's.
    """

    __slots__ = ("_values", "hits", "misses")

    def __init__(self) -> None:
        self._values: dict[tuple[object, ...], FloatArray] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[object, ...], compute: Callable[[], FloatArray]) -> FloatArray:
        found = self._values.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        value = compute()
        value.flags.writeable = False
        self._values[key] = value
        return value

    def __len__(self) -> int:
        return len(self._values)


def feature(
    cache: FeatureCache | None, key: tuple[object, ...], compute: Callable[[], FloatArray]
) -> FloatArray:
    """``cache.get(key, compute)``, or ``compute()`` when there is no cache."""
    return compute() if cache is None else cache.get(key, compute)


class Strategy(ABC):
    """Base of every strategy, built-in or user-written.

    Subclasses set ``name`` and ``parameters`` and implement ``signals``; they override
    ``warmup`` when their indicators need history, ``exit_rules`` when the strategy carries
    its own stop/target (the backtest and live settings may override them).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    parameters: ClassVar[tuple[Param, ...]] = ()

    @abstractmethod
    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        """Return causal per-candle signals for ``candles`` under resolved ``params``."""

    def warmup(self, params: Params) -> int:
        """Candles of history the signals need before they stop depending on the start."""
        return 0

    def exit_rules(self, params: Params) -> ExitRules:
        """The stop/target/trailing rules this strategy trades with by default."""
        return ExitRules()

    # -- parameters ---------------------------------------------------------------------

    @classmethod
    def param(cls, name: str) -> Param:
        for declared in cls.parameters:
            if declared.name == name:
                return declared
        known = ", ".join(p.name for p in cls.parameters) or "none"
        raise InvalidInputError(
            f"strategy {cls.name!r} has no parameter {name!r}; its parameters are: {known}."
        )

    @classmethod
    def defaults(cls) -> dict[str, ParamValue]:
        return {p.name: p.default for p in cls.parameters}

    @classmethod
    def resolve(cls, overrides: Mapping[str, object] | None = None) -> dict[str, ParamValue]:
        """Defaults with ``overrides`` applied, each validated against its ``Param``."""
        resolved = cls.defaults()
        for name, value in (overrides or {}).items():
            resolved[name] = cls.param(name).validate(value, f"strategy {cls.name!r}")
        cls.check_params(resolved)
        return resolved

    @classmethod
    def check_params(cls, params: Params) -> None:
        """Raise ``InvalidInputError`` when valid values do not fit together (fast >= slow).

        ``resolve`` calls it after checking each value alone, so an optimizer trial with an
        impossible combination fails before any candle is read (prune it there).
        """
        return  # most strategies' parameters are independent
