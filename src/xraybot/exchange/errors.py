"""ccxt exceptions translated into the model error tree, in one place.

Every call into a ccxt client runs inside :func:`translating`; nothing else in the code
base catches ccxt exceptions by class. The table below is walked along the raised
exception's MRO, so the most specific ccxt class wins (``RateLimitExceeded`` is a
``NetworkError`` in ccxt, but must become a :class:`RateLimitError`, not an outage).
The original exception is always chained (``raise ... from``), and messages never carry
the user's API key, secret or password.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import ccxt

from xraybot.exchange.quirks import quirks_for
from xraybot.model import errors as model_errors
from xraybot.model.errors import XraybotError

_MASK = "***"
_SIGNED_PARAM = re.compile(r"((?:signature|listenKey)=)[^&\s\"']+", re.IGNORECASE)
_MAX_DETAIL_CHARS = 300

# ccxt class -> (model class, advice). Order does not matter: the lookup walks the MRO.
_TABLE: Mapping[type[BaseException], tuple[type[XraybotError], str]] = {
    ccxt.RateLimitExceeded: (model_errors.RateLimitError, "wait and retry with backoff"),
    ccxt.DDoSProtection: (model_errors.RateLimitError, "wait and retry with backoff"),
    ccxt.InvalidNonce: (
        model_errors.TemporaryError,
        "the request timestamp was refused; check the machine's clock (NTP) and retry",
    ),
    ccxt.OnMaintenance: (
        model_errors.ExchangeUnavailableError,
        "the exchange is under maintenance; retry later",
    ),
    ccxt.ExchangeNotAvailable: (
        model_errors.ExchangeUnavailableError,
        "the exchange did not answer properly; retry later",
    ),
    ccxt.RequestTimeout: (
        model_errors.ExchangeUnavailableError,
        "the request timed out; retry later",
    ),
    ccxt.NetworkError: (
        model_errors.ExchangeUnavailableError,
        "the network failed; retry later",
    ),
    ccxt.BadResponse: (
        model_errors.ExchangeUnavailableError,
        "the exchange sent an unreadable answer; retry later",
    ),
    ccxt.CancelPending: (model_errors.TemporaryError, "a cancel is already pending; retry"),
    ccxt.OperationFailed: (model_errors.ExchangeUnavailableError, "retry later"),
    ccxt.AuthenticationError: (
        model_errors.AuthenticationError,
        "the exchange refused the API keys or their permissions; check the keys, their "
        "permissions and IP whitelist on the exchange, then store them again",
    ),
    ccxt.InsufficientFunds: (
        model_errors.InsufficientFundsError,
        "the account cannot pay for this; lower the amount or add funds",
    ),
    ccxt.InvalidOrder: (
        model_errors.InvalidOrderError,
        "the exchange refused the order as asked; change it before sending again",
    ),
    ccxt.MarketClosed: (
        model_errors.InvalidOrderError,
        "the market is closed for trading; skip it",
    ),
    ccxt.BadSymbol: (
        model_errors.UnknownSymbolError,
        "the exchange does not list this symbol (or not for API trading); pick another",
    ),
    ccxt.BadRequest: (
        model_errors.InvalidInputError,
        "the exchange refused the request's parameters; fix them",
    ),
    ccxt.ArgumentsRequired: (
        model_errors.InvalidInputError,
        "ccxt needs more arguments for this call; fix the call",
    ),
    ccxt.NotSupported: (
        model_errors.InvalidInputError,
        "the exchange (or ccxt for it) does not support this; use another method",
    ),
    ccxt.InvalidAddress: (model_errors.InvalidInputError, "fix the address"),
    ccxt.ExchangeError: (
        model_errors.OperationalError,
        "the exchange refused the request; a human should look at the message",
    ),
    ccxt.BaseError: (
        model_errors.OperationalError,
        "ccxt failed unexpectedly; a human should look at the message",
    ),
}

# A malformed answer can make ccxt's own parsers raise plain Python errors.
_PARSE_FAILURES = (TypeError, KeyError, IndexError, ValueError, AttributeError)
# ccxt 4.5 has RateLimitExceeded beside DDoSProtection, not under it.
_THROTTLED = (ccxt.RateLimitExceeded, ccxt.DDoSProtection)
# What a call into ccxt may raise that `translate` knows how to turn into a model error.
TRANSLATABLE: tuple[type[BaseException], ...] = (ccxt.BaseError, OSError, *_PARSE_FAILURES)


def translate(
    error: BaseException,
    exchange_id: str,
    action: str,
    *,
    client: Any = None,
    retry_after_s: float | None = None,
    secrets: Iterable[str | None] = (),
) -> XraybotError:
    """Return the model error for a ccxt (or network) exception raised while doing ``action``.

    ``client``, when given, supplies the last response's ``Retry-After`` header for 429s
    and its credentials, which are masked out of the message.
    """
    if isinstance(error, XraybotError):
        return error
    masked = list(secrets)
    if retry_after_s is None:
        # The limited client stamps each 429 with its own response's Retry-After; the
        # client's last_response_headers may already belong to a concurrent request.
        stamped = getattr(error, "retry_after_s", None)
        retry_after_s = stamped if isinstance(stamped, int | float) else None
    if client is not None:
        masked += [getattr(client, name, None) for name in ("apiKey", "secret", "password")]
        if retry_after_s is None and isinstance(error, _THROTTLED):
            retry_after_s = retry_after_from_headers(getattr(client, "last_response_headers", None))
    detail = _scrub(str(error) or type(error).__name__, masked)
    target, advice = _lookup(error)
    if exchange_error_code(error) in _keys_refused_codes(exchange_id):
        target, advice = model_errors.AuthenticationError, _KEYS_ADVICE
    keyless = client is not None and not getattr(client, "apiKey", None)
    if target is model_errors.AuthenticationError and keyless:
        message = (
            f"{exchange_id} needs API keys to {action}, and none were given: {detail}. "
            "Store the user's keys, or use only public market data."
        )
    elif target is model_errors.AuthenticationError:
        # Say which call failed and what the exchange answered, but never the keys.
        message = (
            f"{exchange_id} refused the API keys while trying to {action}: {detail}. {advice}."
        )
    elif target is model_errors.RateLimitError:
        wait = f" (Retry-After {retry_after_s:g} s)" if retry_after_s is not None else ""
        message = f"{exchange_id} rate-limited the request to {action}{wait}: {detail}; {advice}."
        return model_errors.RateLimitError(message, retry_after_s=retry_after_s)
    else:
        message = f"{exchange_id} failed to {action}: {detail} ({type(error).__name__}); {advice}."
    return target(message)


_KEYS_ADVICE = "check that the key exists, is enabled and is bound to this IP"


def _keys_refused_codes(exchange_id: str) -> frozenset[str]:
    try:
        return quirks_for(exchange_id).keys_refused_codes
    except XraybotError:
        return frozenset()


def answer_may_be_lost(error: BaseException) -> bool:
    """Return whether a request that failed this way may still have been carried out.

    Timeouts, dropped connections, 5xx and unreadable answers leave an order's fate unknown;
    a 429 or a refused timestamp means the exchange turned the request away unprocessed.
    """
    if isinstance(error, (*_THROTTLED, ccxt.InvalidNonce)):
        return False
    return isinstance(error, ccxt.NetworkError | ccxt.BadResponse | OSError)


def _lookup(error: BaseException) -> tuple[type[XraybotError], str]:
    for cls in type(error).__mro__:
        found = _TABLE.get(cls)
        if found is not None:
            return found
    if isinstance(error, TimeoutError):
        return model_errors.ExchangeUnavailableError, "the request timed out; retry later"
    if isinstance(error, OSError):
        return model_errors.ExchangeUnavailableError, "the network failed; retry later"
    if isinstance(error, _PARSE_FAILURES):
        return (
            model_errors.DataValidationError,
            "ccxt could not parse the exchange's answer; it is malformed, report it if it persists",
        )
    return model_errors.OperationalError, "unexpected failure; a human should look at it"


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    # ccxt quotes failed URLs whole; a request signature is no key, but no one needs it.
    text = _SIGNED_PARAM.sub(rf"\1{_MASK}", text)
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[: _MAX_DETAIL_CHARS - 3] + "..."
    return text


def retry_after_from_headers(headers: Mapping[str, Any] | None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for, or None if absent or unreadable."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def exchange_error_code(error: BaseException) -> str | None:
    """Return the ``code`` from the JSON body ccxt quotes in its message, if there is one.

    ccxt raises unmapped exchange codes as a bare ``ExchangeError("<id> <body>")``; the
    quirks table recognises some of those codes (e.g. MEXC -2013 "Order does not exist").
    """
    text = str(error)
    start = text.find("{")
    if start < 0:
        return None
    try:
        body = json.loads(text[start:])
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("code") is None:
        return None
    return str(body["code"])


@contextmanager
def translating(
    exchange_id: str,
    action: str,
    *,
    client: Any = None,
    secrets: Iterable[str | None] = (),
) -> Iterator[None]:
    """Run a ccxt call, re-raising its failures as model errors naming ``action``."""
    try:
        yield
    except TRANSLATABLE as e:
        raise translate(e, exchange_id, action, client=client, secrets=secrets) from e
