"""The simulator as an ASGI app: MEXC spot v3 and contract v1 routes plus ``/_sim/`` admin.

Requests pass, outermost first: latency and faults, then the rate limits, then the routes.
Resting limit orders are checked against the quotes on every request that touches the
market or an account, and by a background task every ``match_interval_ms`` of wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from xraybot.sim.admin import admin_routes
from xraybot.sim.config import SimConfig
from xraybot.sim.contract_routes import contract_routes
from xraybot.sim.exchange import SimExchange
from xraybot.sim.faults import FaultMiddleware
from xraybot.sim.limits import RateLimitMiddleware
from xraybot.sim.market import MarketData
from xraybot.sim.spot_routes import spot_routes

log = logging.getLogger(__name__)


async def _match_forever(exchange: SimExchange, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            exchange.match()
        except Exception:  # one bad tick must not stop the fills of every later one
            log.exception("resting-order check failed")


def create_app(config: SimConfig, market: MarketData) -> Starlette:
    """Build the simulator app; ``app.state.exchange`` is its :class:`SimExchange`."""
    exchange = SimExchange(config, market)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if config.match_interval_ms:
            task = asyncio.create_task(_match_forever(exchange, config.match_interval_ms / 1000))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = Starlette(
        routes=[*spot_routes(exchange), *contract_routes(exchange), *admin_routes(exchange)],
        middleware=[
            Middleware(
                FaultMiddleware,
                injector=exchange.venue.faults,
                latency_ms=config.latency_ms,
                hang_ms=config.fault_hang_ms,
            ),
            Middleware(RateLimitMiddleware, limiter=exchange.limiter),
        ],
        lifespan=lifespan,
    )
    app.state.exchange = exchange
    return app
