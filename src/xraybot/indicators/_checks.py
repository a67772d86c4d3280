"""Argument checks shared by every indicator; messages name the argument, the rule and the value."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError

# TA-Lib refuses periods above this with a bare TA_BAD_PARAM; say so in our words first.
MAX_PERIOD = 100_000


def series(name: str, value: object) -> FloatArray:
    """Return ``value`` if it is a 1-D float64 array, finite after any leading NaN warm-up."""
    if not isinstance(value, np.ndarray):
        raise InvalidInputError(
            f"{name} must be a 1-D numpy float64 array; found {type(value).__name__}. "
            f"Pass a Candles column (candles.{name}) or np.asarray(x, dtype=np.float64)."
        )
    if value.dtype != np.float64:
        raise InvalidInputError(
            f"{name} must be a numpy float64 array; found dtype {value.dtype}. "
            f"Convert it with {name}.astype(np.float64)."
        )
    if value.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D; found shape {value.shape}.")
    array: FloatArray = value
    # Leading NaN is another indicator's warm-up and TA-Lib skips it; NaN or inf after the
    # first value would poison every running sum that follows, so refuse it here.
    present = ~np.isnan(array)
    if present.any():
        start = int(np.argmax(present))
        bad = np.flatnonzero(~np.isfinite(array[start:]))
        if bad.size:
            i = start + int(bad[0])
            raise InvalidInputError(
                f"{name} must be finite after its leading NaN warm-up; found {array[i]} at "
                f"index {i}. Drop or fill the missing candles before computing indicators."
            )
    return array


def same_length(**arrays: FloatArray) -> None:
    """Refuse arrays of different lengths, naming each one's length."""
    lengths = {name: int(a.shape[0]) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InvalidInputError(
            f"{', '.join(lengths)} must have the same length; found {found}. "
            "Take them from one Candles series."
        )


def columns(*names: str, **arrays: object) -> tuple[FloatArray, ...]:
    """Check each named array with ``series`` and all of them with ``same_length``."""
    checked = {name: series(name, arrays[name]) for name in names}
    same_length(**checked)
    return tuple(checked.values())


def non_negative(name: str, array: FloatArray) -> None:
    """Refuse negative values (volumes, amounts); NaN warm-up is left alone."""
    bad = np.flatnonzero(array < 0)
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(f"{name} must be >= 0; found {array[i]} at index {i}.")


def positive(name: str, array: FloatArray) -> None:
    """Refuse zero or negative values (prices that a logarithm or a ratio will divide by)."""
    bad = np.flatnonzero(array <= 0)
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(f"{name} must be > 0; found {array[i]} at index {i}.")


def candles_of(name: str, value: object) -> Candles:
    """Return ``value`` if it is a ``Candles`` series, finite throughout, volumes >= 0."""
    if not isinstance(value, Candles):
        raise InvalidInputError(
            f"{name} must be xraybot.model.Candles; found {type(value).__name__}. "
            "Build one from the store or from arrays with Candles(symbol, timeframe, ...)."
        )
    for field in ("open", "high", "low", "close", "volume"):
        column = getattr(value, field)
        bad = np.flatnonzero(~np.isfinite(column))
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"{name}.{field} must be finite; found {column[i]} at index {i} "
                f"({value.symbol} {value.timeframe}). Drop or repair that candle first."
            )
    non_negative(f"{name}.volume", value.volume)
    return value


def period(name: str, value: object, minimum: int = 1, *, why: str = "") -> int:
    """Return ``value`` as an int if it is an integer in [minimum, MAX_PERIOD]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidInputError(
            f"{name} must be an integer >= {minimum}; found {value!r} ({type(value).__name__})."
        )
    number = int(value)
    if number < minimum or number > MAX_PERIOD:
        because = f" ({why})" if why else ""
        raise InvalidInputError(
            f"{name} must be an integer from {minimum}{because} to {MAX_PERIOD}; found {number}."
        )
    return number


def real(name: str, value: object, *, minimum: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite real number (not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInputError(
            f"{name} must be a real number; found {value!r} ({type(value).__name__})."
        )
    number = float(value)
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        rule = "finite" if minimum is None else f"finite and >= {minimum}"
        raise InvalidInputError(f"{name} must be {rule}; found {number}.")
    return number


def ma_type(name: str, value: object) -> int:
    """Return ``value`` if it names one of TA-Lib's nine moving averages (0 SMA … 8 T3)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= 8:
        raise InvalidInputError(
            f"{name} must be a TA-Lib MA type 0..8 (0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, "
            f"5 TRIMA, 6 KAMA, 7 MAMA, 8 T3); found {value!r}."
        )
    return int(value)


def talib() -> Any:
    """Return the ``talib`` module, imported on first use."""
    if "talib" in sys.modules:
        return sys.modules["talib"]
    # TA-Lib imports pandas (0.2-0.4 s) only to accept pandas Series, which our wrappers
    # never pass: numpy arrays in, numpy arrays out. Unless pandas is already loaded, make
    # that optional import fail so TA-Lib skips it (and its per-call Series checks).
    hide_pandas = "pandas" not in sys.modules
    if hide_pandas:
        sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        import talib as lib
    finally:
        if hide_pandas:
            del sys.modules["pandas"]
    return lib
