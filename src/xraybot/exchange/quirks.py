"""What each exchange does differently, as data: one record per exchange, no branches.

The gateway reads these records instead of testing ``if exchange == "mexc"``. MEXC's
entries come from ../shared/research/mexc-ccxt.md (tested against ccxt 4.5.90); ``sim``
is the local simulator, which speaks MEXC through the same ccxt ``mexc`` class with only
its URLs pointed at 127.0.0.1. Any other exchange ccxt knows gets a generic record built
from ccxt's own capability table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support
import ccxt.pro

from xraybot.exchange.config import DEFAULT_SIM_URL, SIM_EXCHANGE_ID
from xraybot.model.errors import InvalidInputError
from xraybot.model.signals import Side


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeQuirks:
    """How one exchange, through ccxt, departs from ccxt's unified behaviour."""

    exchange_id: str  # "mexc", "sim", "binance", ...
    ccxt_class: str  # ccxt class name: "mexc" for both mexc and sim
    uses_sim_url: bool = False  # every ccxt URL points at the local simulator
    # Market activity. MEXC's isSpotTradingAllowed is false on real BTCUSDT/ETHUSDT, so
    # ccxt's `active` would drop the majors; read the raw status/state fields instead.
    trust_ccxt_active: bool = True
    spot_status_field: str = "status"
    spot_status_active: frozenset[str] = frozenset()
    swap_state_field: str = "state"
    swap_state_active: frozenset[str] = frozenset()
    # Orders.
    create_order_returns_status: bool = True  # False: follow up with fetch_order
    swap_amount_in_contracts: bool = True  # ccxt's swap order/trade amounts are contracts
    swap_ticker_volume_in_contracts: bool = False  # True: multiply by contract size
    swap_ohlcv_volume_in_contracts: bool = False  # True: candle volume times contract size
    swap_orders_may_be_closed: bool = False
    swap_orders_closed_markers: tuple[str, ...] = ()  # text in ccxt's error message
    order_not_found_codes: frozenset[str] = frozenset()  # exchange codes ccxt leaves unmapped
    duplicate_order_codes: frozenset[str] = frozenset()  # "client order id already used"
    cancel_refused_codes: frozenset[str] = frozenset()  # unknown or finished order on cancel
    keys_refused_codes: frozenset[str] = (
        frozenset()
    )  # unknown API key, mapped by ccxt as BadRequest
    swap_side_codes: Mapping[str, Side] = field(default_factory=lambda: _frozen({}))
    swap_client_id_lookup: str | None = None  # implicit ccxt method; None: fetch_order params
    swap_client_id_lookup_params: tuple[str, str] = ("symbol", "clientOrderId")
    swap_order_params: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    swap_leverage_param: str | None = None  # create_order param carrying the leverage
    # Swap stops rest as MEXC-style plan orders (exchange.ordering_triggers); False: the
    # position monitor watches stops locally.
    swap_plan_orders: bool = False
    # set_leverage is called once per entry (MEXC: cross margin, long and short sides).
    leverage_param_sets: tuple[Mapping[str, Any], ...] = (_frozen({}),)
    # Market data.
    supports_watch_ohlcv: bool = False
    supports_watch_ticker: bool = False
    max_ohlcv_per_call: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"spot": 500, "swap": 500})
    )

    def max_ohlcv(self, kind: str) -> int:
        """Return how many candles one OHLCV request may return for a market ``kind``."""
        return int(self.max_ohlcv_per_call.get(kind, min(self.max_ohlcv_per_call.values())))


MEXC = ExchangeQuirks(
    exchange_id="mexc",
    ccxt_class="mexc",
    trust_ccxt_active=False,
    spot_status_active=frozenset({"1"}),  # 1 online, 2 pause, 3 offline; docs' "ENABLED" is stale
    swap_state_active=frozenset({"0"}),  # 0 enabled, 1 delivery, 2 completed, 3 offline, 4 pause
    create_order_returns_status=False,  # spot POST order has no status and no client id
    swap_amount_in_contracts=True,
    swap_ticker_volume_in_contracts=False,  # ccxt 4.5.90 already multiplies volume24 by size
    swap_ohlcv_volume_in_contracts=True,  # kline `vol` is contracts and ccxt passes it through
    swap_orders_may_be_closed=True,
    swap_orders_closed_markers=("Contract not allow place order", '"code":1002'),
    # -2013 spot "Order does not exist." (ccxt: generic ExchangeError); 2040 swap "order not exist".
    order_not_found_codes=frozenset({"-2013", "2040"}),
    # -2010 spot "Duplicate order sent"; 603 contract "Repeated request" (ccxt: BadRequest).
    duplicate_order_codes=frozenset({"-2010", "603"}),
    # -2011 spot "Unknown order sent" (ccxt: BadRequest); 2041 swap "order state cannot be
    # cancelled" arrives as InvalidOrder already.
    cancel_refused_codes=frozenset({"-2011", "2041"}),
    # 10072 spot "Api key info invalid": ccxt maps it to BadRequest, but the key is the problem.
    keys_refused_codes=frozenset({"10072"}),
    # 1 open long, 2 close short, 3 open short, 4 close long; ccxt maps "2" to sell, wrongly.
    swap_side_codes=_frozen({"1": Side.BUY, "2": Side.BUY, "3": Side.SELL, "4": Side.SELL}),
    swap_client_id_lookup="contractPrivateGetOrderExternalSymbolExternalOid",
    swap_client_id_lookup_params=("symbol", "external_oid"),
    swap_order_params=_frozen({"openType": 2}),  # cross margin
    swap_leverage_param="leverage",
    swap_plan_orders=True,  # planorder/place; spot has no trigger orders (research §2)
    leverage_param_sets=(
        _frozen({"openType": 2, "positionType": 1}),
        _frozen({"openType": 2, "positionType": 2}),
    ),
    supports_watch_ohlcv=True,
    supports_watch_ticker=True,
    max_ohlcv_per_call=_frozen({"spot": 500, "swap": 2000}),  # ccxt's windows
)

