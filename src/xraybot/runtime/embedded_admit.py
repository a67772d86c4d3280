"""Start-up of one user in the embedded runtime: from their settings to a ``Trader``.

A ``live`` user needs ``allow_live`` (else ``LiveTradingRefusedError``); the user gets a
gateway (paper or live, ``embedded_users``), a step config per symbol (picked by the screener
for a screener-driven user), is reconciled with the exchange (``trading.reconcile``), and gets
an order manager, a position monitor whose plans are rebuilt from the journal, and the
account's protection chain fed every closed trade of the journal (``embedded_account``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.retry import with_retries
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import XraybotError
from xraybot.model.market import Market, MarketKind
from xraybot.runtime.embedded_account import AccountRisk
from xraybot.runtime.embedded_trading import Trader
from xraybot.runtime.embedded_users import (
    GatewayFactory,
    RunUser,
    refuse_live,
    risk_profile,
    step_configs,
)
from xraybot.trading.monitor import PositionMonitor
from xraybot.trading.order_manager import OrderManager
from xraybot.trading.ports import Clock, Journal, OrderRepository
from xraybot.trading.reconcile import reconcile_user
from xraybot.trading.step import StepConfig

log = structlog.get_logger(__name__)

Pick = Callable[[Mapping[str, Market]], Awaitable[dict[str, StepConfig]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiring:
    """What every user is wired to: gateways, the journal, the clock, the run's options."""

    gateways: GatewayFactory
    journal: Journal
    orders: OrderRepository
    clock: Clock
    allow_live: bool
    step_config: Callable[[StepConfig], StepConfig] | None = None


async def admit_user(user: RunUser, wiring: Wiring, pick: Pick) -> Trader | str:
    """The user's ``Trader``, or why they are not traded (reconciliation refused them).

    Raises LiveTradingRefusedError for a live user without ``allow_live`` and any other
    XraybotError the start-up met; ``pick`` gives a screener-driven user's step configs.
    """
    refuse_live(user, wiring.allow_live)
    journal = wiring.journal
    if user.live:
        gateway = await wiring.gateways.live(user)
    else:
        positions = await journal.positions(user.user_id)
        paper = await wiring.gateways.paper(user, positions)
        # A fresh paper account has no resting stops: the journal's open ones rest again,
        # else reconciliation would find them missing and refuse the user.
        paper.restore_stops(await wiring.orders.open_orders(user.user_id))
        gateway = paper
    try:
        return await _wire(user, wiring, pick, gateway)
    except BaseException:
        await gateway.close()  # the caller may retry: no client left open per attempt
        raise


async def _wire(
    user: RunUser, wiring: Wiring, pick: Pick, gateway: ExchangeGateway
) -> Trader | str:
    journal = wiring.journal
    # Start-up is when the market list is loaded: a throttled answer is waited out.
    markets = await with_retries(gateway.markets)
    if user.settings.selection.screener:
        configs = await pick(markets)
    else:
        configs = step_configs(user, markets)
    if wiring.step_config is not None:
        configs = {symbol: wiring.step_config(c) for symbol, c in configs.items()}
    report = await reconcile_user(
        user.user_id,
        gateway,
        journal,
        wiring.orders,
        symbols=list(configs),
        now_ms=wiring.clock.now_ms(),
    )
    if not report.ok:
        await gateway.close()
        return report.alert or "reconciliation refused"
    manager = OrderManager(gateway, journal, wiring.orders, wiring.clock)
    monitor = PositionMonitor(
        manager,
        gateway,
        journal,
        wiring.orders,
        wiring.clock,
        resting_stops=gateway.supports_resting_stops,
    )
    await _restore_plans(user, monitor, journal, configs)
    risk = await _account_risk(user, gateway, journal, markets, configs)
    return Trader(
        user=user, gateway=gateway, manager=manager, monitor=monitor, configs=configs, risk=risk
    )


async def _restore_plans(
    user: RunUser, monitor: PositionMonitor, journal: Journal, configs: Mapping[str, StepConfig]
) -> None:
    """Plans live in memory: rebuild each open position's from the journal (monitor.restore)."""
    for position in await journal.positions(user.user_id):
        config = configs.get(position.symbol)
        try:
            plan = (
                None if config is None else await monitor.restore(position, config, user.timeframe)
            )
        except XraybotError as e:  # trade the user anyway: the exit signal still closes it
            log.error("rebuilding a protection plan failed", error=str(e))
            plan = None
        if plan is None:
            log.warning(
                "position open at start-up has no protection plan; only its exit signal closes it",
                user_id=user.user_id,
                symbol=position.symbol,
            )


async def _account_risk(
    user: RunUser,
    gateway: ExchangeGateway,
    journal: Journal,
    markets: Mapping[str, Market],
    configs: Mapping[str, StepConfig],
) -> AccountRisk:
    """The user's protection chain, fed every closed trade of the journal."""
    first = next(iter(configs.values()), None)
    # Every config of a user shares one profile; a replay's step_config may have replaced it.
    profile = first.profile if first is not None else risk_profile(user)
    risk = AccountRisk.of(
        user.user_id,
        profile.protections,
        configs,
        timeframe_ms=timeframe_to_ms(user.timeframe),
        markets=markets,
    )
    quote = first.market.quote if first is not None else user.settings.paper.currency
    kind = first.market.kind if first is not None else MarketKind(user.settings.market)
    book = await risk.book(gateway, journal, quote, kind)
    fed = await risk.restore(journal, book.equity)
    if fed:
        log.info("protections fed from the journal", user_id=user.user_id, trades=fed)
    return risk


__all__ = ["Pick", "Wiring", "admit_user"]
