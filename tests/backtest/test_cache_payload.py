"""A cached result comes back bit for bit, and a damaged payload is refused with a reason."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.support.result_cache import assert_identical, flip
from xraybot.backtest.cache_payload import (
    PAYLOAD_FORMAT,
    UnusablePayloadError,
    decode_result,
    encode_result,
)
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules

H = 3_600_000
HEADER = 6  # magic + format
DIGEST = 32


def make_result(
    n: int = 48,
    *,
    symbol: str = "BTC/USDT",
    strategy: str = "cache_probe",
    params: dict[str, Any] | None = None,
    settings: BacktestSettings | None = None,
    exchange: str = "binance",
    seed: int = 0,
) -> BacktestResult:
    """A hand-built result with a few trades; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    rows = 3
    trades = TradeRecords(
        entry_ts=np.arange(rows, dtype=np.int64) * 4 * H,
        exit_ts=(np.arange(rows, dtype=np.int64) * 4 + 2) * H,
        direction=np.array([1, -1, 1], dtype=np.int8),
        entry_price=rng.uniform(90, 110, rows),
        exit_price=rng.uniform(90, 110, rows),
        amount=rng.uniform(0.1, 2, rows),
        fee=rng.uniform(0, 0.2, rows),
        funding=rng.normal(0, 0.01, rows),
        pnl=rng.normal(0, 5, rows),
        exit_reason=np.array([0, 1, 2], dtype=np.int8),
        entry_index=np.arange(rows, dtype=np.int64) * 4,
        exit_index=np.arange(rows, dtype=np.int64) * 4 + 2,
    )
    return BacktestResult(
        exchange=exchange,
        symbol=symbol,
        timeframe="1h",
        strategy=strategy,
        params={"period": 5, "level": 0.5} if params is None else params,
        settings=BacktestSettings() if settings is None else settings,
        ts_ms=np.arange(n, dtype=np.int64) * H,
        equity=10_000 + np.cumsum(rng.normal(0, 10, n)),
        exposure=rng.uniform(0, 1, n),
        trades=trades,
        close=100 + np.cumsum(rng.normal(0, 1, n)),
    )


def rewrap(body: bytes) -> bytes:
    """A payload around ``body`` with a correct header and checksum."""
    checksum = hashlib.blake2b(body, digest_size=DIGEST).digest()
    return b"XBRC" + PAYLOAD_FORMAT.to_bytes(2, "little") + checksum + body


# -- round trip ---------------------------------------------------------------------------

any_float64 = st.integers(0, 12).flatmap(
    # Every bit pattern: NaNs with payloads, -0.0, subnormals, infinities.
    lambda n: arrays(np.uint64, n).map(lambda bits: bits.view(np.float64))
)
exit_rules = st.one_of(
    st.none(),
    st.builds(
        ExitRules,
        stop_loss_pct=st.one_of(st.none(), st.floats(0.001, 0.5)),
        trailing_pct=st.one_of(st.none(), st.floats(0.001, 0.5)),
        partial_targets=st.sampled_from([(), ((0.02, 0.5),), ((0.01, 0.25), (0.03, 0.75))]),
        time_exit_candles=st.one_of(st.none(), st.integers(1, 500)),
    ),
)
backtest_settings = st.builds(
    BacktestSettings,
    equity=st.floats(1, 1e9),
    fee_rate=st.floats(0, 0.09),
    slippage_bps=st.floats(0, 999),
    stake=st.just("all"),
    exits=exit_rules,
)
param_values = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None)
@given(
    curve=any_float64,
    trade_floats=arrays(np.uint64, 3).map(lambda bits: bits.view(np.float64)),
    params=st.dictionaries(st.text(min_size=1, max_size=8), param_values, max_size=4),
    chosen=backtest_settings,
    symbol=st.text(min_size=1, max_size=20),
)
def test_a_result_round_trips_bit_for_bit(
    curve: np.ndarray,
    trade_floats: np.ndarray,
    params: dict[str, Any],
    chosen: BacktestSettings,
    symbol: str,
) -> None:
    n = curve.shape[0]
    base = make_result(n, symbol=symbol, params=params, settings=chosen)
    trades = TradeRecords(
        **{name: getattr(base.trades, name) for name in TradeRecords.__dataclass_fields__}
        | {"pnl": trade_floats, "entry_price": trade_floats[::-1].copy()}
    )
    result = BacktestResult(
        exchange=base.exchange,
        symbol=symbol,
        timeframe="1h",
        strategy=base.strategy,
        params=params,
        settings=chosen,
        ts_ms=base.ts_ms,
        equity=curve,
        exposure=curve[::-1].copy(),
        trades=trades,
        close=curve.copy(),
    )

    back = decode_result(encode_result(result))

    assert_identical(result, back)


def test_an_empty_result_round_trips() -> None:
    result = make_result(0)
    result = BacktestResult(
        **{name: getattr(result, name) for name in BacktestResult.__dataclass_fields__}
        | {"trades": TradeRecords.empty(), "close": np.empty(0, dtype=np.float64)}
    )

    assert_identical(result, decode_result(encode_result(result)))


def test_the_payload_is_compressed() -> None:
    result = make_result(20_000)
    raw = sum(getattr(result, name).nbytes for name in ("ts_ms", "equity", "exposure", "close"))

    # Random floats barely compress; the int64 timestamps do.
    assert len(encode_result(result)) < raw


# -- damaged payloads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: None, "no payload"),
        (lambda p: b"", "no payload"),
        (lambda p: p[:20], "truncated"),
        (lambda p: b"NOPE" + p[4:], "not a cached result"),
        (lambda p: p[:4] + (PAYLOAD_FORMAT + 1).to_bytes(2, "little") + p[6:], "format"),
        (lambda p: flip(p, len(p) // 2), "checksum mismatch"),
        (lambda p: p[:-10], "checksum mismatch"),
        (lambda p: p + b"\0", "checksum mismatch"),
        (lambda p: rewrap(b"not a zip archive at all"), "could not be read"),
        (lambda p: rewrap(p[HEADER + DIGEST : -40]), "could not be read"),
    ],
    ids=[
        "none",
        "empty",
        "truncated-header",
        "foreign-magic",
        "newer-format",
        "flipped-bit",
        "cut-short",
        "extra-byte",
        "not-an-archive",
        "archive-cut-with-valid-checksum",
    ],
)
def test_a_damaged_payload_is_refused_with_the_reason(damage: Any, reason: str) -> None:
    payload = encode_result(make_result())

    with pytest.raises(UnusablePayloadError, match=reason):
        decode_result(damage(payload))


def test_arrays_that_do_not_fit_together_are_refused() -> None:
    good = make_result(10)
    bad = BacktestResult(
        **{name: getattr(good, name) for name in BacktestResult.__dataclass_fields__}
        | {"equity": good.equity[:-1].copy()}
    )

    with pytest.raises(UnusablePayloadError, match="equity has shape"):
        decode_result(encode_result(bad))


def test_object_arrays_are_never_encoded() -> None:
    good = make_result(3)
    bad = BacktestResult(
        **{name: getattr(good, name) for name in BacktestResult.__dataclass_fields__}
        | {"equity": np.array([1.0, None, 2.0], dtype=object)}
    )

    with pytest.raises(InvalidInputError, match="Python objects"):
        encode_result(bad)
