"""MEXC's signatures, checked against the research doc's vectors (ccxt's and MEXC's own)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.sim.replies import MexcError
from xraybot.sim.signing import (
    contract_signature,
    split_signed_query,
    spot_signature,
    verify_contract,
    verify_spot,
)

KEY, SECRET, NONCE = "testkey", "testsecret", 1_700_000_000_000
ORDER_QUERY = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.001&price=50000&newClientOrderId=myid1"
    "&timestamp=1700000000000&recvWindow=5000"
)


def test_spot_vector_from_ccxt() -> None:
    assert spot_signature(SECRET, ORDER_QUERY) == (
        "b55cffebc4a5620ee445ca1b8892e7bdc8eb50570ab4bb7819ba6ff3c038e011"
    )


def test_spot_vector_from_mexc_docs() -> None:
    query = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000"
        "&timestamp=1644489390087"
    )
    assert spot_signature("45d0b3c26f2644f19bfb98b07741b2f5", query) == (
        "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("symbol=BTC_USDT", "1cd2ddbe1ee17ada8ea8be3bd7e31d79fc5d468c2d1b4c7125c9daeb2d89a1e5"),
        (
            '{"symbol":"BTC_USDT","vol":3.0,"type":1,"openType":2,"price":55000.0,"side":1,'
            '"externalOid":"swapcid1"}',
            "56c7647684fa7bc3a3c32c2d4a6d96fc68a936b9592f2a0d6d561c08dd63c74a",
        ),
        ('["700000001004"]', "2421b24668866518f9332409bd2b67a664b88e480b1ccc0a268fbbfb055600bb"),
    ],
)
def test_contract_vectors_from_ccxt(payload: str, expected: str) -> None:
    assert contract_signature(SECRET, KEY, str(NONCE), payload) == expected


def signed(query: str, secret: str = SECRET) -> str:
    return f"{query}&signature={spot_signature(secret, query)}"


def test_verify_spot_accepts_a_fresh_signed_query() -> None:
    verify_spot(signed(ORDER_QUERY), SECRET, [NONCE + 10])


def test_verify_spot_accepts_either_clock() -> None:
    verify_spot(signed(ORDER_QUERY), SECRET, [NONCE + 900_000, NONCE - 200])


@pytest.mark.parametrize(
    ("raw", "now", "code"),
    [
        (signed(ORDER_QUERY, "other"), NONCE, 700002),
        (ORDER_QUERY, NONCE, 700002),  # no signature at all
        (signed(ORDER_QUERY), NONCE + 5_001, 700003),  # older than recvWindow
        (signed(ORDER_QUERY), NONCE - 1_001, 700003),  # from the future
        (signed("symbol=BTCUSDT&recvWindow=5000"), NONCE, 700003),  # no timestamp
        (signed("timestamp=1700000000000&recvWindow=60001"), NONCE, 700005),
    ],
)
def test_verify_spot_refusals(raw: str, now: int, code: int) -> None:
    with pytest.raises(MexcError) as refused:
        verify_spot(raw, SECRET, [now])
    assert refused.value.code == code


def test_tampering_after_signing_is_caught() -> None:
    with pytest.raises(MexcError, match="Signature"):
        verify_spot(signed(ORDER_QUERY).replace("quantity=0.001", "quantity=1"), SECRET, [NONCE])


@given(st.text(alphabet=st.characters(blacklist_characters="&"), max_size=30))
def test_split_keeps_everything_before_the_last_signature(head: str) -> None:
    raw = f"a={head}&signature=abc"
    assert split_signed_query(raw) == (f"a={head}", "abc")


def verify(signature: str | None, request_time: str | None, now: int = NONCE) -> None:
    verify_contract(
        api_key=KEY,
        secret=SECRET,
        request_time=request_time,
        signature=signature,
        payload="symbol=BTC_USDT",
        now_candidates=[now],
    )


def test_verify_contract() -> None:
    good = "1cd2ddbe1ee17ada8ea8be3bd7e31d79fc5d468c2d1b4c7125c9daeb2d89a1e5"
    verify(good, str(NONCE))
    verify(good.upper(), str(NONCE), now=NONCE + 9_000)
    for signature, request_time, now, code in [
        ("0" * 64, str(NONCE), NONCE, 602),
        (None, str(NONCE), NONCE, 602),
        (good, str(NONCE), NONCE + 10_001, 513),
        (good, None, NONCE, 10073),
        (good, "yesterday", NONCE, 10073),
    ]:
        with pytest.raises(MexcError) as refused:
            verify(signature, request_time, now)
        assert refused.value.code == code
