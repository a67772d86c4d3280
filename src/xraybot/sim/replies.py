"""MEXC's reply envelopes and the error codes the simulator answers with.

Spot v3 errors are ``{"code": int, "msg": str}`` with HTTP 400; contract v1 replies are
always wrapped: ``{"success": true, "code": 0, "data": ...}`` or
``{"success": false, "code": int, "message": str}`` with HTTP 200, as MEXC does. The ccxt
exception each code becomes is noted; ccxt matches the message's "broad" phrases first.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.responses import Response


class MexcError(Exception):
    """A request MEXC would refuse; rendered in the spot or the contract envelope."""

    def __init__(self, code: int, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


# -- spot v3 ----------------------------------------------------------------------------
SPOT_BAD_PARAMETER = 400  # BadRequest
SPOT_BAD_SYMBOL = -1121  # "Invalid symbol." -> BadSymbol
SPOT_DUPLICATE_CLIENT_ID = -2010  # unmapped -> ExchangeError ("Duplicate order sent")
SPOT_UNKNOWN_ORDER = -2013  # unmapped -> ExchangeError ("Order does not exist.")
SPOT_MIN_NOTIONAL = 30002  # InvalidOrder
SPOT_INSUFFICIENT = 30004  # InsufficientFunds ("Insufficient position")
SPOT_ORDER_CLOSED = -2011  # BadRequest ("Unknown order sent." for a closed order)
SPOT_BAD_KEY = 10072  # BadRequest in ccxt ("Api key info invalid")
SPOT_BAD_SIGNATURE = 700002  # AuthenticationError
SPOT_RECV_WINDOW = 700003  # InvalidNonce
SPOT_ORDER_REF_MISSING = 700004  # BadRequest
SPOT_RECV_WINDOW_TOO_LARGE = 700005  # InvalidNonce

# -- contract v1 --------------------------------------------------------------------------
CONTRACT_BAD_KEY = 401  # AuthenticationError
CONTRACT_STALE_REQUEST = 513  # BadRequest ("Invalid request")
CONTRACT_PARAM = 600  # BadRequest ("Param error!")
CONTRACT_BAD_SIGNATURE = 602  # AuthenticationError
CONTRACT_DUPLICATE_EXTERNAL_OID = 603  # BadRequest ("Repeated request")
CONTRACT_UNKNOWN_SYMBOL = 1001  # BadSymbol ("Contract does not exist")
CONTRACT_INSUFFICIENT = 2005  # InsufficientFunds ("Insufficient balance!")
CONTRACT_NO_POSITION = 2009  # InvalidOrder ("Position is not exists or closed.")
CONTRACT_QUANTITY = 2011  # BadRequest ("Order quantity error, please try to modify.")
CONTRACT_EXTERNAL_OID_TOO_LONG = 2030  # unmapped -> ExchangeError
CONTRACT_ORDER_NOT_EXIST = 2040  # unmapped -> ExchangeError; InvalidOrder inside cancel replies
CONTRACT_ORDER_NOT_CANCELABLE = 2041
CONTRACT_BAD_REQUEST_TIME = 10073  # BadRequest ("invalid Request-Time")
CONTRACT_RATE_LIMITED = 510  # RateLimitExceeded ("Excessive frequency")


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return number_text(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def number_text(value: Decimal) -> str:
    """Render a Decimal the way MEXC writes numbers: plain digits, no exponent."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class MexcJSON(Response):
    """Compact JSON (Decimals as strings), the way MEXC's gateway serializes."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), default=_default).encode()


def spot_error(error: MexcError) -> Response:
    """Render a refusal in the spot v3 shape."""
    return MexcJSON({"code": error.code, "msg": error.message}, status_code=error.status)


def contract_ok(data: Any = None, *, with_data: bool = True) -> Response:
    """Render a contract v1 success, with or without ``data``."""
    body: dict[str, Any] = {"success": True, "code": 0}
    if with_data:
        body["data"] = data
    return MexcJSON(body)


def contract_error(error: MexcError) -> Response:
    """Render a refusal in the contract v1 envelope."""
    return MexcJSON({"success": False, "code": error.code, "message": error.message})


def float_text(value: float) -> str:
    """Render a float price or volume without binary noise or an exponent."""
    if value != value or value in (float("inf"), float("-inf")):
        return "0"
    return number_text(Decimal(repr(value)))
