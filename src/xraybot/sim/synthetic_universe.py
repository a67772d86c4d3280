"""Who is listed in the synthetic universe, and on which terms.

Each symbol's terms are drawn from its own generator seeded by ``(seed, index)``, so symbol
``i`` is the same whatever the universe's size. Index 0.. are the majors (real tickers at
plausible prices with MEXC's real ticks, fees, contract sizes and leverage); the rest are
invented, pronounceable USDT pairs whose 24h quote volume is lognormal (median 80k USDT,
a few with hundreds of millions, a long tail with a few thousand dollars). Spreads, volatility,
ticks, swap listings and leverage follow from price and volume the way they do on MEXC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from xraybot.sim.bars import (
    DAY_MS,
    HOUR_MS,
    amount_exponent,
    contract_size_for,
    max_leverage_for,
    power_of_ten,
    spread_bps_for_volume,
    tick_exponent,
)
from xraybot.sim.market import SimSymbol

_QUOTE = "USDT"
_MAX_AGE_DAYS = 4 * 365  # the oldest listing; the price grid reaches back this far


@dataclass(frozen=True, slots=True)
class _Major:
    base: str
    price: float
    quote_volume: float  # 24h, USDT
    daily_vol: float  # typical daily log-return standard deviation
    price_exp: int  # price tick 10**price_exp
    amount_exp: int
    contract_size: str
    taker_fee: str


# Prices and volumes of an ordinary recent day; ticks, contract sizes and fees as MEXC
# publishes them (see ../shared/fixtures/mexc/real-sample.*).
_MAJORS = (
    _Major("BTC", 64_000.0, 1.6e9, 0.027, -2, -6, "0.0001", "0.0002"),
    _Major("ETH", 3_100.0, 9.0e8, 0.035, -2, -4, "0.01", "0.0002"),
    _Major("SOL", 150.0, 4.0e8, 0.048, -2, -2, "0.1", "0.0002"),
    _Major("XRP", 0.55, 3.0e8, 0.040, -4, -1, "1", "0"),
    _Major("DOGE", 0.15, 2.5e8, 0.052, -5, 0, "100", "0.0002"),
    _Major("BNB", 580.0, 1.5e8, 0.030, -2, -3, "0.01", "0.0002"),
    _Major("PEPE", 0.000011, 1.2e8, 0.065, -10, 0, "10000000", "0.0002"),
    _Major("ADA", 0.45, 9.0e7, 0.045, -4, -1, "1", "0.0002"),
    _Major("SUI", 1.8, 8.0e7, 0.060, -4, -2, "1", "0.0002"),
    _Major("LINK", 14.0, 6.0e7, 0.045, -3, -2, "0.1", "0.0002"),
    _Major("AVAX", 32.0, 6.0e7, 0.048, -2, -2, "0.1", "0.0002"),
    _Major("TRX", 0.12, 5.0e7, 0.025, -4, 0, "10", "0.0002"),
    _Major("LTC", 80.0, 4.5e7, 0.038, -2, -3, "0.01", "0.0002"),
    _Major("SHIB", 0.000022, 4.0e7, 0.050, -9, 0, "1000", "0.0002"),
    _Major("TON", 6.0, 3.5e7, 0.045, -3, -2, "1", "0.0002"),
    _Major("DOT", 6.5, 3.0e7, 0.045, -3, -2, "1", "0.0002"),
)
_MAJOR_BASES = frozenset(m.base for m in _MAJORS)

_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "x")
_CLUSTERS = ("br", "dr", "fl", "gr", "kr", "pl", "st", "tr", "sk", "zh", "qu")
_VOWELS = ("a", "e", "i", "o", "u", "a", "o", "i", "y")
_CODAS = ("", "", "", "n", "x", "r", "k", "m", "s", "t")


@dataclass(frozen=True, slots=True)
class SymbolParams:
    """What the price paths need to know about one symbol."""

    index: int
    listed_ms: int
    ref_price: float  # price at the start of the reference day
    daily_vol: float
    quote_volume: float  # typical 24h quote volume, USDT
    band: float  # the price stays within ref_price * exp(+-band)
    jump_scale: float  # jumps are 10-40% times this
    price_decimals: int  # price tick = 10**-price_decimals
    amount_decimals: int


def _word(rng: np.random.Generator) -> str:
    syllables = int(rng.choice((1, 2, 2, 3)))
    parts: list[str] = []
    for _ in range(syllables):
        onset = _CLUSTERS if rng.random() < 0.2 else _ONSETS
        parts.append(str(rng.choice(onset)) + str(rng.choice(_VOWELS)))
    parts.append(str(rng.choice(_CODAS)))
    return "".join(parts).upper()


def _name(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        word = _word(rng)
        if 3 <= len(word) <= 6 and word not in taken:
            return word


def _listing_age_ms(rng: np.random.Generator) -> int:
    draw = rng.random()
    if draw < 0.03:  # the new-listings board: within the last week
        days = rng.uniform(0.05, 7.0)
    elif draw < 0.20:
        days = rng.uniform(7.0, 180.0)
    else:
        days = math.exp(rng.uniform(math.log(180.0), math.log(_MAX_AGE_DAYS)))
    return int(days * DAY_MS)


def _major(index: int, major: _Major, ref_day_ms: int) -> tuple[SimSymbol, SymbolParams]:
    listed_ms = ref_day_ms - _MAX_AGE_DAYS * DAY_MS
    spread = spread_bps_for_volume(major.quote_volume)
    symbol = SimSymbol(
        base=major.base,
        quote=_QUOTE,
        price_tick=power_of_ten(major.price_exp),
        amount_tick=power_of_ten(major.amount_exp),
        min_notional=Decimal(1),
        maker_fee=Decimal(0),
        taker_fee=Decimal(major.taker_fee),
        spread_bps=spread,
        listed_ms=listed_ms,
        has_swap=True,
        contract_size=Decimal(major.contract_size),
        max_leverage=200,
    )
    params = SymbolParams(
        index=index,
        listed_ms=listed_ms,
        ref_price=major.price,
        daily_vol=major.daily_vol,
        quote_volume=major.quote_volume,
        band=math.log(4.0),
        jump_scale=0.35,
        price_decimals=-major.price_exp,
        amount_decimals=-major.amount_exp,
    )
    return symbol, params


def _invented(
    seed: int, index: int, ref_day_ms: int, taken: set[str]
) -> tuple[SimSymbol, SymbolParams]:
    rng = np.random.default_rng([seed, index, 0])
    base = _name(rng, taken)
    # Lognormal around 80k USDT a day: a long tail of a few thousand, a few hundred millions.
    quote_volume = float(np.clip(8e4 * math.exp(2.1 * rng.standard_normal()), 3_000.0, 2.5e8))
    price = 10.0 ** float(np.clip(rng.normal(-1.3, 1.6), -8.5, 3.3))
    price_exp = tick_exponent(price)
    price = round(price, -price_exp)
    amount_exp = amount_exponent(price)
    listed_ms = (ref_day_ms - _listing_age_ms(rng)) // HOUR_MS * HOUR_MS
    spread = spread_bps_for_volume(quote_volume) * math.exp(0.25 * rng.standard_normal())
    swap_chance = 0.95 if quote_volume >= 3e7 else 0.6 if quote_volume >= 3e6 else 0.12
    has_swap = bool(rng.random() < swap_chance)
    daily_vol = float(np.clip(0.027 * (quote_volume / 1e9) ** -0.12, 0.03, 0.15))
    daily_vol *= math.exp(0.2 * rng.standard_normal())
    symbol = SimSymbol(
        base=base,
        quote=_QUOTE,
        price_tick=power_of_ten(price_exp),
        amount_tick=power_of_ten(amount_exp),
        min_notional=Decimal(5) if rng.random() < 0.1 else Decimal(1),
        maker_fee=Decimal(0),
        taker_fee=Decimal("0.0005"),
        spread_bps=float(min(max(spread, 1.0), 500.0)),
        listed_ms=listed_ms,
        has_swap=has_swap,
        contract_size=contract_size_for(price) if has_swap else Decimal("0.0001"),
        max_leverage=max_leverage_for(quote_volume) if has_swap else 1,
    )
    params = SymbolParams(
        index=index,
        listed_ms=listed_ms,
        ref_price=price,
        daily_vol=daily_vol,
        quote_volume=quote_volume,
        band=math.log(30.0),
        jump_scale=1.0,
        price_decimals=-price_exp,
        amount_decimals=-amount_exp,
    )
    return symbol, params


def build_universe(
    n_symbols: int, seed: int, ref_day_ms: int
) -> tuple[list[SimSymbol], list[SymbolParams]]:
    """Return the universe's symbols and path parameters, majors first."""
    symbols: list[SimSymbol] = []
    params: list[SymbolParams] = []
    taken = set(_MAJOR_BASES)
    for index in range(n_symbols):
        if index < len(_MAJORS):
            symbol, param = _major(index, _MAJORS[index], ref_day_ms)
        else:
            symbol, param = _invented(seed, index, ref_day_ms, taken)
            taken.add(symbol.base)
        symbols.append(symbol)
        params.append(param)
    return symbols, params


MAX_AGE_DAYS = _MAX_AGE_DAYS
