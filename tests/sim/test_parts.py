"""The simulator's pure parts: settings, windows, weights, books, candles, margin."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.sim.fakes import FakeMarket
from xraybot.model.errors import ConfigError
from xraybot.sim.accounts import Position
from xraybot.sim.book import depth, top_of_book
from xraybot.sim.config import FaultRates, RateLimits, SimConfig
from xraybot.sim.klines import close_ms, read, spot_window, swap_window
from xraybot.sim.limits import RateLimiter, SlidingWindow, endpoint_of, spot_weight
from xraybot.sim.market import Quote
from xraybot.sim.swap_math import liquidation_price
from xraybot.sim.venue import decimal_places, spot_tick

# -- settings --------------------------------------------------------------------------


def test_fault_spec_parses_and_round_trips() -> None:
    rates = FaultRates.parse(
        "timeout=0.02, error5xx=0.02,disconnect=0.01,lost_response=0.05,partial_fill=0.2"
    )
    assert (rates.timeout, rates.partial_fill) == (0.02, 0.2)
    assert FaultRates.parse(rates.spec()) == rates
    assert FaultRates.parse("") == FaultRates()


@pytest.mark.parametrize(
    "spec", ["timeout", "meteor=0.1", "timeout=2", "timeout=-0.1", "timeout=x"]
)
def test_bad_fault_specs_name_the_item(spec: str) -> None:
    with pytest.raises(ConfigError, match="found"):
        FaultRates.parse(spec)


def test_config_takes_a_fault_spec_and_refuses_unknown_keys() -> None:
    assert SimConfig(faults="error5xx=0.5").faults.error5xx == 0.5  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SimConfig(colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        SimConfig(demo_balances={"USDT": Decimal(-1)})
    config = SimConfig()
    assert (config.port, config.rate_limits.enabled, config.rate_limits.spot_weight) == (
        8800,
        True,
        500,
    )
    assert "sim-demo-secret" not in repr(config)


# -- rate limits -------------------------------------------------------------------------


def test_sliding_window_admits_the_budget_then_says_how_long_to_wait() -> None:
    window = SlidingWindow(budget=10, window_s=10.0)
    assert window.admit(0.0, 4) is None
    assert window.admit(1.0, 6) is None
    assert window.admit(2.0, 1) == pytest.approx(8.0)  # the weight of t=0 leaves at t=10
    assert window.admit(9.0, 5) == pytest.approx(2.0)  # needs the t=1 entry gone too
    assert window.admit(10.0, 4) is None
    assert window.admit(10.5, 11) == 10.0  # never fits


@given(st.lists(st.tuples(st.floats(0, 5), st.integers(1, 5)), max_size=60))
def test_sliding_window_never_admits_more_than_the_budget(steps: list[tuple[float, int]]) -> None:
    window = SlidingWindow(budget=12, window_s=2.0)
    now, admitted = 0.0, []
    for gap, weight in steps:
        now += gap
        if window.admit(now, weight) is None:
            admitted.append((now, weight))
            assert sum(w for t, w in admitted if t > now - 2.0) <= 12


def test_weights_and_endpoints() -> None:
    assert spot_weight("GET", "/api/v3/exchangeInfo", "") == 10
    assert spot_weight("GET", "/api/v3/ticker/24hr", "") == 40
    assert spot_weight("GET", "/api/v3/ticker/24hr", "symbol=BTCUSDT") == 1
    assert spot_weight("POST", "/api/v3/order", "symbol=BTCUSDT") == 1
    assert spot_weight("GET", "/api/v3/order", "symbol=BTCUSDT") == 2
    assert spot_weight("GET", "/api/v3/account", "") == 10
    assert endpoint_of("/api/v1/contract/kline/BTC_USDT") == "/api/v1/contract/kline/*"
    assert endpoint_of("/api/v1/private/order/get/123") == "/api/v1/private/order/get/*"
    assert endpoint_of("/api/v1/contract/ticker") == "/api/v1/contract/ticker"


def test_limiter_counts_callers_and_endpoints_apart() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimits(spot_weight=2, contract_requests=1), clock=lambda: now[0])

    def check(path: str, key: str | None = None, ip: str = "1.1.1.1") -> float | None:
        return limiter.check(method="GET", path=path, query="symbol=X", client_ip=ip, api_key=key)

    assert check("/api/v3/depth") is None
    assert check("/api/v3/depth") is None
    assert check("/api/v3/depth") is not None
    assert check("/api/v3/depth", ip="2.2.2.2") is None
    assert check("/api/v3/klines") is None
    assert check("/api/v3/depth", key="k") is None
    assert check("/api/v1/contract/ticker") is None
    assert check("/api/v1/contract/ticker") is not None
    assert check("/_sim/orders") is None
    now[0] = 10.0
    assert check("/api/v3/depth") is None
    assert (
        RateLimiter(RateLimits(enabled=False)).check(
            method="GET", path="/api/v3/depth", query="", client_ip="x", api_key=None
        )
        is None
    )


# -- book ----------------------------------------------------------------------------


def test_top_of_book_is_on_ticks_and_never_crossed() -> None:
    top = top_of_book(Quote(ts_ms=1, last=100.004, bid=100.004, ask=100.006), Decimal("0.01"))
    assert (top.bid, top.ask, top.last) == (Decimal("100.00"), Decimal("100.01"), Decimal("100.00"))
    touching = top_of_book(Quote(ts_ms=1, last=5.0, bid=5.0, ask=5.0), Decimal("0.1"))
    assert touching.bid < touching.ask


@given(st.floats(0.0001, 100_000), st.integers(1, 40))
def test_depth_levels_are_ordered_with_growing_sizes(price: float, levels: int) -> None:
    top = top_of_book(
        Quote(ts_ms=1, last=price, bid=price * 0.999, ask=price * 1.001), Decimal("0.0001")
    )
    bids, asks = depth(
        top, price_tick=Decimal("0.0001"), amount_tick=Decimal("0.01"), levels=levels
    )
    assert len(asks) == levels
    assert all(p > 0 and q > 0 for p, q in bids + asks)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(asks))
    assert all(a[0] > b[0] for a, b in itertools.pairwise(bids))
    assert all(a[1] < b[1] for a, b in itertools.pairwise(asks))
    assert not bids or bids[0][0] < asks[0][0]


def test_precision_digits() -> None:
    assert decimal_places(Decimal("0.000001")) == 6
    assert decimal_places(Decimal("1")) == 0
    assert decimal_places(Decimal("0.50")) == 1
    assert spot_tick(Decimal("0.05")) == Decimal("0.01")


def test_isolated_liquidation_price() -> None:
    position = Position(
        position_id=1,
        symbol="BTC_USDT",
        position_type=1,
        open_type=1,
        leverage=10,
        hold_vol=Decimal(100),
        open_avg_price=Decimal(50_000),
        im=Decimal(50),  # 100 * 0.0001 * 50000 / 10
        created_ms=0,
        updated_ms=0,
    )
    long = liquidation_price(
        position,
        contract_size=Decimal("0.0001"),
        maintenance_rate=Decimal("0.004"),
        available=Decimal(10_000),
        tick=Decimal("0.1"),
    )
    assert long == pytest.approx(
        Decimal(50_000) * Decimal("0.9") / Decimal("0.996"), abs=Decimal("0.1")
    )
    position.position_type = 2
    short = liquidation_price(
        position,
        contract_size=Decimal("0.0001"),
        maintenance_rate=Decimal("0.004"),
        available=Decimal(10_000),
        tick=Decimal("0.1"),
    )
    assert short == pytest.approx(
        Decimal(50_000) * Decimal("1.1") / Decimal("1.004"), abs=Decimal("0.1")
    )


# -- candles ---------------------------------------------------------------------------


def test_months_are_built_from_days_on_calendar_boundaries() -> None:
    market = FakeMarket()
    now = market.clock.now
    months = read(market, "BTCUSDT", "1M", now - 100 * 86_400_000, now + 1)
    starts = [datetime.fromtimestamp(m.ts_ms / 1000, tz=UTC) for m in months]
    assert all(s.day == 1 and s.hour == 0 for s in starts)
    assert len(months) in (3, 4)
    assert all(m.low <= min(m.open, m.close) and m.high >= max(m.open, m.close) for m in months)
    jan = int(datetime(2026, 1, 31, tzinfo=UTC).timestamp() * 1000)
    assert close_ms(jan, "1M") == int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
    assert close_ms(60_000, "1m") == 120_000


def test_spot_and_swap_windows() -> None:
    market = FakeMarket()
    now = market.clock.now  # on a whole minute
    latest = spot_window(market, "BTCUSDT", "1m", start_ms=None, end_ms=None, limit=500)
    assert (len(latest), latest[-1].ts_ms) == (500, now)
    forward = spot_window(market, "BTCUSDT", "1m", start_ms=now - 600_000, end_ms=None, limit=3)
    assert [k.ts_ms for k in forward] == [now - 600_000, now - 540_000, now - 480_000]
    back = spot_window(market, "BTCUSDT", "1m", start_ms=None, end_ms=now - 60_000, limit=2)
    assert [k.ts_ms for k in back] == [now - 180_000, now - 120_000]  # end is exclusive
    swap = swap_window(market, "BTC_USDT", "1m", start_s=None, end_s=(now - 60_000) // 1000)
    assert (len(swap), swap[-1].ts_ms) == (2000, now - 60_000)  # end is inclusive
    since = swap_window(market, "BTC_USDT", "1m", start_s=(now - 120_000) // 1000, end_s=None)
    assert [k.ts_ms for k in since] == [now - 120_000, now - 60_000, now]
