"""The runtime's per-candle guard: the operators' kill switch and periodic reconciliation.

Before a user's step runs (under that user's lock, after their open orders were polled) the
guard answers whether the user may trade on this candle:

- Kill switch (``storage.kill_switch``, read on every candle so ``xraybot kill`` from another
  process takes effect on the next one): a pulled switch for the user, or the global one,
  blocks the step at once (no entry, no exit signal) and closes the user's positions with
  the monitor's ``close_all`` (resting orders canceled, LIQUIDATE market closes). The global
  switch closes every user the same way, each under their own lock on their own candle,
  so it never races a step in flight (one monitor per user: ``close_all`` per user is
  what ``trading.monitor.kill_switch`` does over them). The close is recorded once it went
  through; a failed close is tried again on the next candle. Clearing the switch lets the
  next candle trade.
- Periodic reconciliation: every ``reconcile_every_ms`` (the runtime clock) a user is
  reconciled with ``trading.reconcile.reconcile_user`` while their order manager is idle (no
  OPEN or CLOSE order pending; resting targets do not count), else on the next candle. A
  user whose state cannot be reconciled stops trading for the rest of the run with the
  alert logged; nothing is guessed, an operator decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from xraybot.model.signals import IntentKind
from xraybot.storage.kill_switch import KillSwitches
from xraybot.trading.monitor_types import MonitorReport
from xraybot.trading.ports import Clock, Journal, OrderRepository
from xraybot.trading.reconcile import reconcile_user

if TYPE_CHECKING:
    from xraybot.runtime.embedded_trading import Trader

log = structlog.get_logger(__name__)

KillSource = Callable[[], Awaitable[KillSwitches]]
DEFAULT_RECONCILE_EVERY_MS = 15 * 60_000

_PROTECTIVE = frozenset({IntentKind.TAKE_PROFIT, IntentKind.STOP_LOSS})


@dataclass(slots=True)
class GuardStats:
    """What the guard did; part of ``RunStats``."""

    killed: dict[str, str] = field(default_factory=dict)  # user id -> the switch's reason
    stopped: dict[str, str] = field(default_factory=dict)  # user id -> reconciliation alert
    blocked: Counter[str] = field(default_factory=Counter)  # candles not traded, per user
    reconciled: Counter[str] = field(default_factory=Counter)  # periodic passes, per user

    def as_dict(self) -> dict[str, object]:
        return {
            "killed": dict(sorted(self.killed.items())),
            "stopped": dict(sorted(self.stopped.items())),
            "blocked": dict(sorted(self.blocked.items())),
            "reconciled": dict(sorted(self.reconciled.items())),
        }


class RuntimeGuard:
    """The kill switch and periodic reconciliation for every trader (module docstring)."""

    def __init__(
        self,
        *,
        kill: KillSource | None,
        reconcile_every_ms: int | None,
        journal: Journal,
        orders: OrderRepository,
        clock: Clock,
        stats: GuardStats,
    ) -> None:
        self._kill = kill
        self._every = reconcile_every_ms
        self._journal = journal
        self._orders = orders
        self._clock = clock
        self._last: dict[str, int] = {}  # user id -> when last reconciled
        self.stats = stats

    async def allow(self, trader: Trader) -> bool:
        """Whether ``trader`` may run its step on this candle; call under the trader's lock."""
        user_id = trader.user.user_id
        if user_id in self.stats.stopped:
            self.stats.blocked[user_id] += 1
            return False
        switches = await self._kill() if self._kill is not None else KillSwitches()
        reason = switches.reason_for(user_id)
        if reason is not None:
            self.stats.blocked[user_id] += 1
            if user_id not in self.stats.killed:
                await self._close(
                    trader, reason, scope="global" if switches.global_reason else "user"
                )
            return False
        if self.stats.killed.pop(user_id, None) is not None:
            log.warning("kill switch cleared: trading resumes", user_id=user_id)
        return await self._reconcile(trader)

    async def _close(self, trader: Trader, reason: str, *, scope: str) -> None:
        user_id = trader.user.user_id
        log.error(
            "kill switch pulled: closing every position",
            user_id=user_id,
            scope=scope,
            reason=reason,
        )
        report = await trader.monitor.close_all(user_id, f"kill switch: {reason}")
        self.stats.killed[user_id] = reason
        _log_report(report)

    async def _reconcile(self, trader: Trader) -> bool:
        if self._every is None:
            return True
        user_id = trader.user.user_id
        now = self._clock.now_ms()
        last = self._last.setdefault(user_id, now)  # start-up reconciled the user
        if now - last < self._every or not await self._idle(user_id):
            return True
        report = await reconcile_user(
            user_id,
            trader.gateway,
            self._journal,
            self._orders,
            symbols=list(trader.configs),
            now_ms=now,
        )
        self._last[user_id] = now
        self.stats.reconciled[user_id] += 1
        if report.ok:
            if report.notes:
                log.info("periodic reconciliation", user_id=user_id, notes=list(report.notes))
            return True
        alert = report.alert or "reconciliation refused"
        self.stats.stopped[user_id] = alert
        self.stats.blocked[user_id] += 1
        log.error("user stopped: state cannot be reconciled", user_id=user_id, alert=alert)
        return False

    async def _idle(self, user_id: str) -> bool:
        return all(o.kind in _PROTECTIVE for o in await self._orders.open_orders(user_id))


def _log_report(report: MonitorReport) -> None:
    for a in report.actions:
        log.warning("kill switch acted", **a.log_fields())


__all__ = ["DEFAULT_RECONCILE_EVERY_MS", "GuardStats", "KillSource", "RuntimeGuard"]
