"""One user's account as the risk layer sees it live: the protection chain and the marks.

The portfolio kernel (``backtest.portfolio_kernel``, ``backtest.kernel_risk``) keeps one
protection state per account and feeds it every closed trade (``record_exit``: its pnl
against the account value right after it) and the account's marked equity at every close
(``record_equity``); it judges entries against the whole account, every open position marked
at its symbol's last close. ``AccountRisk`` does the same for one live user:

- the chain is the user's ``RiskProfile.protections`` over their symbols (more are added as a
  screener picks them, ``ProtectionChain.add_symbols``);
- at start-up it is fed the journal's closed trades, oldest exit first, so a pause active
  before a restart still holds after it. The account value after each is today's equity less
  the trades closed since (the unrealized marks of that time are not kept anywhere), and it
  is recorded as an equity mark too, so the drawdown and the daily loss see the realized curve;
- on every candle the trades the journal closed since are fed the same way, then the equity;
- a trade is dated as the kernel dates it: a market close (exit signal, time exit, kill switch)
  at the open of the candle it filled in, a stop-loss or target at that candle's close.

Equity is the quote balance plus every open position marked at its symbol's last close (spot:
the coins held; swap: the unrealized pnl, the margin being in the balance already).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from xraybot.exchange.port import ExchangeGateway
from xraybot.matching.rules import (
    EXIT_REASON_CODES,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
)
from xraybot.model.fills import Position, Trade
from xraybot.model.market import Market, MarketKind
from xraybot.model.signals import Direction
from xraybot.risk.limits import OpenPosition
from xraybot.risk.protections_chain import ProtectionChain
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.trading.ports import Journal
from xraybot.trading.step import AccountView

# Exits the kernel takes within a candle (dated at its close); every other exit is a market
# order sent at an open.
_WITHIN_CANDLE = frozenset({EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, EXIT_TRAILING})


def exit_code(trade: Trade) -> int:
    """The kernel's ``EXIT_*`` code of a journal trade, whose reason is its exit order's kind
    (``trading.order_fills``): a CLOSE, REDUCE or LIQUIDATE is a market exit (signal)."""
    return EXIT_REASON_CODES.get(trade.exit_reason, EXIT_SIGNAL)


def exit_time(trade: Trade, timeframe_ms: int) -> int:
    """When the kernel would have recorded ``trade`` (see the module docstring)."""
    opened = trade.exit_ts_ms - trade.exit_ts_ms % timeframe_ms
    return opened + timeframe_ms - 1 if exit_code(trade) in _WITHIN_CANDLE else opened


@dataclass(frozen=True, slots=True)
class Book:
    """The account at one moment: equity and free cash in the quote, and the open positions."""

    equity: float
    free_cash: float
    positions: tuple[Position, ...]


@dataclass(slots=True)
class AccountRisk:
    """One user's protection chain, fed from the journal, and the last close of each symbol."""

    user_id: str
    chain: ProtectionChain
    timeframe_ms: int
    markets: Mapping[str, Market]
    closes: dict[str, float] = field(default_factory=dict)  # symbol -> its last close
    _fed_ms: int | None = None  # exit time of the newest trade fed
    _fed_ids: set[str] = field(default_factory=set)  # the trades fed that exited then

    @classmethod
    def of(
        cls,
        user_id: str,
        settings: ProtectionSettings,
        symbols: Iterable[str],
        *,
        timeframe_ms: int,
        markets: Mapping[str, Market],
    ) -> AccountRisk:
        chain = ProtectionChain(settings, list(dict.fromkeys(symbols)))
        return cls(user_id=user_id, chain=chain, timeframe_ms=timeframe_ms, markets=markets)

    # -- the book ---------------------------------------------------------------------------

    def mark_value(self, position: Position) -> float:
        """What ``position`` adds to the quote balance at its symbol's last close."""
        market = self.markets.get(position.symbol)
        last = self.closes.get(position.symbol, float(position.entry_price))
        amount = float(position.amount)
        if market is None or market.kind is MarketKind.SPOT:
            return amount * last
        sign = 1.0 if position.direction is Direction.LONG else -1.0
        size = float(market.contract_size)
        return sign * (last - float(position.entry_price)) * amount * size

    def notional(self, position: Position) -> float:
        market = self.markets.get(position.symbol)
        size = 1.0 if market is None else float(market.contract_size)
        last = self.closes.get(position.symbol, float(position.entry_price))
        return abs(float(position.amount) * size * last)

    async def book(
        self, gateway: ExchangeGateway, journal: Journal, quote: str, kind: MarketKind
    ) -> Book:
        balances = await gateway.fetch_balance(kind)
        cash = balances.get(quote)
        free = cash.free if cash is not None else Decimal(0)
        total = cash.total if cash is not None else Decimal(0)
        positions = tuple(p for p in await journal.positions(self.user_id) if p.is_open)
        equity = float(total) + sum(self.mark_value(p) for p in positions)
        return Book(equity=equity, free_cash=float(free), positions=positions)

    def view(self, book: Book, symbol: str) -> AccountView:
        """The account as ``decide`` takes it for ``symbol``: the others count in the limits."""
        mine = next((p for p in book.positions if p.symbol == symbol), None)
        others = tuple(
            OpenPosition(p.symbol, self.notional(p), float(p.leverage))
            for p in book.positions
            if p.symbol != symbol
        )
        return AccountView(
            equity=book.equity, free_cash=book.free_cash, position=mine, others=others
        )

    # -- feeding the chain ------------------------------------------------------------------

    async def restore(self, journal: Journal, equity_now: float) -> int:
        """Feed every closed trade of the journal (start-up); return how many."""
        trades = await journal.trades(self.user_id)
        self.chain.add_symbols([t.symbol for t in trades])
        self._feed(trades, equity_now, marks=True)
        return len(trades)

    async def catch_up(self, journal: Journal, equity_now: float) -> int:
        """Feed the trades closed since the last feed; return how many."""
        trades = await journal.trades(self.user_id, since_ms=self._fed_ms)
        new = [t for t in trades if t.trade_id not in self._fed_ids]
        self.chain.add_symbols([t.symbol for t in new])
        self._feed(new, equity_now, marks=False)
        return len(new)

    def record_equity(self, ts_ms: int, equity: float) -> None:
        self.chain.record_equity(ts_ms, equity)

    def _feed(self, trades: Sequence[Trade], equity_now: float, *, marks: bool) -> None:
        # The account value right after each trade: today's, less what closed since.
        after = equity_now - sum(float(t.net_pnl) for t in trades)
        for trade in trades:
            pnl = float(trade.net_pnl)
            after += pnl
            when = exit_time(trade, self.timeframe_ms)
            self.chain.record_exit(trade.symbol, when, pnl, exit_code(trade), after)
            if marks:
                self.chain.record_equity(when, after)
            if self._fed_ms is None or trade.exit_ts_ms > self._fed_ms:
                self._fed_ms = trade.exit_ts_ms
                self._fed_ids.clear()
            if trade.exit_ts_ms == self._fed_ms:
                self._fed_ids.add(trade.trade_id)


__all__ = ["AccountRisk", "Book", "exit_code", "exit_time"]
