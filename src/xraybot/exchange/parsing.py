"""ccxt's market dicts (markets, tickers, books, candles) turned into checked model types.

A malformed answer (a required field missing, NaN, infinity, text where a number belongs)
raises :class:`DataValidationError` naming the exchange, the symbol, the field and the
value found; never a bare ``KeyError``, ``TypeError`` or ``decimal.InvalidOperation``.
Orders, trades, positions and balances follow the same rules in account_parsing.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt
import numpy as np

from xraybot.exchange.port import OrderBook, Ticker
from xraybot.exchange.quirks import ExchangeQuirks
from xraybot.model.errors import DataValidationError, InvalidInputError
from xraybot.model.market import Market, MarketKind


class SkippedMarket(Exception):  # noqa: N818 - a signal, not an error
    """The market is of a kind xraybot does not trade (futures, options, inverse swaps)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from, for error messages: the exchange and the symbol."""

    exchange: str
    symbol: str

    def error(self, field: str, value: object, rule: str) -> DataValidationError:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return DataValidationError(
            f"{self.exchange} sent malformed data for {self.symbol}: {field} must be {rule}; "
            f"found {shown}. The answer was not used; retry, and report it if it persists."
        )

    def decimal(self, value: object, field: str) -> Decimal:
        """Return ``value`` as a finite Decimal, or raise naming the field."""
        number: Decimal | None = None
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, float):
            # repr is the shortest round-tripping text: 0.1 stays 0.1, not 0.1000000000000000055.
            number = Decimal(repr(value)) if math.isfinite(value) else None
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite():
            raise self.error(field, value, "a finite number")
        return number

    def optional_decimal(self, value: object, field: str) -> Decimal | None:
        return None if value is None else self.decimal(value, field)

    def positive(self, value: object, field: str) -> Decimal:
        number = self.decimal(value, field)
        if number <= 0:
            raise self.error(field, value, "a number > 0")
        return number

    def non_negative(self, value: object, field: str) -> Decimal:
        number = self.decimal(value, field)
        if number < 0:
            raise self.error(field, value, "a number >= 0")
        return number

    def ts_ms(self, value: object, field: str) -> int:
        number = self.decimal(value, field)
        if number < 0 or number != number.to_integral_value():
            raise self.error(field, value, "a whole, non-negative number of ms")
        return int(number)

    def price_or_none(self, value: object, field: str) -> Decimal | None:
        # Exchanges write 0 for "no price" (market orders, unfilled averages).
        number = self.optional_decimal(value, field)
        return None if number is None or number == 0 else number

    def text(self, value: object, field: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, value, "a non-empty string")
        return value

    def mapping(self, value: object, field: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(field, value, "an object")
        return value


def raw_sub(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """Return ``raw[key]`` if it is an object, else an empty one."""
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def raw_info(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the exchange's own answer ccxt keeps under ``info`` (empty if absent)."""
    return raw_sub(raw, "info")


# -- markets ------------------------------------------------------------------------------


def market_kind(raw: Mapping[str, Any]) -> MarketKind:
    """Return the market's kind, or raise SkippedMarket for kinds xraybot does not trade."""
    kind = raw.get("type")
    if kind == "spot" or (kind is None and raw.get("spot") is True):
        return MarketKind.SPOT
    if kind == "swap" or (kind is None and raw.get("swap") is True):
        if raw.get("inverse") is True or raw.get("linear") is False:
            raise SkippedMarket("inverse swap")
        return MarketKind.SWAP
    raise SkippedMarket(str(kind or "unknown"))


def tick_from_precision(src: Source, value: object, field: str, precision_mode: int) -> Decimal:
    """Return the increment ccxt's precision ``value`` stands for, in either precision mode."""
    if precision_mode == ccxt.TICK_SIZE:
        return src.positive(value, field)
    if precision_mode == ccxt.DECIMAL_PLACES:
        places = src.decimal(value, field)
        if places != places.to_integral_value():
            raise src.error(field, value, "a whole number of decimal places")
        return Decimal(1).scaleb(-int(places))
    raise SkippedMarket("significant-digits precision")


def is_active(raw: Mapping[str, Any], kind: MarketKind, quirks: ExchangeQuirks) -> bool:
    """Return whether the market trades, by the exchange's own status field where ccxt errs."""
    if quirks.trust_ccxt_active:
        return raw.get("active") is not False
    info = raw_info(raw)
    if kind is MarketKind.SPOT:
        return str(info.get(quirks.spot_status_field)) in quirks.spot_status_active
    return str(info.get(quirks.swap_state_field)) in quirks.swap_state_active


