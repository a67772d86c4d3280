"""Wiring for the exchange layer: limiter, client pool and gateways from the configuration."""

from __future__ import annotations

from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.pool import ExchangePool
from xraybot.exchange.quirks import quirks_for
from xraybot.exchange.ratelimit import MemoryRateLimiter, RateLimiter


def build_limiter(config: ExchangeConfig) -> RateLimiter | None:
    """Return the process's request limiter, or None when the operator turned pacing off."""
    if not config.rate_limit:
        return None
    return MemoryRateLimiter()


def build_pool(config: ExchangeConfig, limiter: RateLimiter | None) -> ExchangePool:
    return ExchangePool(
        limiter=limiter,
        sim_url=config.sim_url,
        markets_ttl_s=config.markets_ttl_s,
        max_private_clients=config.max_private_clients,
        timeout_ms=config.timeout_ms,
        websockets=config.use_websockets,
    )


async def public_gateway(pool: ExchangePool, exchange_id: str) -> CcxtGateway:
    """Return a gateway over the pool's shared public client (markets already loaded)."""
    client = await pool.public(exchange_id)
    return CcxtGateway(client, quirks_for(exchange_id))
