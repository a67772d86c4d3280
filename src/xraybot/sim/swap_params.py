"""Reading contract v1 JSON bodies: numbers and codes, refused the way MEXC refuses them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xraybot.sim.replies import CONTRACT_PARAM, MexcError


def param_error(text: str) -> MexcError:
    """Return MEXC's parameter error (ccxt: BadRequest) explaining ``text``."""
    return MexcError(CONTRACT_PARAM, f"Param error! {text}")


def number_param(body: Mapping[str, Any], name: str, *, required: bool) -> Decimal | None:
    """Return a number >= 0 from the body (numbers or numeric strings), None if absent."""
    raw = body.get(name)
    if raw is None:
        if required:
            raise param_error(f"'{name}' is required.")
        return None
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        value = Decimal("NaN")
    if isinstance(raw, bool) or not value.is_finite() or value < 0:
        raise param_error(f"'{name}' must be a number >= 0; found {raw!r}.")
    return value


def integer_value(raw: object, name: str) -> int:
    """Return ``raw`` as a whole number (``3`` or ``3.0`` or ``"3"``), or raise."""
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        value = Decimal("NaN")
    if isinstance(raw, bool) or not value.is_finite() or value != value.to_integral_value():
        raise param_error(f"'{name}' must be a whole number; found {raw!r}.")
    return int(value)


def integer_param(
    body: Mapping[str, Any], name: str, allowed: tuple[int, ...], default: int
) -> int:
    """Return a code from the body that must be one of ``allowed``."""
    raw = body.get(name, default)
    try:
        value = integer_value(raw, name)
    except MexcError:
        value = None
    if value is None or value not in allowed:
        choices = ", ".join(map(str, allowed))
        raise param_error(f"'{name}' must be one of {choices}; found {raw!r}.")
    return value
