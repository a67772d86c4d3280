"""A runtime whose gateway factory keeps each paper gateway, for the restart tests that read
the paper ledger."""

from __future__ import annotations

from typing import Any

from tests.support.embedded import CountingGateway, Sim, fast_sleep
from xraybot.data.feed import FeedSettings
from xraybot.exchange.paper import PaperGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, journal_fills
from xraybot.storage import SqlJournal, SqlOrderRepository
from xraybot.storage.journal_queries import SqlJournalQueries


class RecordingFactory(GatewayFactory):
    """The runtime's factory, keeping each paper gateway so the test can read its ledger."""

    made: dict[str, PaperGateway]

    async def paper(self, user: RunUser, positions: Any) -> PaperGateway:
        gateway = await super().paper(user, positions)
        self.made[user.user_id] = gateway
        return gateway


def runtime_for(sim: Sim, users: list[RunUser], engine: Any, public: CountingGateway) -> Any:
    async def public_for(exchange: str) -> ExchangeGateway:
        return public  # type: ignore[return-value]

    factory = RecordingFactory(
        public=public_for, paper_fills=journal_fills(SqlJournalQueries(engine))
    )
    factory.made = {}
    settings = EmbeddedSettings(
        feed=FeedSettings(window=500, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
        feed_clock=sim.clock.now_ms,
        sleep=fast_sleep,
    )
    runtime = EmbeddedRuntime(
        users,
        gateways=factory,
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(sim.clock.now_ms),
        settings=settings,
    )
    return runtime, factory
