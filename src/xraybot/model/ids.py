"""Deterministic client order ids (re-exported by ``orders``).

The id is derived from what caused the order (user, strategy, symbol, signal candle,
intent), so a retried or redelivered job produces the same id and the exchange, or our
lookup after a lost answer, recognises the order instead of placing it twice.
"""

from __future__ import annotations

import base64
import hashlib

from xraybot.model.errors import InvalidInputError

_CLIENT_ID_PREFIX = "xb"
_SEPARATOR = "\x1f"  # ASCII unit separator: refused inside the parts, so joins are unambiguous
CLIENT_ORDER_ID_LENGTH = 32  # MEXC swap externalOid allows 32 characters at most


def derive_client_order_id(
    user_id: str,
    strategy: str,
    symbol: str,
    signal_ts_ms: int,
    intent: str,
    leg: int = 0,
) -> str:
    """Derive the order's client id from what caused it, so a retried job reuses the id.

    The id is ``xb`` + 30 base32 characters of a BLAKE2b digest (150 bits): within every
    exchange's length and alphabet limits and, for all practical purposes, collision-free.
    """
    parts = (user_id, strategy, symbol, str(signal_ts_ms), str(intent), str(leg))
    for part in parts:
        if _SEPARATOR in part:
            raise InvalidInputError(
                f"client order id inputs must not contain the control character U+001F; "
                f"found it in {part!r}."
            )
    material = _SEPARATOR.join(parts)
    try:
        encoded_material = material.encode()
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"client order id inputs must be valid Unicode text; found {material!r}."
        ) from None
    digest = hashlib.blake2b(encoded_material, digest_size=20).digest()
    encoded = base64.b32encode(digest).decode().lower()
    return _CLIENT_ID_PREFIX + encoded[: CLIENT_ORDER_ID_LENGTH - len(_CLIENT_ID_PREFIX)]
