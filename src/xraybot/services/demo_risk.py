"""The demo's risk step: what the risk layer decides for the next entry on a few perpetuals.

For the simulator's BTC, ETH and SOL perpetuals, with a swap profile like
``examples/risk.toml`` (lose 1 % of equity at a 3 % or 2 ATR stop, leverage capped at 20x)
and an account of 1,000 USDT, it asks ``services.risk_explain`` what ``xraybot risk explain``
would: the leverage and what bound it, the size, the stop and the liquidation beyond it, the
limits' and protections' verdicts and the minimum deposit. A profile that can never trade a
market is a row with the refusal, not a failed demo.

The markets come through the caller's gateway or a client pool of the step's own. The
simulator, like MEXC, lets the market listing (``contract/detail``) be read once per 5 s
across all clients: when the X-ray read it less than 5 s before, a pool of the step's own
waits out the ``Retry-After`` it is given (``DemoRisk.waited_s``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.errors import ConfigError, RateLimitError
from xraybot.risk.leverage import (
    BOUND_LIQUIDATION,
    BOUND_MARKET_MAX,
    BOUND_MINIMUM,
    BOUND_SPOT,
    BOUND_USER_CAP,
)
from xraybot.risk.profile import RiskProfile, risk_profile_from
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.services.risk_explain import RiskExplanation, explain_entry, fetch_inputs

__all__ = [
    "BOUND_LABELS",
    "DEMO_EQUITY",
    "DEMO_RISK_SYMBOLS",
    "DEMO_RISK_TABLE",
    "DemoRisk",
    "RiskRow",
    "demo_profile",
    "leverage_story",
    "risk_tour",
]

# Majors come first in the simulator's universe, so even ``--symbols 10`` lists them.
DEMO_RISK_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
DEMO_EQUITY = 1_000.0
# examples/risk.toml's sizing, leverage, stop and limits (the file is not in the package).
DEMO_RISK_TABLE: dict[str, Any] = {
    "market": "swap",
    "timeframe": "1h",
    "margin_multiplier": 1.5,
    "sizing": {"mode": "risk", "amount": 0.01},
    "leverage": {"max": 20, "safety": 0.5, "maintenance_margin_rate": 0.005},
    "exits": {"stop_loss_pct": 0.03, "stop_loss_atr": 2.0, "take_profit_pct": 0.06},
    "limits": {
        "max_open_positions": 3,
        "max_symbol_exposure": 1.0,
        "max_total_exposure": 3.0,
    },
    "protections": {"cooldown": "2h", "daily_loss": 0.05},
}
RATE_LIMIT_RETRIES = 2
MAX_WAIT_S = 10.0  # never sleep longer on one Retry-After than this

BOUND_LABELS = {
    BOUND_USER_CAP: "user cap",
    BOUND_MARKET_MAX: "market max",
    BOUND_LIQUIDATION: "liq. rule",  # the liquidation-beyond-the-stop rule
    BOUND_MINIMUM: "1x floor",
    BOUND_SPOT: "spot",
}


def demo_profile() -> RiskProfile:
    """Return the demo's swap profile (validated like a ``[risk]`` table)."""
    return risk_profile_from(DEMO_RISK_TABLE, where="the demo's risk profile")


@dataclass(frozen=True, slots=True)
class RiskRow:
    """One symbol's decision, or why the profile can never trade it."""

    symbol: str  # as asked: BTC/USDT stands for its perpetual
    explanation: RiskExplanation | None
    refusal: str | None = None  # the ConfigError's message when explanation is None

    @property
    def allowed(self) -> bool:
        return self.explanation is not None and self.explanation.allowed

    def as_dict(self) -> dict[str, Any]:
        e = self.explanation
        return {
            "symbol": self.symbol if e is None else e.market.symbol,
            "allowed": self.allowed,
            "refusal": self.refusal,
            "explanation": None if e is None else e.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class DemoRisk:
    """What the risk step found: one row per symbol and why their leverages differ."""

    exchange: str
    profile: RiskProfile
    equity: float
    rows: tuple[RiskRow, ...]
    why: str
    elapsed_s: float
    waited_s: float  # of elapsed_s, spent waiting out the simulator's rate limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "equity": self.equity,
            "profile": self.profile.model_dump(mode="json"),
            "rows": [row.as_dict() for row in self.rows],
            "why_leverages_differ": self.why,
            "elapsed_s": round(self.elapsed_s, 3),
            "waited_s": round(self.waited_s, 3),
        }