def parse_market(
    raw: Mapping[str, Any], *, exchange_id: str, quirks: ExchangeQuirks, precision_mode: int
) -> Market:
    """Return the model Market for one ccxt market dict."""
    src = Source(exchange_id, str(raw.get("symbol") or raw.get("id") or "?"))
    kind = market_kind(raw)
    symbol = src.text(raw.get("symbol"), "symbol")
    precision = src.mapping(raw.get("precision"), "precision")
    limits = raw_sub(raw, "limits")

    def limit(name: str, side: str) -> object:
        entry = limits.get(name)
        return entry.get(side) if isinstance(entry, Mapping) else None

    fields: dict[str, Any] = {
        "exchange": exchange_id,
        "symbol": symbol,
        "base": src.text(raw.get("base"), "base"),
        "quote": src.text(raw.get("quote"), "quote"),
        "kind": kind,
        "price_tick": tick_from_precision(
            src, precision.get("price"), "precision.price", precision_mode
        ),
        "amount_tick": tick_from_precision(
            src, precision.get("amount"), "precision.amount", precision_mode
        ),
        "min_amount": src.non_negative(limit("amount", "min") or 0, "limits.amount.min"),
        "min_cost": src.non_negative(limit("cost", "min") or 0, "limits.cost.min"),
        "active": is_active(raw, kind, quirks),
    }
    for field, key in (("maker_fee_rate", "maker"), ("taker_fee_rate", "taker")):
        if raw.get(key) is not None:
            fields[field] = src.decimal(raw.get(key), key)
    if kind is MarketKind.SWAP:
        fields["contract_size"] = src.positive(raw.get("contractSize"), "contractSize")
        max_leverage = limit("leverage", "max")
        if max_leverage is not None:
            fields["max_leverage"] = max(1, int(src.positive(max_leverage, "limits.leverage.max")))
    try:
        return Market(**fields)
    except InvalidInputError as e:
        raise DataValidationError(f"{exchange_id} sent a market that breaks a rule: {e}") from e


# -- market data --------------------------------------------------------------------------


def parse_ticker(
    raw: Mapping[str, Any], market: Market, quirks: ExchangeQuirks, *, now_ms: int
) -> Ticker:
    """Return the model Ticker; volumes in base units, the time the exchange's (or now)."""
    src = Source(market.exchange, market.symbol)
    last = src.positive(
        raw.get("last") if raw.get("last") is not None else raw.get("close"), "last"
    )
    base_volume = src.optional_decimal(raw.get("baseVolume"), "baseVolume")
    quote_volume = src.optional_decimal(raw.get("quoteVolume"), "quoteVolume")
    if base_volume is None and quote_volume is None:
        raise src.error("baseVolume/quoteVolume", None, "present (at least one of them)")
    swap_in_contracts = market.kind is MarketKind.SWAP and quirks.swap_ticker_volume_in_contracts
    if base_volume is not None and swap_in_contracts:
        base_volume *= market.contract_size
    if base_volume is None:
        assert quote_volume is not None
        base_volume = quote_volume / last
    if quote_volume is None:
        quote_volume = base_volume * last
    ts = raw.get("timestamp")
    return Ticker(
        symbol=market.symbol,
        ts_ms=now_ms if ts is None else src.ts_ms(ts, "timestamp"),
        last=last,
        bid=src.price_or_none(raw.get("bid"), "bid"),
        ask=src.price_or_none(raw.get("ask"), "ask"),
        base_volume_24h=base_volume,
        quote_volume_24h=quote_volume,
        change_pct_24h=src.optional_decimal(raw.get("percentage"), "percentage"),
        high_24h=src.price_or_none(raw.get("high"), "high"),
        low_24h=src.price_or_none(raw.get("low"), "low"),
    )


def parse_order_book(raw: Mapping[str, Any], market: Market, *, now_ms: int) -> OrderBook:
    """Return the model OrderBook, best levels first, (price, amount) pairs."""
    src = Source(market.exchange, market.symbol)

    def levels(side: str) -> tuple[tuple[Decimal, Decimal], ...]:
        rows = raw.get(side)
        if not isinstance(rows, Sequence) or isinstance(rows, str):
            raise src.error(side, rows, "a list of [price, amount] levels")
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 2:
                raise src.error(f"{side}[{i}]", row, "a [price, amount] pair")
            out.append(
                (
                    src.positive(row[0], f"{side}[{i}].price"),
                    src.non_negative(row[1], f"{side}[{i}].amount"),
                )
            )
        return tuple(out)

    ts = raw.get("timestamp")
    return OrderBook(
        symbol=market.symbol,
        ts_ms=now_ms if ts is None else src.ts_ms(ts, "timestamp"),
        bids=levels("bids"),
        asks=levels("asks"),
    )


def parse_ohlcv_rows(
    rows: object, market: Market, quirks: ExchangeQuirks
) -> list[tuple[int, float, float, float, float, float]]:
    """Return checked (ts_ms, open, high, low, close, volume) rows; swap volume in base units."""
    src = Source(market.exchange, market.symbol)
    if not isinstance(rows, Sequence) or isinstance(rows, str):
        raise src.error("ohlcv", rows, "a list of candles")
    to_base = (
        float(market.contract_size)
        if market.kind is MarketKind.SWAP and quirks.swap_ohlcv_volume_in_contracts
        else 1.0
    )
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) < 6:
            raise src.error(f"ohlcv[{i}]", row, "[ts, open, high, low, close, volume]")
        ts = src.ts_ms(row[0], f"ohlcv[{i}].ts")
        o, h, low, c = (
            float(src.positive(row[j], f"ohlcv[{i}].{name}"))
            for j, name in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
        )
        volume = float(src.non_negative(row[5], f"ohlcv[{i}].volume")) * to_base
        out.append((ts, o, h, low, c, volume))
    return out


def rows_to_arrays(
    rows: Sequence[tuple[int, float, float, float, float, float]],
) -> tuple[np.ndarray[Any, Any], ...]:
    """Return (ts, open, high, low, close, volume) numpy columns for Candles."""
    if not rows:
        empty = np.empty(0, dtype=np.float64)
        return (np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
    ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    values = np.array([r[1:] for r in rows], dtype=np.float64)
    return (ts, *(np.ascontiguousarray(values[:, j]) for j in range(5)))
