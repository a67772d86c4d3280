"""Swap PnL through the order manager: closed trades in base units, positions in contracts.

The simulator's BTC swap has a contract of 0.0001 BTC. A round trip journaled by the order
manager must give a Trade whose PnL is the exchange's own realized PnL for that position
(the simulator's, and the paper ledger's cash), and whose amount is contracts × contract
size, while the journal's position stays in contracts like the exchange's.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.order_manager import USER, Desk, ManualClock, no_sleep, open_desk, sqlite_config
from tests.support.sim import START_MS, admin, make_gateway, serve_sim
from xraybot.exchange.paper import PaperGateway
from xraybot.model.market import MarketKind
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType, Side
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.storage.config import StorageConfig
from xraybot.storage.memory import MemoryJournal, MemoryOrderRepository, MemoryStore
from xraybot.trading.order_manager import OrderManager

SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    # A simulator of its own: these tests move its clock, which would move the prices
    # other modules' tests see.
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig | None:
    return None if request.param == "memory" else sqlite_config(tmp_path)


def market_intent(
    symbol: str, side: Side, amount: str, kind: IntentKind, signal_ts_ms: int
) -> OrderIntent:
    return OrderIntent(
        user_id=USER,
        strategy="test",
        symbol=symbol,
        side=side,
        kind=kind,
        order_type=OrderType.MARKET,
        amount=Decimal(amount),
        signal_ts_ms=signal_ts_ms,
        reduce_only=kind is not IntentKind.OPEN and symbol == SWAP,
    )


async def round_trip(
    desk: Desk, symbol: str, direction: Direction, amount: str
) -> tuple[Decimal, Decimal, Decimal]:
    """Open, let the market move, close; return the entry and exit prices and all fees."""
    opening = market_intent(symbol, direction.entry_side, amount, IntentKind.OPEN, START_MS)
    opened = await desk.manager.submit(opening)
    assert opened.status is OrderStatus.FILLED
    admin(desk.url, "POST", "clock/advance", {"ms": 6 * HOUR_MS})
    desk.clock.advance(6 * HOUR_MS)
    exit_side = Side.SELL if direction.entry_side is Side.BUY else Side.BUY
    closing = market_intent(symbol, exit_side, amount, IntentKind.CLOSE, START_MS + 6 * HOUR_MS)
    closed = await desk.manager.submit(closing)
    assert closed.status is OrderStatus.FILLED
    assert opened.average_price is not None
    assert closed.average_price is not None
    fees = Decimal(0)
    for order in (opened, closed):
        for fill in await desk.journal.fills(order.client_order_id):
            assert fill.fee_currency == "USDT"
            fees += fill.fee
    return opened.average_price, closed.average_price, fees


def swap_profit(desk: Desk) -> Decimal:
    """The simulator's realized PnL over this account's swap deals."""
    rows = admin(desk.url, "GET", f"fills?api_key={desk.api_key}")["fills"]
    return sum((Decimal(str(r["profit"])) for r in rows if r["market"] == "swap"), Decimal(0))


@pytest.mark.parametrize("direction", [Direction.LONG, Direction.SHORT])
async def test_a_swap_round_trip_journals_pnl_in_base_units(
    sim_url: str, storage: StorageConfig | None, direction: Direction
) -> None:
    async with open_desk(sim_url, storage) as desk:
        market = await desk.gateway.market(SWAP)
        assert market.contract_size == Decimal("0.0001")
        entry, exit_, fees = await round_trip(desk, SWAP, direction, "30")
        assert entry != exit_, "the market did not move; the test proves nothing"
        [trade] = await desk.journal.trades(USER, SWAP)
        sign = 1 if direction is Direction.LONG else -1
        assert trade.direction is direction
        assert trade.amount == 30 * market.contract_size  # 0.003 BTC, not 30
        assert (trade.entry_price, trade.exit_price) == (entry, exit_)
        assert trade.gross_pnl == sign * (exit_ - entry) * 30 * market.contract_size
        assert trade.gross_pnl == swap_profit(desk)
        assert trade.fees == fees  # in USDT, entry and exit
        assert trade.return_pct == trade.net_pnl / (entry * trade.amount) * 100
        assert await desk.journal.position(USER, SWAP) is None
        assert await desk.gateway.fetch_positions([SWAP]) == []


async def test_an_open_swap_position_stays_in_contracts(
    sim_url: str, storage: StorageConfig | None
) -> None:
    async with open_desk(sim_url, storage) as desk:
        opening = market_intent(SWAP, Side.BUY, "7", IntentKind.OPEN, START_MS)
        await desk.manager.submit(opening)
        position = await desk.journal.position(USER, SWAP)
        [held] = await desk.gateway.fetch_positions([SWAP])
        assert position is not None
        assert position.amount == held.contracts == 7


async def test_a_spot_round_trip_is_in_base_units_as_before(
    sim_url: str, storage: StorageConfig | None
) -> None:
    async with open_desk(sim_url, storage) as desk:
        entry, exit_, _ = await round_trip(desk, SPOT, Direction.LONG, "0.003")
        [trade] = await desk.journal.trades(USER, SPOT)
        assert trade.amount == Decimal("0.003")
        assert trade.gross_pnl == (exit_ - entry) * Decimal("0.003")


async def test_the_paper_gateway_books_the_same_pnl_as_the_journal(sim_url: str) -> None:
    # Paper trading over the simulator's prices: the paper ledger's swap cash must move by
    # exactly the journaled trade's net PnL.
    public = make_gateway(sim_url, None, None)
    paper = PaperGateway(public, balances={"USDT": Decimal(10_000)})
    store = MemoryStore()
    journal = MemoryJournal(store)
    clock = ManualClock()
    manager = OrderManager(paper, journal, MemoryOrderRepository(store), clock, sleep=no_sleep)
    try:
        before = (await paper.fetch_balance(MarketKind.SWAP))["USDT"].total
        for kind, side, at in ((IntentKind.OPEN, Side.SELL, 0), (IntentKind.CLOSE, Side.BUY, 1)):
            if at:
                admin(sim_url, "POST", "clock/advance", {"ms": 6 * HOUR_MS})
                clock.advance(6 * HOUR_MS)
            wanted = market_intent(SWAP, side, "25", kind, START_MS + at * 6 * HOUR_MS)
            assert (await manager.submit(wanted)).status is OrderStatus.FILLED
        after = (await paper.fetch_balance(MarketKind.SWAP))["USDT"].total
        [trade] = await journal.trades(USER, SWAP)
        assert trade.amount == Decimal("0.0025")
        assert trade.exit_price != trade.entry_price
        assert after - before == trade.net_pnl
    finally:
        await paper.close()
        await public.close()
