"""errors.py: every ccxt exception lands on the right branch of the model error tree."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import ccxt
import ccxt.async_support
import pytest
from ccxt.base import errors as ccxt_errors
from hypothesis import assume, given
from hypothesis import strategies as st

from xraybot.exchange.errors import (
    answer_may_be_lost,
    exchange_error_code,
    retry_after_from_headers,
    translate,
    translating,
)
from xraybot.model import errors as model

EXPECTED: list[tuple[type[BaseException], type[model.XraybotError]]] = [
    (ccxt.NetworkError, model.ExchangeUnavailableError),
    (ccxt.RequestTimeout, model.ExchangeUnavailableError),
    (ccxt.ExchangeNotAvailable, model.ExchangeUnavailableError),
    (ccxt.OnMaintenance, model.ExchangeUnavailableError),
    (ccxt.BadResponse, model.ExchangeUnavailableError),
    (ccxt.NullResponse, model.ExchangeUnavailableError),
    (ccxt.RateLimitExceeded, model.RateLimitError),
    (ccxt.DDoSProtection, model.RateLimitError),
    (ccxt.AuthenticationError, model.AuthenticationError),
    (ccxt.PermissionDenied, model.AuthenticationError),
    (ccxt.AccountSuspended, model.AuthenticationError),
    (ccxt.AccountNotEnabled, model.AuthenticationError),
    (ccxt.InsufficientFunds, model.InsufficientFundsError),
    (ccxt.InvalidOrder, model.InvalidOrderError),
    (ccxt.OrderNotFillable, model.InvalidOrderError),
    (ccxt.OrderNotFound, model.InvalidOrderError),
    (ccxt.DuplicateOrderId, model.InvalidOrderError),
    (ccxt.MarketClosed, model.InvalidOrderError),
    (ccxt.BadSymbol, model.UnknownSymbolError),
    (ccxt.BadRequest, model.InvalidInputError),
    (ccxt.ArgumentsRequired, model.InvalidInputError),
    (ccxt.NotSupported, model.InvalidInputError),
    (ccxt.InvalidNonce, model.TemporaryError),
    (ccxt.ChecksumError, model.TemporaryError),
    (ccxt.ExchangeError, model.OperationalError),
    (ccxt.OperationRejected, model.OperationalError),
    (ccxt.BaseError, model.OperationalError),
]


@pytest.mark.parametrize(("ccxt_class", "model_class"), EXPECTED, ids=lambda c: c.__name__)
def test_each_ccxt_class_maps_to_its_model_class(
    ccxt_class: type[BaseException], model_class: type[model.XraybotError]
) -> None:
    error = translate(ccxt_class("mexc boom"), "mexc", "fetch the ticker of BTC/USDT")
    assert type(error) is model_class
    assert "mexc" in str(error)
    assert "fetch the ticker of BTC/USDT" in str(error) or "BTC/USDT" in str(error)


def test_every_ccxt_exception_class_is_translated_to_a_model_error() -> None:
    classes: list[type[BaseException]] = [
        c
        for _, c in inspect.getmembers(ccxt_errors, inspect.isclass)
        if issubclass(c, BaseException) and issubclass(c, ccxt.BaseError)
    ]
    assert len(classes) > 40
    for cls in classes:
        assert isinstance(translate(cls("x"), "mexc", "do it"), model.XraybotError)


def test_retry_classes_are_temporary_and_the_rest_are_not() -> None:
    assert isinstance(translate(ccxt.RequestTimeout(), "x", "a"), model.TemporaryError)
    assert isinstance(translate(ccxt.InvalidNonce(), "x", "a"), model.TemporaryError)
    assert not isinstance(translate(ccxt.InvalidOrder(), "x", "a"), model.TemporaryError)
    assert not isinstance(translate(ccxt.AuthenticationError(), "x", "a"), model.TemporaryError)


def test_the_original_is_chained_and_the_action_named() -> None:
    original = ccxt.InsufficientFunds('mexc {"code":30004,"msg":"Insufficient position"}')
    with (
        pytest.raises(model.InsufficientFundsError) as caught,
        translating("mexc", "place buy order xb1 on BTC/USDT"),
    ):
        raise original
    assert caught.value.__cause__ is original
    assert "place buy order xb1 on BTC/USDT" in str(caught.value)
    assert "Insufficient position" in str(caught.value)


def test_model_errors_pass_through_unchanged() -> None:
    mine = model.UnknownSymbolError("no such market")
    with pytest.raises(model.UnknownSymbolError) as caught, translating("mexc", "x"):
        raise mine
    assert caught.value is mine


def test_authentication_messages_never_carry_the_keys() -> None:
    client = ccxt.async_support.mexc({"apiKey": "AKEY12345", "secret": "SSECRET6789"})
    leaked = ccxt.AuthenticationError('mexc {"msg":"bad key AKEY12345 sig SSECRET6789"}')
    error = translate(leaked, "mexc", "fetch the spot balance", client=client)
    assert isinstance(error, model.AuthenticationError)
    assert "AKEY12345" not in str(error)
    assert "SSECRET6789" not in str(error)
    assert "refused the API keys" in str(error)


@given(message=st.text(max_size=60), secret=st.text(min_size=6, max_size=12))
def test_no_translated_message_contains_a_registered_secret(message: str, secret: str) -> None:
    for cls in (ccxt.AuthenticationError, ccxt.ExchangeError, ccxt.RateLimitExceeded):
        # A "secret" that is part of our own wording (e.g. "Exchan" in "(ExchangeError)", a
        # draw the explore profile made) is not a leak: only what the message carried counts.
        wording = str(translate(cls(""), "mexc", "act"))
        assume(secret not in wording)
        error = translate(cls(message + secret + message), "mexc", "act", secrets=[secret])
        assert secret not in str(error)


def test_rate_limit_reads_retry_after_from_the_clients_last_headers() -> None:
    client = ccxt.async_support.mexc()
    client.last_response_headers = {"Retry-After": "7"}
    error = translate(ccxt.RateLimitExceeded("mexc 429"), "mexc", "fetch candles", client=client)
    assert isinstance(error, model.RateLimitError)
    assert error.retry_after_s == 7
    assert "Retry-After 7 s" in str(error)
    assert translate(ccxt.DDoSProtection("x"), "mexc", "a").retry_after_s is None  # type: ignore[attr-defined]


def test_retry_after_header_forms() -> None:
    assert retry_after_from_headers(None) is None
    assert retry_after_from_headers({"retry-after": "2.5"}) == 2.5
    assert retry_after_from_headers({"Retry-After": "-3"}) == 0
    assert retry_after_from_headers({"Retry-After": "soon"}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    waited = retry_after_from_headers({"Retry-After": later})
    assert waited is not None
    assert 20 < waited <= 30


def test_exchange_error_code_reads_the_body_ccxt_quotes() -> None:
    assert exchange_error_code(ccxt.ExchangeError('mexc {"code":-2013,"msg":"no"}')) == "-2013"
    body = '{"success":false,"code":1002,"message":"Contract not allow place order!"}'
    assert exchange_error_code(ccxt.InvalidOrder("mexc " + body)) == "1002"
    assert exchange_error_code(ccxt.ExchangeError("mexc plain text")) is None
    assert exchange_error_code(ccxt.ExchangeError("mexc {broken")) is None


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (ccxt.RequestTimeout(), True),
        (ccxt.NetworkError(), True),
        (ccxt.ExchangeNotAvailable(), True),
        (ccxt.BadResponse(), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ccxt.RateLimitExceeded(), False),
        (ccxt.DDoSProtection(), False),
        (ccxt.InvalidNonce(), False),
        (ccxt.InvalidOrder(), False),
        (ccxt.AuthenticationError(), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_which_failures_may_have_placed_the_order(error: BaseException, lost: bool) -> None:
    assert answer_may_be_lost(error) is lost


def test_network_and_parse_failures_outside_ccxt_classes() -> None:
    assert isinstance(translate(ConnectionResetError(), "x", "a"), model.ExchangeUnavailableError)
    assert isinstance(translate(TimeoutError(), "x", "a"), model.ExchangeUnavailableError)
    parse = translate(TypeError("'NoneType' object is not subscriptable"), "mexc", "a")
    assert isinstance(parse, model.DataValidationError)
    assert "malformed" in str(parse)


def test_a_keyless_private_call_says_keys_are_missing_not_refused() -> None:
    client = ccxt.async_support.mexc()
    error = translate(
        ccxt.AuthenticationError('mexc requires "apiKey" credential'),
        "mexc",
        "fetch the spot balance",
        client=client,
    )
    assert isinstance(error, model.AuthenticationError)
    assert "none were given" in str(error)


def test_request_signatures_in_quoted_urls_are_masked() -> None:
    url = "mexc GET http://h/api/v3/account?timestamp=1&recvWindow=5000&signature=41871ef6a 503"
    error = translate(ccxt.ExchangeNotAvailable(url), "mexc", "fetch the spot balance")
    assert "41871ef6a" not in str(error)
    assert "signature=***" in str(error)
