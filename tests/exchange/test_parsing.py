"""parsing.py, account_parsing.py: real MEXC answers, parsed by ccxt, become model types.

The raw answers come from ../shared/fixtures/mexc (real responses and MEXC's documented
examples); ccxt's real ``mexc`` class parses them (no network: parsing is local), and
the results must convert exactly, or be refused with a DataValidationError naming the
exchange, the symbol, the field and the value.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.exchange.account_parsing import (
    parse_balances,
    parse_order,
    parse_position,
    parse_trade,
)
from xraybot.exchange.parsing import (
    SkippedMarket,
    Source,
    parse_market,
    parse_ohlcv_rows,
    parse_order_book,
    parse_ticker,
    rows_to_arrays,
)
from xraybot.exchange.quirks import MEXC, quirks_for
from xraybot.model.errors import DataValidationError
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, Side

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "mexc"
if not FIXTURES.is_dir():  # the repo may sit elsewhere; the fixtures live beside it
    FIXTURES = Path("/work/shared/fixtures/mexc")
NOW = 1_700_000_000_000


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@cache
def ccxt_markets() -> dict[str, Any]:
    return dict(_load("ccxt-static-markets.mexc.json"))


@cache
def mexc() -> Any:
    """A real (synchronous) ccxt mexc with the fixture markets; only its parsers are used."""
    client = ccxt.mexc()
    client.set_markets(list(copy.deepcopy(ccxt_markets()).values()))
    return client


def static_case(method: str) -> Mapping[str, Any]:
    return _load("ccxt-static-response.mexc.json")["methods"][method][0]  # type: ignore[no-any-return]


def doc_example(endpoint: str) -> Any:
    for section in _load("mexc-apidocs-examples.json")["contract_v1_en"]["sections"]:
        if section["endpoint"] == endpoint:
            return section["examples"][0]["json"]
    raise LookupError(endpoint)


def market(symbol: str) -> Market:
    return parse_market(
        ccxt_markets()[symbol], exchange_id="mexc", quirks=MEXC, precision_mode=ccxt.TICK_SIZE
    )


# -- markets ------------------------------------------------------------------------------


def test_every_fixture_market_converts_with_ccxts_ticks_and_limits() -> None:
    for symbol, raw in ccxt_markets().items():
        converted = market(symbol)
        assert converted.symbol == symbol
        assert converted.price_tick == Decimal(repr(raw["precision"]["price"]))
        assert converted.amount_tick == Decimal(repr(raw["precision"]["amount"]))
        assert converted.min_cost == Decimal(repr(raw["limits"]["cost"].get("min") or 0))
        assert converted.kind is MarketKind(raw["type"])


def test_mexc_majors_are_active_although_ccxt_says_inactive() -> None:
    # Real exchangeInfo: status "1" but isSpotTradingAllowed false on BTCUSDT and ETHUSDT.
    assert ccxt_markets()["BTC/USDT"]["active"] is False
    assert market("BTC/USDT").active
    assert market("ETH/USDT").active


def test_swap_market_carries_contract_size_leverage_and_fees() -> None:
    btc = market("BTC/USDT:USDT")
    assert btc.kind is MarketKind.SWAP
    assert btc.contract_size == Decimal("0.0001")
    assert btc.max_leverage == 200
    assert btc.amount_tick == 1
    assert btc.min_amount == 1
    assert btc.taker_fee_rate == Decimal("0.0002")
    assert btc.maker_fee_rate == 0


@pytest.mark.parametrize(
    ("status", "active"), [("1", True), (1, True), ("2", False), ("3", False), ("ENABLED", False)]
)
def test_spot_activity_follows_mexc_status(status: object, active: bool) -> None:
    raw = copy.deepcopy(ccxt_markets()["BTC/USDT"])
    raw["info"]["status"] = status
    got = parse_market(raw, exchange_id="mexc", quirks=MEXC, precision_mode=ccxt.TICK_SIZE)
    assert got.active is active


@pytest.mark.parametrize(("state", "active"), [(0, True), ("0", True), (4, False), (3, False)])
def test_swap_activity_follows_mexc_state(state: object, active: bool) -> None:
    raw = copy.deepcopy(ccxt_markets()["BTC/USDT:USDT"])
    raw["info"]["state"] = state
    got = parse_market(raw, exchange_id="mexc", quirks=MEXC, precision_mode=ccxt.TICK_SIZE)
    assert got.active is active


def test_generic_exchanges_trust_ccxts_active_flag() -> None:
    raw = copy.deepcopy(ccxt_markets()["BTC/USDT"])
    generic = quirks_for("binance")
    assert not parse_market(raw, exchange_id="x", quirks=generic, precision_mode=4).active
    raw["active"] = None
    assert parse_market(raw, exchange_id="x", quirks=generic, precision_mode=4).active


def test_decimal_places_precision_becomes_a_tick() -> None:
    raw = copy.deepcopy(ccxt_markets()["BTC/USDT"])
    raw["precision"] = {"price": 2, "amount": 6.0}
    got = parse_market(raw, exchange_id="x", quirks=MEXC, precision_mode=ccxt.DECIMAL_PLACES)
    assert got.price_tick == Decimal("0.01")
    assert got.amount_tick == Decimal("0.000001")
    raw["precision"]["price"] = 2.5
    with pytest.raises(DataValidationError, match=r"precision\.price.*whole number"):
        parse_market(raw, exchange_id="x", quirks=MEXC, precision_mode=ccxt.DECIMAL_PLACES)


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"type": "future"}, "future"),
        ({"type": "option"}, "option"),
        ({"type": "swap", "linear": False, "inverse": True}, "inverse swap"),
    ],
)
def test_markets_xraybot_does_not_trade_are_skipped(changes: dict[str, Any], kind: str) -> None:
    raw = {**ccxt_markets()["BTC/USDT:USDT"], **changes}
    with pytest.raises(SkippedMarket) as caught:
        parse_market(raw, exchange_id="mexc", quirks=MEXC, precision_mode=ccxt.TICK_SIZE)
    assert caught.value.kind == kind


def test_significant_digits_precision_is_skipped_not_guessed() -> None:
    with pytest.raises(SkippedMarket):
        parse_market(
            ccxt_markets()["BTC/USDT"],
            exchange_id="x",
            quirks=MEXC,
            precision_mode=ccxt.SIGNIFICANT_DIGITS,
        )


def test_a_fee_in_percent_is_refused_as_malformed_data() -> None:
    raw = {**ccxt_markets()["BTC/USDT"], "taker": 0.2}
    with pytest.raises(DataValidationError, match=r"mexc sent a market.*taker_fee_rate"):
        parse_market(raw, exchange_id="mexc", quirks=MEXC, precision_mode=ccxt.TICK_SIZE)


# -- market data --------------------------------------------------------------------------


def test_spot_ticker_matches_ccxts_parse() -> None:
    case = static_case("fetchTicker")
    raw = mexc().parse_ticker(case["httpResponse"], mexc().market("BTC/USDT"))
    ticker = parse_ticker(raw, market("BTC/USDT"), MEXC, now_ms=NOW)
    parsed = case["parsedResponse"]
    assert ticker.last == Decimal("73397.77")
    assert ticker.bid == Decimal("73369.83")
    assert ticker.ask == Decimal("73369.84")
    assert ticker.base_volume_24h == Decimal(repr(parsed["baseVolume"]))
    assert ticker.quote_volume_24h == Decimal(repr(parsed["quoteVolume"]))
    assert ticker.change_pct_24h == Decimal("1.73")
    assert ticker.ts_ms == parsed["timestamp"]


def test_swap_ticker_volume_is_in_base_units_once() -> None:
    data = doc_example("GET /api/v1/contract/ticker")["data"]
    raw = mexc().parse_ticker(data, mexc().market("BTC/USDT:USDT"))
    ticker = parse_ticker(raw, market("BTC/USDT:USDT"), MEXC, now_ms=NOW)
    # volume24 is 40,146,908 contracts of 0.0001 BTC: ccxt converts, we must not again.
    assert ticker.base_volume_24h == Decimal("4014.6908")
    assert ticker.change_pct_24h == Decimal("-1.76")


def test_ticker_without_time_gets_now_and_missing_volume_is_derived() -> None:
    raw = {"symbol": "BTC/USDT", "last": 10.0, "baseVolume": None, "quoteVolume": 50}
    ticker = parse_ticker(raw, market("BTC/USDT"), MEXC, now_ms=NOW)
    assert ticker.ts_ms == NOW
    assert ticker.base_volume_24h == 5


def test_order_book_from_the_fixture() -> None:
    case = static_case("fetchOrderBook")
    raw = mexc().parse_order_book(case["httpResponse"], "BTC/USDT", 1704908526228)
    book = parse_order_book(raw, market("BTC/USDT"), now_ms=NOW)
    assert book.bids == ((Decimal("45995.47"), Decimal("10.337165")),)
    assert book.asks == ((Decimal("45995.48"), Decimal("13.457322")),)
    assert book.ts_ms == 1704908526228


def test_swap_order_book_keeps_price_and_amount_only() -> None:
    data = doc_example("GET /api/v1/contract/depth/{symbol}")
    raw = mexc().parse_order_book(data, "BTC/USDT:USDT", data["timestamp"])
    book = parse_order_book(raw, market("BTC/USDT:USDT"), now_ms=NOW)
    assert book.bids[0] == (Decimal("3968.4"), Decimal("179"))


def test_ohlcv_rows_from_the_fixture() -> None:
    case = static_case("fetchOHLCV")
    rows = parse_ohlcv_rows(
        [mexc().parse_ohlcv(r) for r in case["httpResponse"]], market("BTC/USDT"), MEXC
    )
    assert rows == [tuple(case["parsedResponse"][0])]
    ts, *columns = rows_to_arrays(rows)
    assert ts.dtype.name == "int64"
    assert all(c.dtype.name == "float64" for c in columns)


def test_swap_candle_volume_is_converted_to_base_units() -> None:
    data = doc_example("GET /api/v1/contract/kline/{symbol}")["data"]
    ohlcv = mexc().convert_trading_view_to_ohlcv(
        data, "time", "open", "high", "low", "close", "vol"
    )
    rows = parse_ohlcv_rows(ohlcv, market("BTC/USDT:USDT"), MEXC)
    assert rows[0][0] == 1609740600_000
    assert math.isclose(rows[0][5], 67332 * 0.0001)


# -- account ------------------------------------------------------------------------------


def test_spot_order_from_the_fixture() -> None:
    case = static_case("fetchOrders")
    raw = mexc().parse_order(case["httpResponse"][0], mexc().market("ATLAS/USDT"))
    report = parse_order(raw, market("ATLAS/USDT"), MEXC)
    assert report.exchange_order_id == "C02__385413065019117569043"
    assert report.status is OrderStatus.FILLED
    assert report.side is Side.SELL
    assert report.filled == report.amount == 1220
    assert report.average_price == Decimal("0.004542")
    assert report.client_order_id is None


def test_swap_order_side_codes_and_external_id() -> None:
    data = doc_example("GET /api/v1/private/order/external/{symbol}/{external_oid}")["data"]
    raw = mexc().parse_order(data, mexc().market("ETH/USDT:USDT"))
    assert raw["side"] == "sell"  # ccxt reads side 2 (close short) as a sell
    report = parse_order(raw, market("ETH/USDT:USDT"), MEXC)
    assert report.side is Side.BUY
    assert report.client_order_id == "_m_f95eb99b061d4eef8f64a04e9ac4dad3"
    assert report.status is OrderStatus.FILLED
    assert report.amount == 1  # contracts
    assert report.fee == Decimal("0.0072501")
    assert report.fee_currency == "USDT"


@pytest.mark.parametrize(
    ("status", "filled", "expected"),
    [
        ("open", 0, OrderStatus.OPEN),
        ("open", 1, OrderStatus.PARTIALLY_FILLED),
        ("closed", 2, OrderStatus.FILLED),
        ("canceled", 1, OrderStatus.CANCELED),
        ("rejected", 0, OrderStatus.REJECTED),
        ("expired", 0, OrderStatus.EXPIRED),
    ],
)
def test_order_statuses(status: str, filled: int, expected: OrderStatus) -> None:
    raw = {
        "id": "1",
        "status": status,
        "side": "buy",
        "amount": 2,
        "filled": filled,
        "timestamp": NOW,
    }
    assert parse_order(raw, market("BTC/USDT"), MEXC).status is expected


def test_spot_trade_from_the_fixture() -> None:
    case = static_case("fetchMyTrades")
    raw = mexc().parse_trade(case["httpResponse"][0], mexc().market("ATLAS/USDT"))
    trade = parse_trade(raw, market("ATLAS/USDT"), MEXC)
    assert trade.fill_id == "dd44f79dda764c2e927a190ac5e7a1e5"
    assert trade.exchange_order_id == "C02__385413065019117569043"
    assert trade.side is Side.SELL
    assert not trade.is_maker
    assert trade.amount == 1220
    assert trade.fee == 0
    assert trade.fee_currency == "USDT"


def test_swap_trade_amount_stays_in_contracts() -> None:
    deal = {
        "id": "9",
        "symbol": "BTC_USDT",
        "side": 4,
        "vol": 3,
        "price": 50000,
        "feeCurrency": "USDT",
        "fee": 0.09,
        "timestamp": NOW,
        "orderId": "77",
        "positionMode": 1,
        "taker": True,
    }
    raw = mexc().parse_trade(deal, mexc().market("BTC/USDT:USDT"))
    trade = parse_trade(raw, market("BTC/USDT:USDT"), MEXC)
    assert trade.amount == 3
    assert trade.side is Side.SELL  # 4: close long
    assert trade.fee == Decimal("0.09")


def test_position_from_the_docs_example() -> None:
    data = doc_example("GET /api/v1/private/position/open_positions")["data"][0]
    raw = mexc().parse_position(data, mexc().market("ETH/USDT:USDT"))
    position = parse_position(raw, market("ETH/USDT:USDT"), now_ms=NOW)
    assert position is not None
    assert position.direction is Direction.LONG
    assert position.contracts == 1
    assert position.entry_price == Decimal("1217.3")
    assert position.leverage == 100
    assert position.liquidation_price == Decimal("1211.2")
    assert position.ts_ms == 1609991676000


def test_empty_position_is_left_out() -> None:
    raw = {"contracts": 0, "side": "long", "entryPrice": 1}
    assert parse_position(raw, market("ETH/USDT:USDT"), now_ms=NOW) is None


def test_balances_from_ccxt_spot_and_swap_shapes() -> None:
    spot = mexc().custom_parse_balance(
        {"balances": [{"asset": "USDT", "free": "10.5", "locked": "2"}]}, "spot"
    )
    assert parse_balances(spot, "mexc")["USDT"].total == Decimal("12.5")
    swap = mexc().custom_parse_balance(
        {"data": [{"currency": "USDT", "availableBalance": 7, "frozenBalance": 1}]}, "swap"
    )
    assert parse_balances(swap, "mexc")["USDT"].free == 7


# -- malformed data -----------------------------------------------------------------------

BAD_NUMBERS: list[object] = [
    None,
    float("nan"),
    float("inf"),
    "abc",
    "",
    "NaN",
    "-Infinity",
    [],
    {},
    True,
]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_a_bad_last_price_names_exchange_symbol_field_and_value(value: object) -> None:
    raw = {"symbol": "BTC/USDT", "last": value, "close": None, "baseVolume": 1}
    with pytest.raises(DataValidationError) as caught:
        parse_ticker(raw, market("BTC/USDT"), MEXC, now_ms=NOW)
    message = str(caught.value)
    assert "mexc" in message
    assert "BTC/USDT" in message
    assert "last" in message
    assert repr(value)[:20] in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", None),
        ("id", {"nested": 1}),
        ("status", None),
        ("status", "weird"),
        ("side", 2),
        ("amount", None),
        ("amount", float("nan")),
        ("amount", -1.5),
        ("timestamp", None),
        ("timestamp", "x?"),
        ("filled", "lots"),
    ],
)
def test_a_bad_order_field_is_named(field: str, value: object) -> None:
    raw: dict[str, Any] = {
        "id": "1",
        "status": "open",
        "side": "buy",
        "amount": 2,
        "filled": 0,
        "timestamp": NOW,
    }
    raw[field] = value
    with pytest.raises(DataValidationError, match=field) as caught:
        parse_order(raw, market("BTC/USDT"), MEXC)
    assert repr(value)[:10] in str(caught.value)


def test_bad_candles_are_refused_with_their_index() -> None:
    rows = [[NOW, 1, 2, 0.5, 1.5, 10], [NOW + 60_000, 1, float("nan"), 0.5, 1.5, 10]]
    with pytest.raises(DataValidationError, match=r"ohlcv\[1\]\.high.*nan"):
        parse_ohlcv_rows(rows, market("BTC/USDT"), MEXC)
    with pytest.raises(DataValidationError, match=r"ohlcv\[0\]"):
        parse_ohlcv_rows([[NOW, 1, 2]], market("BTC/USDT"), MEXC)
    with pytest.raises(DataValidationError, match=r"ohlcv\[0\]\.ts"):
        parse_ohlcv_rows([[NOW + 0.5, 1, 2, 0.5, 1.5, 10]], market("BTC/USDT"), MEXC)


def test_a_market_without_precision_is_refused() -> None:
    raw = {**ccxt_markets()["BTC/USDT"], "precision": None}
    with pytest.raises(DataValidationError, match="BTC/USDT: precision must be an object"):
        parse_market(raw, exchange_id="mexc", quirks=MEXC, precision_mode=ccxt.TICK_SIZE)


def test_source_accepts_every_honest_number_spelling() -> None:
    src = Source("mexc", "BTC/USDT")
    assert src.decimal("0.1", "f") == Decimal("0.1")
    assert src.decimal(0.1, "f") == Decimal("0.1")
    assert src.decimal(3, "f") == 3
    assert src.decimal(" 2.50 ", "f") == Decimal("2.50")
    assert src.decimal(Decimal("1E-6"), "f") == Decimal("0.000001")


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.text(max_size=8),
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _mutations(base: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(sorted(base)), _junk, min_size=1).map(
        lambda changes: {**base, **changes}
    )


_TICKER = {
    "symbol": "BTC/USDT",
    "last": 10.0,
    "bid": 9.9,
    "ask": 10.1,
    "baseVolume": 5.0,
    "quoteVolume": 50.0,
    "percentage": 1.0,
    "high": 11.0,
    "low": 9.0,
    "timestamp": NOW,
}
_ORDER = {
    "id": "1",
    "status": "open",
    "side": "buy",
    "amount": 2.0,
    "filled": 1.0,
    "average": 10.0,
    "price": 10.0,
    "timestamp": NOW,
    "clientOrderId": "c",
    "fee": {"cost": 0.1, "currency": "USDT"},
}
_TRADE = {
    "id": "t",
    "order": "1",
    "side": "sell",
    "price": 10.0,
    "amount": 1.0,
    "timestamp": NOW,
    "takerOrMaker": "maker",
    "fee": {"cost": 0.1, "currency": "USDT"},
}
_POSITION = {
    "contracts": 2.0,
    "side": "short",
    "entryPrice": 100.0,
    "leverage": 5.0,
    "liquidationPrice": 150.0,
    "unrealizedPnl": -1.0,
    "timestamp": NOW,
}


@settings(max_examples=300, deadline=None)
@given(
    ticker=_mutations(_TICKER),
    order=_mutations(_ORDER),
    trade=_mutations(_TRADE),
    position=_mutations(_POSITION),
)
def test_broken_dicts_give_a_result_or_a_data_validation_error_only(
    ticker: dict[str, Any],
    order: dict[str, Any],
    trade: dict[str, Any],
    position: dict[str, Any],
) -> None:
    spot, swap = market("BTC/USDT"), market("BTC/USDT:USDT")
    attempts: list[Callable[[], object]] = [
        lambda: parse_ticker(ticker, spot, MEXC, now_ms=NOW),
        lambda: parse_order(order, spot, MEXC),
        lambda: parse_trade(trade, spot, MEXC),
        lambda: parse_position(position, swap, now_ms=NOW),
    ]
    for attempt in attempts:
        try:
            result = attempt()
        except DataValidationError as e:
            refused: DataValidationError | None = e
        else:
            refused = None
        if refused is not None:
            assert "mexc sent malformed data for BTC/USDT" in str(refused)
            continue
        for name in getattr(result, "__slots__", ()):
            value = getattr(result, name)
            if isinstance(value, Decimal):
                assert value.is_finite()


@settings(max_examples=200, deadline=None)
@given(changes=_mutations(ccxt_markets()["BTC/USDT:USDT"]))
def test_broken_markets_give_a_market_a_skip_or_a_data_validation_error(
    changes: dict[str, Any],
) -> None:
    try:
        got = parse_market(changes, exchange_id="mexc", quirks=MEXC, precision_mode=4)
    except (DataValidationError, SkippedMarket):
        return
    assert got.price_tick > 0
    assert got.amount_tick > 0
