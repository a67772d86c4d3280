"""The synthetic universe: deterministic, well-formed, internally consistent, MEXC-like."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, UnknownSymbolError
from xraybot.sim.bars import DAY_MS, HOUR_MS, MINUTE_MS, WEEK_MS, Bars, aggregate, bucket_offset
from xraybot.sim.clock import SimClock
from xraybot.sim.market import MarketData
from xraybot.sim.synthetic import HORIZON_DAYS, SyntheticMarket

NOW = 1_750_000_000_000 + 1_234_567  # mid-minute, mid-hour, mid-day
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")


def market(n: int = 40, seed: int = 7, now: int = NOW) -> SyntheticMarket:
    return SyntheticMarket(SimClock(now, speed=0), n_symbols=n, seed=seed, now_ms=now)


@pytest.fixture(scope="module")
def small() -> SyntheticMarket:
    return market()


@pytest.fixture(scope="module")
def universe() -> SyntheticMarket:
    return SyntheticMarket(SimClock(NOW, speed=0), seed=0, now_ms=NOW)


def as_bars(c: Candles) -> Bars:
    return Bars(c.ts_ms, c.open, c.high, c.low, c.close, c.volume)


def assert_well_formed(c: Candles, now: int) -> None:
    assert (c.high >= np.maximum(c.open, c.close)).all()
    assert (c.low <= np.minimum(c.open, c.close)).all()
    assert (c.low > 0).all()
    assert (np.diff(c.ts_ms) > 0).all()
    tf = c.timeframe_ms
    assert ((c.ts_ms - bucket_offset(tf)) % tf == 0).all()
    assert (c.ts_ms <= now).all()
    # Only the last candle may still be open.
    assert (c.ts_ms[:-1] + tf <= now).all()


def test_satisfies_the_port(small: SyntheticMarket) -> None:
    port: MarketData = small
    assert port.symbols()


# -- determinism -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, 39),
    timeframe=st.sampled_from(TIMEFRAMES),
    back_ms=st.integers(0, 60 * DAY_MS),
    span=st.integers(1, 300),
)
def test_same_seed_same_candles_whatever_was_asked_before(
    index: int, timeframe: str, back_ms: int, span: int
) -> None:
    first, second = market(), market()
    symbol = first.symbols()[index].spot_id
    tf = Candles.empty("X", timeframe).timeframe_ms
    start = NOW - back_ms
    end = start + span * tf
    # The second instance warms its caches on a different range first.
    second.candles(symbol, "1m", NOW - 3 * HOUR_MS, NOW)
    second.stats_24h(symbol)
    a = first.candles(symbol, timeframe, start, end)
    b = second.candles(symbol, timeframe, start, end)
    for field in ("ts_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert first.quote(symbol) == second.quote(symbol)
    assert first.stats_24h(symbol) == second.stats_24h(symbol)


def test_different_seeds_differ() -> None:
    a, b = market(seed=1), market(seed=2)
    names_a = [s.base for s in a.symbols()]
    names_b = [s.base for s in b.symbols()]
    assert names_a[:16] == names_b[:16]  # the majors
    assert names_a[16:] != names_b[16:]
    ca = a.candles("BTCUSDT", "1h", NOW - DAY_MS, NOW)
    cb = b.candles("BTCUSDT", "1h", NOW - DAY_MS, NOW)
    assert not np.array_equal(ca.close, cb.close)


def test_a_symbol_does_not_depend_on_the_universe_size() -> None:
    few, many = market(n=30), market(n=60)
    assert list(few.symbols()) == list(many.symbols())[:30]
    symbol = few.symbols()[25].spot_id
    a = few.candles(symbol, "15m", NOW - DAY_MS, NOW)
    b = many.candles(symbol, "15m", NOW - DAY_MS, NOW)
    assert np.array_equal(a.close, b.close)


def test_names_are_unique_pronounceable_usdt_pairs(universe: SyntheticMarket) -> None:
    symbols = universe.symbols()
    assert len({s.base for s in symbols}) == len(symbols) == 2600
    assert all(s.quote == "USDT" for s in symbols)
    invented = [s.base for s in symbols[16:]]
    assert all(3 <= len(b) <= 6 and b.isalpha() and b.isupper() for b in invented)


# -- well-formed and consistent ----------------------------------------------------------


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_candles_are_well_formed(small: SyntheticMarket, timeframe: str) -> None:
    for symbol in small.symbols()[::4]:
        tf = Candles.empty("X", timeframe).timeframe_ms
        c = small.candles(symbol.spot_id, timeframe, NOW - 200 * tf, NOW + 10 * tf)
        assert len(c) > 0
        assert_well_formed(c, NOW)
        if c.ts_ms[0] >= symbol.listed_ms:
            assert (np.diff(c.ts_ms) == tf).all()  # synthetic paths have no gaps


@pytest.mark.parametrize(
    ("fine", "coarse"),
    [("1m", "5m"), ("1m", "1h"), ("5m", "30m"), ("1h", "4h"), ("1h", "1d"), ("1d", "1w")],
)
def test_coarse_candles_aggregate_the_fine_ones(
    small: SyntheticMarket, fine: str, coarse: str
) -> None:
    coarse_ms = Candles.empty("X", coarse).timeframe_ms
    for symbol in small.symbols()[::5]:
        start = max(NOW - 20 * coarse_ms, symbol.listed_ms)
        start = (start // coarse_ms + 2) * coarse_ms + bucket_offset(coarse_ms)
        if start >= NOW:
            continue
        big = small.candles(symbol.spot_id, coarse, start, NOW + coarse_ms)
        built = aggregate(
            as_bars(small.candles(symbol.spot_id, fine, start, NOW + coarse_ms)), coarse_ms
        )
        assert np.array_equal(big.ts_ms, built.ts)
        for field in ("open", "high", "low", "close"):
            assert np.array_equal(getattr(big, field), getattr(built, field)), field
        assert np.allclose(big.volume, built.volume, rtol=1e-9)


def test_the_open_candle_ends_on_the_quote(small: SyntheticMarket) -> None:
    for symbol in small.symbols():
        quote = small.quote(symbol.spot_id)
        stats = small.stats_24h(symbol.spot_id)
        for timeframe in ("1m", "1h", "1d", "1w"):
            c = small.candles(symbol.spot_id, timeframe, NOW - 8 * DAY_MS, NOW + 1)
            assert c.close[-1] == quote.last
            assert c.ts_ms[-1] <= NOW < c.ts_ms[-1] + c.timeframe_ms
        assert stats.last == quote.last
        assert quote.bid < quote.ask
        assert quote.bid <= quote.last <= quote.ask
        decimals = -Decimal(symbol.price_tick).as_tuple().exponent  # type: ignore[operator]
        for price in (quote.bid, quote.ask, quote.last):
            assert round(price, decimals) == price


def test_the_open_candle_grows_inside_its_final_range() -> None:
    m = market(n=20)
    clock = m.clock
    assert isinstance(clock, SimClock)
    minute = NOW // MINUTE_MS * MINUTE_MS
    clock.advance(minute + MINUTE_MS - 1 - NOW)  # the last ms of the minute
    seen = []
    m2 = market(n=20)
    for symbol in m.symbols():
        seen.append(m.candles(symbol.spot_id, "1m", minute, minute + 1))
    m2.clock.advance(minute + MINUTE_MS - NOW)  # type: ignore[attr-defined]
    for partial, symbol in zip(seen, m2.symbols(), strict=True):
        final = m2.candles(symbol.spot_id, "1m", minute, minute + 1)
        assert final.open[0] == partial.open[0]
        assert final.low[0] <= partial.low[0] <= partial.high[0] <= final.high[0]
        assert final.volume[0] >= partial.volume[0]


@settings(max_examples=30, deadline=None)
@given(
    timeframe=st.sampled_from(TIMEFRAMES),
    start_off=st.integers(-3 * DAY_MS, 3 * DAY_MS),
    span=st.integers(0, 5 * DAY_MS),
)
def test_ranges_are_half_open_and_stop_at_now(
    small: SyntheticMarket, timeframe: str, start_off: int, span: int
) -> None:
    start = NOW + start_off
    end = start + span
    c = small.candles("ETHUSDT", timeframe, start, end)
    assert ((c.ts_ms >= start) & (c.ts_ms < end)).all()
    if len(c):
        assert_well_formed(c, NOW)
    tf = c.timeframe_ms
    open_start = (NOW - bucket_offset(tf)) // tf * tf + bucket_offset(tf)
    assert (open_start in c.ts_ms.tolist()) == (start <= open_start < end)
    # Asking exactly one candle's range returns that one candle.
    if len(c):
        one = small.candles("ETHUSDT", timeframe, int(c.ts_ms[0]), int(c.ts_ms[0]) + 1)
        assert one.ts_ms.tolist() == [c.ts_ms[0]]


def test_stats_24h_match_the_minute_candles(small: SyntheticMarket) -> None:
    for symbol in small.symbols()[::3]:
        stats = small.stats_24h(symbol.spot_id)
        minutes = small.candles(symbol.spot_id, "1m", NOW - DAY_MS, NOW + 1)
        assert stats.open_ms == NOW - DAY_MS
        assert stats.close_ms == NOW
        assert stats.open == minutes.open[0]
        assert stats.high == minutes.high.max()
        assert stats.low == minutes.low.min()
        assert stats.last == minutes.close[-1]
        assert math.isclose(stats.base_volume, float(minutes.volume.sum()), rel_tol=1e-9)
        assert stats.low * stats.base_volume <= stats.quote_volume <= stats.high * stats.base_volume


# -- a universe that looks like MEXC -----------------------------------------------------


def test_volumes_are_heavy_tailed(universe: SyntheticMarket) -> None:
    volumes = np.sort([universe.stats_24h(s.spot_id).quote_volume for s in universe.symbols()])
    top = volumes[::-1][: len(volumes) // 100]
    assert top.sum() / volumes.sum() > 0.3
    assert volumes[-1] / volumes[0] > 1e4
    assert volumes[-1] > 5e8  # BTC-like
    assert np.median(volumes) < 1e6  # a long thin tail


def test_spreads_widen_as_volume_falls(universe: SyntheticMarket) -> None:
    symbols = universe.symbols()
    order = np.argsort([universe.typical_quote_volume(s.spot_id) for s in symbols])
    spreads = np.array([s.spread_bps for s in symbols])[order]
    decile = len(symbols) // 10
    assert np.median(spreads[:decile]) > 10 * np.median(spreads[-decile:])
    assert universe.symbol("BTCUSDT").spread_bps < 2
    assert 50 <= np.median(spreads[:decile]) <= 400
    rank = np.corrcoef(np.arange(len(order)), np.argsort(np.argsort(spreads)))[0, 1]
    assert rank < -0.8


def test_listings_span_days_to_years(universe: SyntheticMarket) -> None:
    ages = np.array([NOW - s.listed_ms for s in universe.symbols()])
    assert (ages >= 0).all()
    assert ((ages < 7 * DAY_MS).sum()) >= 10
    assert (ages > 2 * 365 * DAY_MS).sum() >= 200


def test_trading_terms_follow_price_and_volume(universe: SyntheticMarket) -> None:
    symbols = universe.symbols()
    swaps = [s for s in symbols if s.has_swap]
    assert 0.10 <= len(swaps) / len(symbols) <= 0.20
    assert all(20 <= s.max_leverage <= 200 for s in swaps)
    assert all(s.max_leverage == 1 for s in symbols if not s.has_swap)
    assert universe.symbol("BTC_USDT").contract_size == Decimal("0.0001")
    assert {s.min_notional for s in symbols} == {Decimal(1), Decimal(5)}
    assert all(s.maker_fee == 0 and 0 <= s.taker_fee <= Decimal("0.0005") for s in symbols)
    for s in symbols[16::50]:
        price = universe.quote(s.spot_id).last
        assert 1e3 <= price / float(s.price_tick) <= 1e6  # about 5 significant digits
        assert price * float(s.amount_tick) <= 1.0


def test_new_listings_have_no_candles_before_listing(universe: SyntheticMarket) -> None:
    fresh = [s for s in universe.symbols() if NOW - s.listed_ms < 7 * DAY_MS][:5]
    for s in fresh:
        minutes = universe.candles(s.spot_id, "1m", s.listed_ms - DAY_MS, s.listed_ms + HOUR_MS)
        assert minutes.ts_ms[0] == s.listed_ms
        days = universe.candles(s.spot_id, "1d", s.listed_ms - 5 * DAY_MS, NOW + 1)
        assert days.ts_ms[0] == s.listed_ms // DAY_MS * DAY_MS
        assert days.open[0] == minutes.open[0]


def test_prices_jump_and_switch_regimes(universe: SyntheticMarket) -> None:
    moves = []
    for s in universe.symbols()[16:216]:
        days = universe.candles(s.spot_id, "1d", NOW - 365 * DAY_MS, NOW)
        moves.append(np.abs(np.diff(np.log(days.close))))
    returns = np.concatenate(moves)
    assert (returns > np.log(1.1)).mean() > 0.01
    # Volatility clusters: big moves follow big moves more often than chance.
    big = returns > np.quantile(returns, 0.9)
    assert (big[1:] & big[:-1]).mean() > 1.5 * big.mean() ** 2


# -- ids, the clock and bad input --------------------------------------------------------


def test_spot_and_swap_ids(small: SyntheticMarket) -> None:
    assert small.symbol("BTC_USDT") is small.symbol("BTCUSDT")
    no_swap = next(s for s in small.symbols() if not s.has_swap)
    with pytest.raises(KeyError):
        small.symbol(no_swap.swap_id)
    with pytest.raises(KeyError):
        small.symbol("NOPEUSDT")
    with pytest.raises(UnknownSymbolError, match="NOPEUSDT"):
        small.quote("NOPEUSDT")
    assert small.quote("ETH_USDT").last == small.quote("ETHUSDT").last


def test_symbols_appear_when_the_clock_reaches_their_listing(universe: SyntheticMarket) -> None:
    newest = max(universe.symbols(), key=lambda s: s.listed_ms)
    early = SyntheticMarket(SimClock(newest.listed_ms - 1, speed=0), seed=0, now_ms=NOW)
    assert newest not in early.symbols()
    with pytest.raises(KeyError):
        early.symbol(newest.spot_id)
    with pytest.raises(UnknownSymbolError, match="listed at"):
        early.quote(newest.spot_id)
    early.clock.advance(1)  # type: ignore[attr-defined]
    assert newest in early.symbols()
    assert early.quote(newest.spot_id).last > 0


def test_the_paths_end_at_the_horizon() -> None:
    m = market(n=17)
    m.clock.advance(HORIZON_DAYS * DAY_MS)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="later now_ms"):
        m.quote("BTCUSDT")


@pytest.mark.parametrize("timeframe", ["1s", "7x", "", "0m"])
def test_bad_timeframes_are_refused(small: SyntheticMarket, timeframe: str) -> None:
    with pytest.raises(InvalidInputError, match="timeframe"):
        small.candles("BTCUSDT", timeframe, NOW - DAY_MS, NOW)


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (10, -1)])
def test_bad_universe_arguments_are_refused(n: int, seed: int) -> None:
    with pytest.raises(InvalidInputError):
        SyntheticMarket(SimClock(NOW), n_symbols=n, seed=seed)


def test_caches_stay_within_their_bounds() -> None:
    m = SyntheticMarket(
        SimClock(NOW, speed=0), n_symbols=30, seed=1, now_ms=NOW,
        grid_cache=4, hour_cache=8, minute_cache=8,
    )  # fmt: skip
    for s in m.symbols():
        m.candles(s.spot_id, "1m", NOW - 3 * HOUR_MS, NOW)
        m.stats_24h(s.spot_id)
    assert len(m._grids) <= 4
    assert len(m._hours) <= 8
    assert len(m._minutes) <= 8
    again = market(n=30, seed=1)
    for s in m.symbols()[:3]:  # evicted entries come back identical
        a = m.candles(s.spot_id, "1m", NOW - 3 * HOUR_MS, NOW)
        b = again.candles(s.spot_id, "1m", NOW - 3 * HOUR_MS, NOW)
        assert np.array_equal(a.close, b.close)


def test_order_book_sits_on_the_quote(small: SyntheticMarket) -> None:
    for s in small.symbols()[::7]:
        quote = small.quote(s.spot_id)
        book = small.order_book(s.spot_id, 10)
        assert book == small.order_book(s.spot_id, 10)
        assert book.bids[0][0] == quote.bid
        assert book.asks[0][0] == quote.ask
        bids = [p for p, _ in book.bids]
        asks = [p for p, _ in book.asks]
        assert bids == sorted(bids, reverse=True)
        assert asks == sorted(asks)
        assert len(asks) == 10
        assert all(a > 0 for _, a in book.bids + book.asks)
    with pytest.raises(InvalidInputError, match="depth"):
        small.order_book("BTCUSDT", 0)


def test_weeks_open_on_monday(small: SyntheticMarket) -> None:
    weeks = small.candles("BTCUSDT", "1w", NOW - 30 * WEEK_MS, NOW)
    # 1970-01-05 was a Monday.
    assert ((weeks.ts_ms - 4 * DAY_MS) % WEEK_MS == 0).all()
