"""MEXC request signatures, checked the way MEXC checks them (research doc §4).

Spot v3: ``signature = hex(HMAC_SHA256(secret, <query string before &signature=>))`` with
``timestamp`` and ``recvWindow`` inside the signed string. Contract v1:
``Signature = hex(HMAC_SHA256(secret, apiKey + Request-Time + P))`` where ``P`` is the raw
query string of a GET or the raw body of a POST. The raw text is verified as received,
never re-serialized.

Timestamps are compared with the wall clock *or* the simulator's market clock, whichever
is closer: a client that synchronised to ``/api/v3/time`` during a replay signs with the
replay's time, one that did not signs with its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl

from xraybot.sim.replies import (
    CONTRACT_BAD_REQUEST_TIME,
    CONTRACT_BAD_SIGNATURE,
    CONTRACT_STALE_REQUEST,
    SPOT_BAD_SIGNATURE,
    SPOT_RECV_WINDOW,
    SPOT_RECV_WINDOW_TOO_LARGE,
    MexcError,
)

SPOT_MAX_RECV_WINDOW_MS = 60_000
SPOT_DEFAULT_RECV_WINDOW_MS = 5_000
SPOT_FUTURE_TOLERANCE_MS = 1_000  # MEXC: timestamp < serverTime + 1000
CONTRACT_WINDOW_MS = 10_000
_SIGNATURE_MARK = "&signature="


def hmac_hex(secret: str, payload: str) -> str:
    """Return the lowercase hex HMAC-SHA256 of ``payload`` under ``secret``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def spot_signature(secret: str, query: str) -> str:
    """Return the spot v3 signature of a query string (without ``&signature=``)."""
    return hmac_hex(secret, query)


def contract_signature(secret: str, api_key: str, request_time: str, payload: str) -> str:
    """Return the contract v1 signature of a sorted query string or a raw JSON body."""
    return hmac_hex(secret, api_key + request_time + payload)


def split_signed_query(raw_query: str) -> tuple[str, str]:
    """Split a raw spot query at its last ``&signature=``: (signed part, signature)."""
    if raw_query.startswith("signature="):
        return "", raw_query[len("signature=") :]
    head, mark, signature = raw_query.rpartition(_SIGNATURE_MARK)
    if not mark:
        return raw_query, ""
    return head, signature


def _closest_offset(timestamp_ms: int, now_candidates: Sequence[int]) -> int:
    """Return ``now - timestamp`` for whichever clock is closest to the timestamp."""
    return min((now - timestamp_ms for now in now_candidates), key=abs)


def verify_spot(raw_query: str, secret: str, now_candidates: Sequence[int]) -> None:
    """Check a signed spot request's signature and time window, or raise MexcError."""
    signed, signature = split_signed_query(raw_query)
    if not signature:
        raise MexcError(SPOT_BAD_SIGNATURE, "Signature for this request is not valid.")
    expected = spot_signature(secret, signed)
    if not hmac.compare_digest(expected, signature.lower()):
        raise MexcError(SPOT_BAD_SIGNATURE, "Signature for this request is not valid.")
    params = dict(parse_qsl(signed, keep_blank_values=True))
    try:
        timestamp = int(params["timestamp"])
        recv_window = int(params.get("recvWindow", SPOT_DEFAULT_RECV_WINDOW_MS))
    except (KeyError, ValueError):
        raise MexcError(
            SPOT_RECV_WINDOW,
            "Timestamp for this request is outside of the recvWindow "
            f"(timestamp={params.get('timestamp')!r}, recvWindow={params.get('recvWindow')!r}).",
        ) from None
    if recv_window > SPOT_MAX_RECV_WINDOW_MS:
        raise MexcError(
            SPOT_RECV_WINDOW_TOO_LARGE,
            f"recvWindow must less than {SPOT_MAX_RECV_WINDOW_MS} (it was {recv_window}).",
        )
    offset = _closest_offset(timestamp, now_candidates)
    if offset < -SPOT_FUTURE_TOLERANCE_MS or offset > recv_window:
        raise MexcError(
            SPOT_RECV_WINDOW,
            f"Timestamp for this request is outside of the recvWindow "
            f"(timestamp {timestamp} is {offset} ms from the server's time).",
        )


def verify_contract(
    *,
    api_key: str,
    secret: str,
    request_time: str | None,
    signature: str | None,
    payload: str,
    now_candidates: Sequence[int],
) -> None:
    """Check a contract request's ``Signature`` and ``Request-Time`` headers, or raise."""
    if not request_time or not request_time.isdigit():
        raise MexcError(
            CONTRACT_BAD_REQUEST_TIME,
            f"invalid Request-Time: a millisecond timestamp is required (found {request_time!r})",
        )
    expected = contract_signature(secret, api_key, request_time, payload)
    if not signature or not hmac.compare_digest(expected, signature.lower()):
        raise MexcError(CONTRACT_BAD_SIGNATURE, "Signature verification failed!")
    offset = _closest_offset(int(request_time), now_candidates)
    if abs(offset) > CONTRACT_WINDOW_MS:
        raise MexcError(
            CONTRACT_STALE_REQUEST,
            f"Invalid request: Request-Time is {offset} ms from the server's time "
            f"(allowed: {CONTRACT_WINDOW_MS} ms)",
        )
