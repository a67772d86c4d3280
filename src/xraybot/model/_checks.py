"""Argument checks for the value types; messages name the field, the rule and what was found."""

from __future__ import annotations

from decimal import Decimal

from xraybot.model.errors import InvalidInputError


def require_decimal(owner: str, field: str, value: object) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInputError(
            f"{owner}.{field} must be a finite Decimal; found {value!r} "
            f"({type(value).__name__}). Pass Decimal(str(x)) rather than a float."
        )
    return value


def require_positive(owner: str, field: str, value: object) -> Decimal:
    number = require_decimal(owner, field, value)
    if number <= 0:
        raise InvalidInputError(f"{owner}.{field} must be > 0; found {number}.")
    return number


def require_non_negative(owner: str, field: str, value: object) -> Decimal:
    number = require_decimal(owner, field, value)
    if number < 0:
        raise InvalidInputError(f"{owner}.{field} must be >= 0; found {number}.")
    return number


def require_ts_ms(owner: str, field: str, value: object) -> int:
    # Reject seconds and floats early: every timestamp in xraybot is integer ms UTC.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(
            f"{owner}.{field} must be a non-negative int of milliseconds UTC; found {value!r}."
        )
    return value


def require_text(owner: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{owner}.{field} must be a non-empty string; found {value!r}.")
    return value
