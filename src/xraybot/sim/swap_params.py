"""Reading contract v1 JSON bodies: numbers and codes, refused the way MEXC refuses them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xraybot.sim.replies import (
    CONTRACT_DUPLICATE_EXTERNAL_OID,
    CONTRACT_EXTERNAL_OID_TOO_LONG,
    CONTRACT_PARAM,
    CONTRACT_QUANTITY,
    MexcError,
    number_text,
)

VOL_UNIT = Decimal(1)
MAX_VOL = Decimal(10_000_000)
MAX_EXTERNAL_OID = 32


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


def volume_param(body: Mapping[str, Any]) -> Decimal:
    """Return ``vol``: whole contracts from 1 to MAX_VOL, refused as MEXC refuses it."""
    vol = number_param(body, "vol", required=True)
    assert vol is not None
    if vol <= 0 or vol % VOL_UNIT != 0 or vol > MAX_VOL:
        raise MexcError(
            CONTRACT_QUANTITY,
            f"Order quantity error, please try to modify. (vol {number_text(vol)}: whole "
            f"contracts from 1 to {number_text(MAX_VOL)})",
        )
    return vol


def tick_price_param(body: Mapping[str, Any], name: str, tick: Decimal, swap_id: str) -> Decimal:
    """Return the price ``name``: a positive multiple of the contract's ``tick``."""
    price = number_param(body, name, required=True)
    assert price is not None
    if price <= 0 or price % tick != 0:
        raise param_error(
            f"{name} {number_text(price)} must be a positive multiple of "
            f"{swap_id}'s priceUnit {number_text(tick)}."
        )
    return price


def external_oid_param(body: Mapping[str, Any], used: Mapping[str, str], what: str) -> str | None:
    """Return the client id (``externalOid``), None when absent; refuse one too long or one
    ``used`` already (by ``what``: an order, a plan order), as MEXC does."""
    raw = body.get("externalOid")
    external_oid = str(raw) if raw not in (None, "") else None
    if external_oid is None:
        return None
    if len(external_oid) > MAX_EXTERNAL_OID:
        raise MexcError(
            CONTRACT_EXTERNAL_OID_TOO_LONG,
            f"externalOid is {len(external_oid)} characters; at most {MAX_EXTERNAL_OID}.",
        )
    if external_oid in used:
        raise MexcError(
            CONTRACT_DUPLICATE_EXTERNAL_OID,
            f"Repeated request: externalOid {external_oid!r} is already used by {what} "
            f"{used[external_oid]}; look that order up instead.",
        )
    return external_oid