async def risk_tour(
    sim_url: str,
    symbols: Sequence[str] = DEMO_RISK_SYMBOLS,
    *,
    equity: float = DEMO_EQUITY,
    profile: RiskProfile | None = None,
    gateway: ExchangeGateway | None = None,
) -> DemoRisk:
    """Explain the next long entry on each of ``symbols`` of the simulator at ``sim_url``.

    ``gateway``, a public gateway of that simulator whose markets are loaded, saves loading
    them again; without it the step loads them through a pool of its own.
    """
    started = time.perf_counter()
    profile = profile if profile is not None else demo_profile()
    waited = 0.0
    if gateway is not None:
        rows = [await _explain(gateway, profile, symbol, equity) for symbol in symbols]
    else:
        rows, waited = await _on_own_pool(sim_url, symbols, profile, equity)
    return DemoRisk(
        exchange="sim",
        profile=profile,
        equity=equity,
        rows=tuple(rows),
        why=leverage_story(rows),
        elapsed_s=time.perf_counter() - started,
        waited_s=waited,
    )


async def _on_own_pool(
    sim_url: str, symbols: Sequence[str], profile: RiskProfile, equity: float
) -> tuple[list[RiskRow], float]:
    """The rows through a fresh pool, and the seconds spent waiting for the market listing.

    A throttled load is retried on a fresh pool and limiter after the ``Retry-After``: the
    old limiter counts the refused request as spent and would hold the retry for the
    endpoint's whole window (5 s) where the exchange asks for less.
    """
    config = ExchangeConfig(exchange="sim", sim_url=sim_url)
    throttled_at: float | None = None
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        limiter = build_limiter(config)
        pool = build_pool(config, limiter)
        try:
            try:
                gateway = await public_gateway(pool, "sim")
            except RateLimitError as e:
                if attempt == RATE_LIMIT_RETRIES or e.retry_after_s is None:
                    raise
                throttled_at = throttled_at or time.perf_counter()
                pause = min(e.retry_after_s, MAX_WAIT_S)
            else:
                waited = 0.0 if throttled_at is None else time.perf_counter() - throttled_at
                rows = [await _explain(gateway, profile, symbol, equity) for symbol in symbols]
                return rows, waited
        finally:
            await pool.close()
            if limiter is not None:
                await limiter.aclose()
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


async def _explain(
    gateway: ExchangeGateway, profile: RiskProfile, symbol: str, equity: float
) -> RiskRow:
    market, candles, source, now_ms = await fetch_inputs(gateway, profile, symbol)
    try:
        explanation = explain_entry(
            profile,
            market,
            candles,
            equity=equity,
            now_ms=now_ms,
            exchange="sim",
            source=source,
        )
    except ConfigError as e:
        return RiskRow(symbol, None, str(e))
    return RiskRow(symbol, explanation)


def leverage_story(rows: Sequence[RiskRow]) -> str:
    """One line: the rule behind each leverage, its numbers, and which cap bound it."""
    decided = [
        (row.explanation.market.base, row.explanation.leverage)
        for row in rows
        if row.explanation is not None and row.explanation.leverage is not None
    ]
    if not decided:
        return "no leverage was chosen: the rule needs a stop, and a market the profile trades"
    first = decided[0][1]
    parts = []
    for index, (base, d) in enumerate(decided):
        names = (" stop", " buffer") if index == 0 else ("", "")
        part = f"{base} {d.stop_distance:.2%}{names[0]} + {d.buffer:.2%}{names[1]} → {d.value}x"
        if d.bound_by != BOUND_LIQUIDATION:
            part += f" ({BOUND_LABELS[d.bound_by]}; the rule allows {d.rule_leverage:.0f}x)"
        parts.append(part)
    return (
        f"leverage = 1 / (stop + buffer + {first.maintenance_margin_rate:.2%} maintenance "
        f"margin), buffer = max({first.safety:g} x stop, one candle's volatility), whole and "
        f"capped at {first.user_cap:g}x or the market's maximum: " + "; ".join(parts)
    )
