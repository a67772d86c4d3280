"""Accounts of the simulated exchange: keys, balances, orders, fills and positions.

Plain mutable records. They are only touched from the server's event loop and every
operation on them is synchronous, so each request sees and leaves a consistent state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum

ZERO = Decimal(0)


class SpotStatus(StrEnum):
    """MEXC spot order statuses."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PARTIALLY_CANCELED = "PARTIALLY_CANCELED"


class SwapState(IntEnum):
    """MEXC contract order states (1 uninformed is never shown: orders are placed at once)."""

    UNCOMPLETED = 2
    COMPLETED = 3
    CANCELED = 4


class SwapSide(IntEnum):
    """MEXC contract order sides: open or close, long or short."""

    OPEN_LONG = 1
    CLOSE_SHORT = 2
    OPEN_SHORT = 3
    CLOSE_LONG = 4

    @property
    def is_buy(self) -> bool:
        return self in (SwapSide.OPEN_LONG, SwapSide.CLOSE_SHORT)

    @property
    def opens(self) -> bool:
        return self in (SwapSide.OPEN_LONG, SwapSide.OPEN_SHORT)

    @property
    def position_type(self) -> int:
        """1 long, 2 short: the position this side opens or closes."""
        return 1 if self in (SwapSide.OPEN_LONG, SwapSide.CLOSE_LONG) else 2


@dataclass(slots=True)
class Wallet:
    """One spot asset: free to use, or locked by open orders."""

    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass(slots=True)
class FuturesWallet:
    """The USDT futures wallet: ``cash`` holds deposits plus realized pnl minus fees."""

    cash: Decimal = ZERO
    frozen: Decimal = ZERO  # margin held for open orders that would open positions


@dataclass(slots=True, kw_only=True)
class SpotOrder:
    """A spot order as the exchange keeps it."""

    order_id: str
    client_order_id: str | None
    symbol: str
    is_buy: bool
    order_type: str  # LIMIT, MARKET, LIMIT_MAKER, IMMEDIATE_OR_CANCEL, FILL_OR_KILL
    price: Decimal | None  # the limit; None for market orders
    quantity: Decimal  # base amount asked for (computed from quoteOrderQty when given)
    quote_quantity: Decimal = ZERO  # origQuoteOrderQty
    executed: Decimal = ZERO
    quote_executed: Decimal = ZERO
    status: SpotStatus = SpotStatus.NEW
    created_ms: int
    updated_ms: int
    locked: Decimal = ZERO  # still held for the rest: quote for buys, base for sells
    armed: bool = True  # False after a partial fill until the quote stops crossing it

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in (SpotStatus.NEW, SpotStatus.PARTIALLY_FILLED)


@dataclass(slots=True, kw_only=True)
class SwapOrder:
    """A contract order as the exchange keeps it."""

    order_id: str
    external_oid: str | None
    symbol: str
    side: SwapSide
    order_type: int  # 1 limit, 2 post-only, 3 IOC, 4 FOK, 5/6 market
    open_type: int  # 1 isolated, 2 cross
    leverage: int
    price: Decimal  # the limit; for market orders the price it filled at
    vol: Decimal  # contracts
    deal_vol: Decimal = ZERO
    deal_value: Decimal = ZERO  # sum of price * contracts, for the average
    taker_fee: Decimal = ZERO
    maker_fee: Decimal = ZERO
    profit: Decimal = ZERO
    state: SwapState = SwapState.UNCOMPLETED
    frozen: Decimal = ZERO  # margin still held for the unfilled rest of an opening order
    position_id: int = 0
    position_mode: int = 1
    created_ms: int
    updated_ms: int
    armed: bool = True

    @property
    def remaining(self) -> Decimal:
        return self.vol - self.deal_vol

    @property
    def is_open(self) -> bool:
        return self.state == SwapState.UNCOMPLETED

    @property
    def average(self) -> Decimal:
        return self.deal_value / self.deal_vol if self.deal_vol else ZERO


class PlanState(IntEnum):
    """MEXC plan (trigger) order states."""

    UNTRIGGERED = 1
    CANCELED = 2
    EXECUTED = 3
    INVALID = 4
    FAILED = 5  # triggered, but the order it places was refused