# The simulator speaks MEXC; it serves REST only, so market data streams by polling.
SIM = dataclasses.replace(
    MEXC,
    exchange_id=SIM_EXCHANGE_ID,
    uses_sim_url=True,
    supports_watch_ohlcv=False,
    supports_watch_ticker=False,
)

_KNOWN: Mapping[str, ExchangeQuirks] = {q.exchange_id: q for q in (MEXC, SIM)}


@cache
def quirks_for(exchange_id: str) -> ExchangeQuirks:
    """Return the quirk record for ``exchange_id``; a generic one for other ccxt exchanges."""
    known = _KNOWN.get(exchange_id)
    if known is not None:
        return known
    if exchange_id not in ccxt.exchanges:
        examples = ", ".join(["sim", "mexc", "binance", "bybit", "okx", "kucoin", "gate"])
        raise InvalidInputError(
            f"unknown exchange {exchange_id!r}; use a ccxt exchange id in lower case "
            f"(e.g. {examples}) or 'sim' for the local simulator."
        )
    has: Mapping[str, Any] = {}
    if exchange_id in ccxt.pro.exchanges:
        has = getattr(ccxt.pro, exchange_id)().has
    return ExchangeQuirks(
        exchange_id=exchange_id,
        ccxt_class=exchange_id,
        supports_watch_ohlcv=bool(has.get("watchOHLCV")),
        supports_watch_ticker=bool(has.get("watchTicker")),
    )


def client_class(exchange_id: str, *, websockets: bool = False) -> type[Any]:
    """Return the ccxt class for ``exchange_id``: ``ccxt.pro`` with websockets, else async."""
    quirks = quirks_for(exchange_id)
    if websockets and (quirks.supports_watch_ohlcv or quirks.supports_watch_ticker):
        return getattr(ccxt.pro, quirks.ccxt_class)  # type: ignore[no-any-return]
    return getattr(ccxt.async_support, quirks.ccxt_class)  # type: ignore[no-any-return]


def sim_urls(sim_url: str) -> dict[str, Any]:
    """Return ccxt ``urls['api']`` for the mexc class with every entry pointed at the sim."""
    parts = urlsplit(sim_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(
            f"sim_url must be an http:// URL such as {DEFAULT_SIM_URL}; found {sim_url!r}."
        )
    base = sim_url.rstrip("/")
    ws_base = ("wss://" if parts.scheme == "https" else "ws://") + parts.netloc
    return {
        "spot": {"public": base, "private": base},
        "spot2": {"public": base + "/open/api/v2", "private": base + "/open/api/v2"},
        "contract": {"public": base + "/api/v1/contract", "private": base + "/api/v1/private"},
        "broker": {"private": base + "/api/v3/broker"},
        "ws": {"spot": ws_base + "/ws", "swap": ws_base + "/edge"},
    }


def ccxt_config(
    exchange_id: str,
    *,
    api_key: str | None = None,
    secret: str | None = None,
    password: str | None = None,
    sim_url: str = DEFAULT_SIM_URL,
    timeout_ms: int = 10_000,
    enable_ccxt_throttle: bool = False,
) -> dict[str, Any]:
    """Return the constructor config for the ccxt client of ``exchange_id``.

    ccxt's own throttle is off unless asked for: xraybot's limiter (exchange/ratelimit.py)
    does the pacing, and both together would halve the throughput.
    """
    quirks = quirks_for(exchange_id)  # unknown ids fail here, naming the id
    config: dict[str, Any] = {
        "enableRateLimit": enable_ccxt_throttle,
        "timeout": timeout_ms,
    }
    for key, value in (("apiKey", api_key), ("secret", secret), ("password", password)):
        if value:
            config[key] = value
    if quirks.uses_sim_url:
        config["urls"] = {"api": sim_urls(sim_url)}
    return config
