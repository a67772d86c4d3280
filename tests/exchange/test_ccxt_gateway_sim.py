"""CcxtGateway end to end: the real ccxt ``mexc`` client against the local simulator.

Every port method runs on spot and swap, signed calls included, and the simulator's
injected faults (lost answers, 5xx, timeouts, 429) must surface as the model's errors,
with orders looked up by client id, never sent twice.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support
import ccxt.pro
import numpy as np
import pytest

from tests.support.sim import (
    START_MS,
    admin,
    client_for,
    make_gateway,
    make_order,
    new_account,
    serve_sim,
    sim_orders,
)
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.quirks import ccxt_config, quirks_for
from xraybot.model.errors import (
    AuthenticationError,
    ExchangeUnavailableError,
    InvalidInputError,
    InvalidOrderError,
    OrderStatusUnknownError,
    RateLimitError,
    UnknownSymbolError,
)
from xraybot.model.market import MarketKind
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, OrderType, Side
from xraybot.sim.config import RateLimits, SimConfig

MINUTE = 60_000
SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"
order = make_order


def _serve(config: SimConfig) -> Iterator[str]:
    with serve_sim(config) as url:
        yield url


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    yield from _serve(
        SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False), fault_hang_ms=3000)
    )


@pytest.fixture
def keys(sim_url: str) -> tuple[str, str]:
    return new_account(sim_url)


@pytest.fixture
async def gateway(sim_url: str, keys: tuple[str, str]) -> AsyncIterator[CcxtGateway]:
    gw = make_gateway(sim_url, *keys)
    yield gw
    await gw.close()


# -- markets and market data --------------------------------------------------------------


def test_the_gateway_has_every_port_method_with_the_ports_parameters() -> None:
    port_members = [
        name
        for name, value in vars(ExchangeGateway).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    ]
    assert len(port_members) > 10
    for name in port_members:
        ours, theirs = getattr(CcxtGateway, name), getattr(ExchangeGateway, name)
        if isinstance(theirs, property):
            assert isinstance(ours, property), name
            continue
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        ), name


async def test_markets_cover_spot_and_swap(gateway: CcxtGateway) -> None:
    markets = await gateway.markets()
    spot, swap = markets[SPOT], markets[SWAP]
    assert spot.kind is MarketKind.SPOT
    assert spot.active
    assert spot.price_tick == Decimal("0.01")
    assert spot.min_cost == 1
    assert swap.kind is MarketKind.SWAP
    assert swap.contract_size == Decimal("0.0001")
    assert swap.max_leverage == 200
    assert await gateway.markets() is markets  # loaded once


async def test_an_unknown_symbol_is_refused_before_any_request(
    gateway: CcxtGateway, sim_url: str, keys: tuple[str, str]
) -> None:
    with pytest.raises(UnknownSymbolError, match=r"'BTCUSDT'.*BTC/USDT"):
        await gateway.fetch_ticker("BTCUSDT")
    with pytest.raises(UnknownSymbolError, match="NOPE/USDT"):
        await gateway.create_order(order("NOPE/USDT", Side.BUY, "1"))
    assert sim_orders(sim_url, keys[0]) == []


async def test_time_and_tickers(gateway: CcxtGateway) -> None:
    now = await gateway.fetch_time()
    assert START_MS <= now < START_MS + 3_600_000
    spot = await gateway.fetch_ticker(SPOT)
    assert spot.symbol == SPOT
    assert spot.bid is not None
    assert spot.ask is not None
    assert spot.bid < spot.ask
    swap = await gateway.fetch_ticker(SWAP)
    assert swap.last > 0
    markets = await gateway.markets()
    all_spot = await gateway.fetch_tickers()
    assert set(all_spot) == {s for s, m in markets.items() if m.kind is MarketKind.SPOT}
    all_swap = await gateway.fetch_tickers(kind=MarketKind.SWAP)
    assert set(all_swap) == {s for s, m in markets.items() if m.kind is MarketKind.SWAP}
    # A swap ticker's volume is in base units, comparable to the spot one.
    assert all_swap[SWAP].base_volume_24h * swap.last == pytest.approx(
        all_swap[SWAP].quote_volume_24h, rel=0.5
    )
    mixed = await gateway.fetch_tickers([SPOT, "ETH/USDT", SWAP])
    assert set(mixed) == {SPOT, "ETH/USDT", SWAP}


async def test_ohlcv_pages_through_long_ranges_on_spot_and_swap(gateway: CcxtGateway) -> None:
    since = START_MS // MINUTE * MINUTE - 3 * 86_400_000
    spot = await gateway.fetch_ohlcv(SPOT, "1m", since_ms=since, until_ms=since + 1200 * MINUTE)
    assert len(spot) == 1200  # three pages of at most 500
    assert spot.ts_ms[0] == since
    assert np.all(np.diff(spot.ts_ms) == MINUTE)
    swap = await gateway.fetch_ohlcv(SWAP, "1m", since_ms=since, until_ms=since + 2500 * MINUTE)
    assert len(swap) == 2500  # two pages of at most 2000
    assert swap.ts_ms[-1] == since + 2499 * MINUTE
    # Swap candle volume arrives in contracts and leaves in base units.
    assert float(swap.volume.sum()) > 0
    hourly = await gateway.fetch_ohlcv(
        SPOT, "1h", since_ms=since // 3_600_000 * 3_600_000, limit=30
    )
    assert len(hourly) == 30
    assert np.all(np.diff(hourly.ts_ms) == 60 * MINUTE)


async def test_latest_candles_and_timeframes(gateway: CcxtGateway) -> None:
    latest = await gateway.fetch_ohlcv(SPOT, "1m", limit=5)
    assert len(latest) == 5
    assert latest.ts_ms[-1] <= await gateway.fetch_time()
    before = await gateway.fetch_ohlcv(SWAP, "5m", until_ms=START_MS, limit=700)
    assert len(before) == 700
    assert before.ts_ms[-1] < START_MS
    with pytest.raises(InvalidInputError, match="no '8h' candles"):
        await gateway.fetch_ohlcv(SPOT, "8h", limit=2)


async def test_order_books(gateway: CcxtGateway) -> None:
    for symbol in (SPOT, SWAP):
        book = await gateway.fetch_order_book(symbol, depth=5)
        assert 0 < len(book.bids) <= 5
        assert book.bids[0][0] < book.asks[0][0]
        assert book.bids[0][0] > book.bids[-1][0]


async def test_balances_spot_and_swap(gateway: CcxtGateway) -> None:
    spot = await gateway.fetch_balance()
    assert spot["USDT"].free == 10_000
    swap = await gateway.fetch_balance(MarketKind.SWAP)
    assert swap["USDT"].total == 5_000


# -- spot orders ---------------------------------------------------------------------------


async def test_spot_limit_order_lifecycle(gateway: CcxtGateway, sim_url: str) -> None:
    last = (await gateway.fetch_ticker(SPOT)).last
    off_tick = (last * Decimal("0.8")).quantize(Decimal("0.0001")) + Decimal("0.0037")
    placed = await gateway.create_order(
        order(SPOT, Side.BUY, "0.001", order_type=OrderType.LIMIT, price=str(off_tick))
    )
    assert placed.status is OrderStatus.OPEN
    assert placed.price == (off_tick // Decimal("0.01")) * Decimal("0.01")  # rounded down
    cid = placed.client_order_id
    assert cid is not None
    by_id = await gateway.fetch_order(SPOT, exchange_order_id=placed.exchange_order_id)
    by_cid = await gateway.fetch_order(SPOT, client_order_id=cid)
    assert by_id == by_cid
    assert [o.client_order_id for o in await gateway.fetch_open_orders(SPOT)] == [cid]
    assert cid in {o.client_order_id for o in await gateway.fetch_open_orders()}
    canceled = await gateway.cancel_order(SPOT, client_order_id=cid)
    assert canceled.status is OrderStatus.CANCELED
    again = await gateway.cancel_order(SPOT, exchange_order_id=placed.exchange_order_id)
    assert again.status is OrderStatus.CANCELED  # already done: reported, not refused
    assert await gateway.fetch_open_orders(SPOT) == []
    assert await gateway.fetch_order(SPOT, client_order_id="xb-never-sent") is None
    assert await gateway.fetch_order(SPOT, exchange_order_id="C02__999") is None
    with pytest.raises(InvalidOrderError, match="no order 'xb-never-sent'"):
        await gateway.cancel_order(SPOT, client_order_id="xb-never-sent")


async def test_spot_market_order_fills_and_reports_trades(gateway: CcxtGateway) -> None:
    placed = await gateway.create_order(order(SPOT, Side.BUY, "0.0012345"))
    assert placed.status is OrderStatus.FILLED
    assert placed.amount == placed.filled == Decimal("0.001234")  # rounded down to the step
    assert placed.average_price is not None
    trades = await gateway.fetch_my_trades(SPOT)
    assert [t.client_order_id for t in trades] == [placed.client_order_id]
    assert trades[0].side is Side.BUY
    assert trades[0].amount == Decimal("0.001234")
    assert trades[0].fee > 0
    assert trades[0].fee_currency == "USDT"


async def test_sizes_under_the_minimum_are_refused_before_sending(
    gateway: CcxtGateway, sim_url: str, keys: tuple[str, str]
) -> None:
    with pytest.raises(InvalidOrderError, match=r"BTC/USDT.*amount must be > 0.*found 0"):
        await gateway.create_order(order(SPOT, Side.BUY, "0.0000001"))
    with pytest.raises(
        InvalidOrderError, match=r"notional .* below the market minimum 1(\.0)? USDT"
    ):
        await gateway.create_order(
            order(SPOT, Side.BUY, "0.000002", order_type=OrderType.LIMIT, price="1000")
        )
    with pytest.raises(InvalidOrderError, match="leverage 500 exceeds the market maximum 200"):
        await gateway.create_order(order(SWAP, Side.BUY, "1", leverage=500))
    assert sim_orders(sim_url, keys[0]) == []


@pytest.mark.parametrize(("symbol", "amount"), [(SPOT, "0.001"), (SWAP, "1")])
async def test_a_repeated_client_id_returns_the_first_order(
    gateway: CcxtGateway, sim_url: str, keys: tuple[str, str], symbol: str, amount: str
) -> None:
    first = order(symbol, Side.BUY, amount)
    placed = await gateway.create_order(first)
    again = await gateway.create_order(first)
    assert again.exchange_order_id == placed.exchange_order_id
    assert len(sim_orders(sim_url, keys[0])) == 1


async def test_a_partial_fill_reports_partially_filled(gateway: CcxtGateway, sim_url: str) -> None:
    ask = (await gateway.fetch_ticker(SPOT)).ask
    assert ask is not None
    admin(sim_url, "POST", "faults", {"once": ["partial_fill"]})
    placed = await gateway.create_order(
        order(SPOT, Side.BUY, "0.002", order_type=OrderType.LIMIT, price=str(ask * 2))
    )
    assert placed.status is OrderStatus.PARTIALLY_FILLED
    assert 0 < placed.filled < placed.amount


# -- swap ----------------------------------------------------------------------------------


async def test_swap_position_lifecycle(gateway: CcxtGateway) -> None:
    await gateway.set_leverage(SWAP, 10)
    opened = await gateway.create_order(order(SWAP, Side.BUY, "3", leverage=10))
    assert opened.status is OrderStatus.FILLED
    assert opened.amount == 3  # contracts
    assert opened.side is Side.BUY
    [position] = await gateway.fetch_positions()
    assert position.symbol == SWAP
    assert position.direction is Direction.LONG
    assert position.contracts == 3
    assert position.leverage == 10
    # The mark price moves between two calls, so only the position's identity must match.
    [filtered] = await gateway.fetch_positions([SWAP])
    assert replace(filtered, unrealized_pnl=None) == replace(position, unrealized_pnl=None)
    closed = await gateway.create_order(order(SWAP, Side.SELL, "3", reduce_only=True, leverage=10))
    assert closed.status is OrderStatus.FILLED
    assert closed.side is Side.SELL  # MEXC side 4, close long
    assert await gateway.fetch_positions() == []
    trades = await gateway.fetch_my_trades(SWAP)
    assert sorted((t.side, t.amount) for t in trades) == [
        (Side.BUY, Decimal(3)),
        (Side.SELL, Decimal(3)),
    ]


async def test_swap_limit_order_cancel_by_client_id(gateway: CcxtGateway) -> None:
    last = (await gateway.fetch_ticker(SWAP)).last
    placed = await gateway.create_order(
        order(SWAP, Side.BUY, "2", order_type=OrderType.LIMIT, price=str(last * Decimal("0.7")))
    )
    assert placed.status is OrderStatus.OPEN
    cid = placed.client_order_id
    assert cid is not None
    found = await gateway.fetch_order(SWAP, client_order_id=cid)
    assert found is not None
    assert found.exchange_order_id == placed.exchange_order_id
    assert [o.client_order_id for o in await gateway.fetch_open_orders(SWAP)] == [cid]
    canceled = await gateway.cancel_order(SWAP, client_order_id=cid)
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.exchange_order_id == placed.exchange_order_id
    assert await gateway.fetch_open_orders(SWAP) == []
    assert await gateway.fetch_order(SWAP, client_order_id="xb-never") is None


async def test_leverage_is_checked_before_sending(gateway: CcxtGateway) -> None:
    with pytest.raises(InvalidInputError, match="from 1 to 200; found 201"):
        await gateway.set_leverage(SWAP, 201)
    with pytest.raises(InvalidInputError, match="spot market"):
        await gateway.set_leverage(SPOT, 2)
    with pytest.raises(InvalidInputError, match="positions exist on swap markets only"):
        await gateway.fetch_positions([SPOT])


async def test_swap_orders_closed_to_the_key_get_a_clear_message(gateway: CcxtGateway) -> None:
    # The simulator has no switch for MEXC's 1002 refusal yet: feed ccxt's own exception
    # (exactly what ccxt raises for that body) through the gateway's failure path.
    refusal = ccxt.InvalidOrder(
        'mexc {"success":false,"code":1002,"message":"Contract not allow place order!"}'
    )
    market = await gateway.market(SWAP)
    new = order(SWAP, Side.BUY, "1")
    with pytest.raises(
        InvalidOrderError, match="refuses futures \\(swap\\) orders for this API key"
    ):
        await gateway._orders._after_failed_create(refusal, new, market, "place")


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", [SPOT, SWAP])
async def test_a_lost_answer_is_recovered_by_client_id_lookup(
    gateway: CcxtGateway, sim_url: str, keys: tuple[str, str], symbol: str
) -> None:
    admin(sim_url, "POST", "faults", {"once": ["lost_response"]})
    new = order(symbol, Side.BUY, "0.001" if symbol == SPOT else "1")
    report = await gateway.create_order(new)
    assert report.client_order_id == new.client_order_id
    assert report.status is OrderStatus.FILLED
    placed = sim_orders(sim_url, keys[0])
    assert [o["client_order_id"] for o in placed] == [new.client_order_id]  # sent once


async def test_an_order_the_exchange_never_got_is_unknown_not_resent(
    gateway: CcxtGateway, sim_url: str, keys: tuple[str, str]
) -> None:
    await gateway.markets()
    admin(sim_url, "POST", "faults", {"once": ["error5xx"]})
    new = order(SPOT, Side.BUY, "0.001", order_type=OrderType.LIMIT, price="50000")
    with pytest.raises(OrderStatusUnknownError) as caught:
        await gateway.create_order(new)
    assert caught.value.client_order_id == new.client_order_id
    assert "look it up by this client id later" in str(caught.value)
    assert sim_orders(sim_url, keys[0]) == []


async def test_a_timed_out_order_is_looked_up_then_unknown(
    sim_url: str, keys: tuple[str, str]
) -> None:
    gateway = make_gateway(sim_url, *keys, timeout_ms=300)
    try:
        await gateway.markets()
        admin(sim_url, "POST", "faults", {"once": ["timeout"]})
        with pytest.raises(OrderStatusUnknownError):
            await gateway.create_order(
                order(SPOT, Side.BUY, "0.001", order_type=OrderType.LIMIT, price="50000")
            )
        assert sim_orders(sim_url, keys[0]) == []
    finally:
        await gateway.close()


@pytest.mark.parametrize("fault", ["error5xx", "timeout"])
async def test_read_failures_are_exchange_unavailable(
    sim_url: str, keys: tuple[str, str], fault: str
) -> None:
    gateway = make_gateway(sim_url, *keys, timeout_ms=300)
    try:
        await gateway.markets()
        admin(sim_url, "POST", "faults", {"once": [fault]})
        with pytest.raises(ExchangeUnavailableError, match="fetch the ticker of BTC/USDT"):
            await gateway.fetch_ticker(SPOT)
        assert (await gateway.fetch_ticker(SPOT)).last > 0  # and it passes
    finally:
        await gateway.close()


async def test_throttling_becomes_rate_limit_error_with_retry_after() -> None:
    strict = SimConfig(match_interval_ms=0, rate_limits=RateLimits(spot_weight=12))
    for url in _serve(strict):
        gateway = make_gateway(url, None, None)
        try:
            await gateway.markets()
            refused: RateLimitError | None = None
            for _ in range(20):  # 12 weight per 10 s: the 13th ticker is refused
                try:
                    await gateway.fetch_ticker(SPOT)
                except RateLimitError as e:
                    refused = e
                    break
            assert refused is not None
            assert refused.retry_after_s is not None
            assert refused.retry_after_s >= 1
            assert "fetch the ticker of BTC/USDT" in str(refused)
        finally:
            await gateway.close()


async def test_refused_keys_are_an_authentication_error_without_the_keys(sim_url: str) -> None:
    key, _ = new_account(sim_url)
    gateway = make_gateway(sim_url, key, "wrong-secret-123")
    try:
        with pytest.raises(AuthenticationError) as caught:
            await gateway.fetch_balance()
        assert "wrong-secret-123" not in str(caught.value)
        assert key not in str(caught.value)
        assert "refused the API keys" in str(caught.value)
    finally:
        await gateway.close()


# -- sharing and streams -------------------------------------------------------------------


async def test_a_private_gateway_can_borrow_loaded_markets(
    sim_url: str, keys: tuple[str, str]
) -> None:
    public = make_gateway(sim_url, None, None)
    markets_source = public._client  # the pool's shared public client plays this role
    await markets_source.load_markets()

    async def shared() -> Any:
        return markets_source.markets

    client = client_for(sim_url, *keys)
    private = CcxtGateway(client, quirks_for("sim"), markets_loader=shared)
    try:
        assert SPOT in await private.markets()
        assert (await private.fetch_balance())["USDT"].free == 10_000
    finally:
        await private.close()
        await public.close()


async def test_streams_poll_on_the_simulator(gateway: CcxtGateway) -> None:
    assert not gateway.has_websockets
    seen = []
    async for ticker in gateway.stream_ticker(SPOT, interval_s=0.01):
        seen.append(ticker)
        if len(seen) == 2:
            break
    assert [t.symbol for t in seen] == [SPOT, SPOT]
    async for candles in gateway.stream_ohlcv(SWAP, "1m", interval_s=0.01, limit=3):
        assert len(candles) == 3
        break
    with pytest.raises(InvalidInputError, match="stream_ticker"):
        await gateway.watch_ticker(SPOT)


async def test_a_dropped_connection_on_create_is_never_a_second_order(
    gateway: CcxtGateway, sim_url: str, keys: tuple[str, str]
) -> None:
    await gateway.markets()
    admin(sim_url, "POST", "faults", {"once": ["disconnect"]})
    new = order(SPOT, Side.BUY, "0.001", order_type=OrderType.LIMIT, price="50000")
    # The connection drops before the simulator reads the request: nothing was placed.
    with pytest.raises(OrderStatusUnknownError) as caught:
        await gateway.create_order(new)
    assert caught.value.client_order_id == new.client_order_id
    assert sim_orders(sim_url, keys[0]) == []


async def _doctored_gateway(sim_url: str, keys: tuple[str, str], doctor: Any) -> CcxtGateway:
    """A private gateway whose shared markets were altered by ``doctor`` before use."""
    source = client_for(sim_url, None, None)
    try:
        markets = copy.deepcopy(await source.load_markets())
    finally:
        await source.close()
    doctor(markets)

    async def shared() -> Any:
        return markets

    return CcxtGateway(client_for(sim_url, *keys), quirks_for("sim"), markets_loader=shared)


async def test_a_market_that_is_not_trading_is_refused_before_sending(
    sim_url: str, keys: tuple[str, str]
) -> None:
    def pause(markets: dict[str, Any]) -> None:
        markets[SPOT]["info"]["status"] = "2"  # MEXC: 2 pause

    gateway = await _doctored_gateway(sim_url, keys, pause)
    try:
        assert not (await gateway.market(SPOT)).active
        with pytest.raises(InvalidOrderError, match="not trading"):
            await gateway.create_order(order(SPOT, Side.BUY, "0.001"))
        assert sim_orders(sim_url, keys[0]) == []
    finally:
        await gateway.close()


async def test_one_malformed_market_is_refused_without_losing_the_others(
    sim_url: str, keys: tuple[str, str]
) -> None:
    def break_eth(markets: dict[str, Any]) -> None:
        markets["ETH/USDT"]["precision"]["price"] = float("nan")

    gateway = await _doctored_gateway(sim_url, keys, break_eth)
    try:
        markets = await gateway.markets()
        assert "ETH/USDT" not in markets
        assert SPOT in markets
        with pytest.raises(UnknownSymbolError, match=r"ETH/USDT.*precision\.price.*nan"):
            await gateway.fetch_ticker("ETH/USDT")
    finally:
        await gateway.close()


async def test_a_ccxt_pro_client_streams_over_websockets_where_mexc_has_them() -> None:
    client = ccxt.pro.mexc(ccxt_config("mexc"))  # never connects in this test
    try:
        assert CcxtGateway(client, quirks_for("mexc")).has_websockets
        assert not CcxtGateway(client, quirks_for("sim")).has_websockets
    finally:
        await client.close()


async def test_an_unknown_api_key_is_an_authentication_error(sim_url: str) -> None:
    # MEXC answers 10072 "Api key info invalid", which ccxt maps to BadRequest.
    gateway = make_gateway(sim_url, "key-that-does-not-exist", "some-secret-456")
    try:
        with pytest.raises(AuthenticationError) as caught:
            await gateway.fetch_balance()
        assert "some-secret-456" not in str(caught.value)
        assert "key-that-does-not-exist" not in str(caught.value)
    finally:
        await gateway.close()