@dataclass(slots=True, kw_only=True)
class PlanOrder:
    """A swap trigger order: places ``order_type`` on ``side`` when the price crosses.

    ``trigger_type`` 1 fires when the last price is at or above ``trigger_price``, 2 at or
    below; ``placed_id`` is the order it became.
    """

    order_id: str
    external_oid: str | None
    symbol: str
    side: SwapSide
    vol: Decimal
    leverage: int | None
    open_type: int
    trigger_price: Decimal
    trigger_type: int
    execute_cycle: int
    trend: int
    order_type: int  # 1 limit, 2 post-only, 3 IOC, 4 FOK, 5 market
    price: Decimal | None
    state: PlanState = PlanState.UNTRIGGERED
    error_code: int = 0
    placed_id: str | None = None
    created_ms: int
    updated_ms: int


@dataclass(slots=True, kw_only=True)
class SpotTrade:
    """One spot fill."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool


@dataclass(slots=True, kw_only=True)
class SwapDeal:
    """One contract fill."""

    deal_id: str
    order_id: str
    external_oid: str | None
    symbol: str
    side: SwapSide
    vol: Decimal
    price: Decimal
    fee: Decimal
    profit: Decimal
    time_ms: int
    is_taker: bool
    position_mode: int


@dataclass(slots=True, kw_only=True)
class Position:
    """An open (or, once in ``closed_positions``, closed) contract position."""

    position_id: int
    symbol: str
    position_type: int  # 1 long, 2 short
    open_type: int  # 1 isolated, 2 cross
    leverage: int
    hold_vol: Decimal = ZERO  # contracts
    open_avg_price: Decimal = ZERO
    im: Decimal = ZERO  # margin held by the position
    frozen_vol: Decimal = ZERO  # contracts reserved by open closing orders
    close_vol: Decimal = ZERO
    close_value: Decimal = ZERO
    realised: Decimal = ZERO
    created_ms: int
    updated_ms: int

    @property
    def is_long(self) -> bool:
        return self.position_type == 1

    @property
    def close_avg_price(self) -> Decimal:
        return self.close_value / self.close_vol if self.close_vol else ZERO


@dataclass(slots=True, kw_only=True)
class Account:
    """One API key's spot wallets, futures wallet, orders, fills and positions."""

    api_key: str
    secret: str
    spot: dict[str, Wallet] = field(default_factory=dict)
    futures: FuturesWallet = field(default_factory=FuturesWallet)
    spot_orders: dict[str, SpotOrder] = field(default_factory=dict)
    spot_client_ids: dict[str, str] = field(default_factory=dict)
    spot_trades: list[SpotTrade] = field(default_factory=list)
    resting_spot: dict[str, SpotOrder] = field(default_factory=dict)  # the open ones
    swap_orders: dict[str, SwapOrder] = field(default_factory=dict)
    swap_external_oids: dict[str, str] = field(default_factory=dict)
    swap_deals: list[SwapDeal] = field(default_factory=list)
    resting_swap: dict[str, SwapOrder] = field(default_factory=dict)  # the open ones
    plan_orders: dict[str, PlanOrder] = field(default_factory=dict)
    plan_external_oids: dict[str, str] = field(default_factory=dict)
    positions: dict[tuple[str, int], Position] = field(default_factory=dict)
    closed_positions: list[Position] = field(default_factory=list)
    leverage: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    position_mode: int = 1  # 1 hedge (MEXC's default), 2 one-way
    listen_keys: set[str] = field(default_factory=set)

    def wallet(self, asset: str) -> Wallet:
        """Return the spot wallet of ``asset``, created empty on first use."""
        wallet = self.spot.get(asset)
        if wallet is None:
            wallet = self.spot[asset] = Wallet()
        return wallet

    def open_spot_orders(self) -> list[SpotOrder]:
        """Return the spot orders still open, oldest first."""
        return list(self.resting_spot.values())

    def open_swap_orders(self) -> list[SwapOrder]:
        """Return the contract orders still open, oldest first."""
        return list(self.resting_swap.values())


class Accounts:
    """Every account by API key."""

    def __init__(self) -> None:
        self._by_key: dict[str, Account] = {}

    def create(
        self,
        *,
        api_key: str,
        secret: str,
        balances: dict[str, Decimal],
        swap_balance: Decimal,
    ) -> Account:
        """Create (or replace, starting empty) the account of ``api_key``."""
        account = Account(api_key=api_key, secret=secret)
        for asset, amount in balances.items():
            account.wallet(asset).free = amount
        account.futures.cash = swap_balance
        self._by_key[api_key] = account
        return account

    def get(self, api_key: str) -> Account | None:
        """Return the account of ``api_key``, or None."""
        return self._by_key.get(api_key)

    def all(self) -> list[Account]:
        """Return every account, in creation order."""
        return list(self._by_key.values())

    def clear(self) -> None:
        """Forget every account."""
        self._by_key.clear()
