"""The one door through which strategy code is called: failures become ``StrategyError``.

User strategies are arbitrary Python. Whatever they raise, and whatever malformed arrays they
return, must stop that strategy on that symbol with a message naming both — never crash the
kernel with a numba type error ten frames later, nor trade on misaligned arrays. The checks
are O(n) over arrays the strategy has already produced, so sweeps can afford them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import StrategyError
from xraybot.strategy.base import BoolArray, FeatureCache, Params, Signals, Strategy

__all__ = ["compute_signals", "validate_signals"]


def _strategy_name(strategy: Strategy) -> str:
    return str(getattr(strategy, "name", None) or type(strategy).__name__)


def compute_signals(
    strategy: Strategy,
    candles: Candles,
    params: Params,
    cache: FeatureCache | None = None,
) -> Signals:
    """Call ``strategy.signals`` and return its checked ``Signals``.

    Any exception the strategy raises becomes a ``StrategyError`` naming the strategy, the
    symbol and the original error (chained). A result of the wrong type, length or dtype,
    a strength outside [0, 1], or half a short pair is a ``StrategyError`` too.
    """
    name = _strategy_name(strategy)
    try:
        result = strategy.signals(candles, params, cache)
    except Exception as e:
        raise StrategyError(
            f"strategy {name!r} failed on {candles.symbol} {candles.timeframe} "
            f"({len(candles)} candles): {type(e).__name__}: {e}"
        ) from e
    return validate_signals(result, n=len(candles), strategy=name, symbol=candles.symbol)


def validate_signals(result: object, *, n: int, strategy: str, symbol: str) -> Signals:
    """Return ``result`` as well-formed ``Signals`` of length ``n``, or raise ``StrategyError``.

    Entry/exit arrays must be bool; integer arrays holding only 0 and 1 are accepted and
    converted, since pandas-style strategies often build them that way.
    """
    where = f"strategy {strategy!r} on {symbol}"
    if not isinstance(result, Signals):
        raise StrategyError(
            f"{where}: signals() must return a Signals record; found {type(result).__name__}."
        )
    if (result.entry_short is None) != (result.exit_short is None):
        present = "entry_short" if result.exit_short is None else "exit_short"
        missing = "exit_short" if result.exit_short is None else "entry_short"
        raise StrategyError(
            f"{where}: {present} is set but {missing} is None; give both short arrays or neither."
        )
    entry_long = _flags(result.entry_long, "entry_long", n, where)
    exit_long = _flags(result.exit_long, "exit_long", n, where)
    entry_short = exit_short = None
    if result.entry_short is not None and result.exit_short is not None:
        entry_short = _flags(result.entry_short, "entry_short", n, where)
        exit_short = _flags(result.exit_short, "exit_short", n, where)
    strength = None
    if result.strength is not None:
        strength = _numbers(result.strength, "strength", n, where)
        finite = strength[~np.isnan(strength)]
        bad = (finite < 0.0) | (finite > 1.0)
        if bad.any():
            first = int(np.flatnonzero(~np.isnan(strength))[int(np.argmax(bad))])
            raise StrategyError(
                f"{where}: strength must lie in [0, 1] or be NaN; found {strength[first].item()!r} "
                f"at index {first}. Clip it with np.clip(x, 0, 1)."
            )
    features = _features(result.features, n, where)
    unchanged = (
        entry_long is result.entry_long
        and exit_long is result.exit_long
        and entry_short is result.entry_short
        and exit_short is result.exit_short
        and strength is result.strength
        and features is result.features
    )
    if unchanged:
        return result
    return Signals(entry_long, exit_long, entry_short, exit_short, strength, features)


def _array(values: object, label: str, n: int, where: str) -> npt.NDArray[Any]:
    if values is None:
        raise StrategyError(f"{where}: {label} is None; it must be an array of {n} values.")
    try:
        array = np.asarray(values)
    except Exception as e:
        raise StrategyError(
            f"{where}: {label} is not array-like; found {type(values).__name__}."
        ) from e
    if array.ndim != 1 or array.shape[0] != n:
        raise StrategyError(
            f"{where}: {label} must be 1-D with one value per candle ({n}); "
            f"found shape {array.shape}."
        )
    return array


def _flags(values: object, label: str, n: int, where: str) -> BoolArray:
    array = _array(values, label, n, where)
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if n == 0 or bool(((array == 0) | (array == 1)).all()):
            return array.astype(np.bool_)
        odd = array[(array != 0) & (array != 1)][0].item()
        raise StrategyError(
            f"{where}: {label} must be bool (or 0/1); found the integer {odd!r}. "
            f"Build it from a comparison, e.g. rsi < 30."
        )
    raise StrategyError(
        f"{where}: {label} must be a bool array; found dtype {array.dtype}. Build it from a "
        f"comparison (e.g. rsi < 30), or use .astype(bool) after replacing NaN."
    )


def _numbers(values: object, label: str, n: int, where: str) -> FloatArray:
    array = _array(values, label, n, where)
    if array.dtype == np.float64:
        return array
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise StrategyError(f"{where}: {label} must be numeric; found dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise StrategyError(f"{where}: {label} must be real numbers; found dtype {array.dtype}.")
    return array.astype(np.float64)


def _features(features: Mapping[str, FloatArray], n: int, where: str) -> Mapping[str, FloatArray]:
    if not isinstance(features, Mapping):
        raise StrategyError(
            f"{where}: features must be a mapping of name to array; "
            f"found {type(features).__name__}."
        )
    checked: dict[str, FloatArray] = {}
    changed = False
    for key, values in features.items():
        if not isinstance(key, str):
            raise StrategyError(f"{where}: feature names must be text; found {key!r}.")
        array = _numbers(values, f"feature {key!r}", n, where)
        changed = changed or array is not values
        checked[key] = array
    return checked if changed else features
