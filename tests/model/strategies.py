"""Hypothesis strategies shared by the model tests: Decimals, ticks, markets, candle series."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from xraybot.model import Market, MarketKind

# Modest example counts: the whole model suite should run in a few seconds.
FAST = settings(max_examples=60, deadline=None)
QUICK = settings(max_examples=30, deadline=None)

# Ticks seen on real exchanges are 1, 2, 5 or 25 times a power of ten; 3 and 7 are odd
# ones that make value / tick a non-terminating decimal and so exercise the rounding.
_TICK_MANTISSAS = (1, 2, 5, 25, 3, 7)


def ticks(min_exp: int = -8, max_exp: int = 2) -> st.SearchStrategy[Decimal]:
    """Positive ticks like 0.01, 5E-7, 25, 3E-4 (always a plain Decimal, exactly as written)."""
    return st.builds(
        lambda mantissa, exp: Decimal(f"{mantissa}E{exp}"),
        st.sampled_from(_TICK_MANTISSAS),
        st.integers(min_exp, max_exp),
    )


def decimals(
    min_value: Decimal | int | str = -(10**9),
    max_value: Decimal | int | str = 10**9,
    max_places: int = 10,
) -> st.SearchStrategy[Decimal]:
    """Finite Decimals with 0..max_places digits after the point, like str(float) gives."""
    return st.integers(0, max_places).flatmap(
        lambda places: st.decimals(
            min_value=Decimal(min_value),
            max_value=Decimal(max_value),
            places=places,
            allow_nan=False,
            allow_infinity=False,
        )
    )


def positive_decimals(
    max_value: Decimal | int | str = 10**7, max_places: int = 8
) -> st.SearchStrategy[Decimal]:
    smallest = Decimal(1).scaleb(-max_places)
    return decimals(smallest, max_value, max_places).filter(lambda d: d > 0)


def prices() -> st.SearchStrategy[Decimal]:
    return positive_decimals(max_value=10**6, max_places=8)


def amounts() -> st.SearchStrategy[Decimal]:
    return positive_decimals(max_value=10**6, max_places=8)


def fee_rates() -> st.SearchStrategy[Decimal]:
    return st.sampled_from(
        [Decimal(0), Decimal("0.0002"), Decimal("0.001"), Decimal("0.002"), Decimal("-0.0001")]
    )


@st.composite
def markets(draw: st.DrawFn, kind: MarketKind | None = None) -> Market:
    kind = kind if kind is not None else draw(st.sampled_from(MarketKind))
    base = draw(st.sampled_from(["BTC", "ETH", "PEPE", "SOL"]))
    quote = draw(st.sampled_from(["USDT", "USDC"]))
    amount_tick = draw(ticks(-8, 1))
    if kind is MarketKind.SWAP:
        symbol = f"{base}/{quote}:{quote}"
        contract_size = draw(st.sampled_from([Decimal(s) for s in ("0.0001", "0.01", "1", "10")]))
        max_leverage = draw(st.integers(1, 125))
    else:
        symbol = f"{base}/{quote}"
        contract_size = Decimal(1)
        max_leverage = 1
    return Market(
        exchange=draw(st.sampled_from(["mexc", "binance", "sim"])),
        symbol=symbol,
        base=base,
        quote=quote,
        kind=kind,
        price_tick=draw(ticks(-8, 1)),
        amount_tick=amount_tick,
        min_amount=amount_tick * draw(st.integers(0, 10)),
        min_cost=draw(st.sampled_from([Decimal(0), Decimal(1), Decimal(5), Decimal(10)])),
        maker_fee_rate=draw(fee_rates()),
        taker_fee_rate=draw(fee_rates()),
        contract_size=contract_size,
        max_leverage=max_leverage,
    )


TIMEFRAMES_MS = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


@st.composite
def ascending_ts(draw: st.DrawFn, timeframe_ms: int, max_size: int = 40) -> np.ndarray:
    """Strictly ascending candle open times on the timeframe grid, with random holes."""
    start = draw(st.integers(0, 10**6)) * timeframe_ms
    size = draw(st.integers(0, max_size))
    gaps = draw(st.lists(st.integers(1, 4), min_size=max(size - 1, 0), max_size=max(size - 1, 0)))
    offsets = np.cumsum(np.asarray([0, *gaps], dtype=np.int64))[:size]
    return (start + offsets * timeframe_ms).astype(np.int64)
