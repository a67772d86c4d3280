"""Who the embedded runtime trades for: active users, their settings, gateways and step configs.

A user in ``live`` mode is traded only when the run was started with ``allow_live``; without
it the user is refused (``LiveTradingRefusedError`` naming them) while paper users run. A
paper user trades on a ``PaperGateway``: the exchange's real market data, simulated fills and
a simulated balance of their own. A live user trades through the ccxt gateway with their
decrypted keys; keys are opened by a callable the caller passes (the services layer owns the
vault), so they never pass through this module's logs.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.paper import MarketDataSource, PaperGateway
from xraybot.exchange.pool import ExchangePool
from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.quirks import quirks_for
from xraybot.exchange.retry import with_retries
from xraybot.model.errors import LiveTradingRefusedError
from xraybot.model.fills import Fill, Position
from xraybot.model.market import Market, MarketKind
from xraybot.model.users import TradingMode, UserProfile
from xraybot.risk.profile import RiskProfile, load_risk_profile, risk_profile_from
from xraybot.storage.journal_queries import MAX_PAGE_SIZE, PageRequest, SqlJournalQueries
from xraybot.strategy.registry import load_strategy
from xraybot.trading.step import StepConfig
from xraybot.users.credentials import ApiCredentials
from xraybot.users.settings import UserSettings, settings_from

OpenCredentials = Callable[[str], Awaitable[ApiCredentials]]
PublicSource = Callable[[str], Awaitable[ExchangeGateway]]

PaperFills = Callable[[str], Awaitable[Sequence[Fill]]]

PAPER_SLIPPAGE = Decimal("0.0005")
# What a paper user starts with when their settings say nothing (``paper.balance``).
DEFAULT_PAPER_BALANCES: Mapping[str, Decimal] = {"USDT": Decimal(10_000)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunUser:
    """One registered user as the runtime sees them."""

    profile: UserProfile
    settings: UserSettings

    @property
    def user_id(self) -> str:
        return self.profile.user_id

    @property
    def live(self) -> bool:
        return self.profile.mode is TradingMode.LIVE or self.settings.mode == "live"

    @property
    def timeframe(self) -> str:
        return self.settings.strategy.timeframe

    @property
    def symbols(self) -> tuple[str, ...]:
        blocked = set(self.settings.blacklist)
        return tuple(s for s in self.settings.selection.symbols if s not in blocked)


def paper_wallet(user: RunUser) -> dict[str, Decimal]:
    """The user's starting paper wallet: ``paper.balance`` of ``paper.currency``."""
    return {user.settings.paper.currency: user.settings.paper.balance}


class UserSource(Protocol):
    """What ``load_users`` reads: ``storage.users.SqlUserRepository`` satisfies it."""

    async def list(self, active_only: bool = False) -> builtins.list[UserProfile]: ...

    async def get_settings(self, user_id: str) -> dict[str, Any] | None: ...


async def load_users(repo: UserSource) -> list[RunUser]:
    """Return the active users of ``repo`` with their settings."""
    out: list[RunUser] = []
    for profile in await repo.list(active_only=True):
        document = await repo.get_settings(profile.user_id)
        settings = (
            UserSettings(exchange=profile.exchange, mode=profile.mode.value)
            if document is None
            else settings_from(document, where=f"the stored settings of {profile.user_id}")
        )
        out.append(RunUser(profile=profile, settings=settings))
    return out


def refuse_live(user: RunUser, allow_live: bool) -> None:
    """Raise LiveTradingRefusedError for a live user when the run did not allow live trading."""
    if user.live and not allow_live:
        raise LiveTradingRefusedError(
            f"user {user.user_id!r} is set to live mode but `xraybot run` was started without "
            "--allow-live; found mode=live. Start with --allow-live to trade real money, or "
            f"set the user to paper (`xraybot users set {user.user_id} mode=paper`)."
        )


def risk_profile(user: RunUser) -> RiskProfile:
    """The user's risk profile: inline, from a file, or the defaults for their market."""
    settings = user.settings
    if settings.risk is not None:
        return risk_profile_from(settings.risk, where=f"the risk settings of {user.user_id}")
    if settings.risk_file is not None:
        return load_risk_profile(settings.risk_file)
    return RiskProfile(market=settings.market, timeframe=user.timeframe)


def step_configs(user: RunUser, markets: Mapping[str, Market]) -> dict[str, StepConfig]:
    """One StepConfig per traded symbol (the strategy is loaded once per user)."""
    strategy = load_strategy(user.settings.strategy.name)
    params = strategy.resolve(dict(user.settings.strategy.params))
    profile = risk_profile(user)
    out: dict[str, StepConfig] = {}
    for symbol in user.symbols:
        market = markets.get(symbol)
        if market is None:
            from xraybot.model.errors import UnknownSymbolError

            raise UnknownSymbolError(
                f"user {user.user_id!r} trades {symbol}, which {user.settings.exchange} does "
                "not list; found no such market. Fix settings.selection.symbols."
            )
        out[symbol] = StepConfig(
            user_id=user.user_id, strategy=strategy, params=params, market=market, profile=profile
        )
    return out


def paper_balances(
    start: Mapping[str, Decimal], positions: Sequence[Position], markets: Mapping[str, Market]
) -> dict[str, Decimal]:
    """The paper wallet at start-up: the starting cash plus the spot holdings the journal has.

    The simulated ledger lives in memory, so after a restart the journal's open spot
    positions are put back as base-asset holdings; the bot can then still close them. This
    is the fallback when the factory has no ``paper_fills``: cash is not rebuilt and an
    open swap position is lost (reconciliation then refuses the user).
    """
    wallet = dict(start)
    for position in positions:
        market = markets.get(position.symbol)
        if market is None or market.kind is not MarketKind.SPOT:
            continue
        wallet[market.base] = wallet.get(market.base, Decimal(0)) + position.amount
    return wallet


def journal_fills(queries: SqlJournalQueries) -> PaperFills:
    """Read every fill of a user from the journal (archived ones too), oldest first.

    Pass it as ``GatewayFactory.paper_fills``: orders in creation order, each order's fills
    in execution order, then a stable sort by time, so a restart replays what happened.
    """

    async def fills_of(user_id: str) -> list[Fill]:
        out: list[Fill] = []
        offset: int | None = 0
        while offset is not None:
            page = await queries.orders(
                user_id=user_id,
                page=PageRequest(offset=offset, limit=MAX_PAGE_SIZE),
                include_archived=True,
            )
            for order in page.items:
                fill_offset: int | None = 0
                while fill_offset is not None:
                    fills = await queries.fills(
                        order.client_order_id,
                        page=PageRequest(offset=fill_offset, limit=MAX_PAGE_SIZE),
                        include_archived=True,
                    )
                    out.extend(fills.items)
                    fill_offset = fills.next_offset
            offset = page.next_offset
        return sorted(out, key=lambda f: f.ts_ms)

    return fills_of


@dataclass(slots=True)
class GatewayFactory:
    """Builds each user's gateway: paper over the shared public data, live over the pool."""

    public: PublicSource
    open_credentials: OpenCredentials | None = None
    pool: ExchangePool | None = None
    live_gateway: Callable[[RunUser, ApiCredentials], Awaitable[ExchangeGateway]] | None = None
    # One wallet for every paper user (a replay's equity); None: each user's own setting.
    paper_start: Mapping[str, Decimal] | None = None
    run_id: str = field(default_factory=lambda: f"{time.time_ns() // 1_000_000:x}")
    # Every journaled fill of a user, oldest first: with it a paper account is rebuilt
    # exactly at start-up (cash, holdings, swap positions); see ``journal_fills``.
    paper_fills: PaperFills | None = None

    async def paper(self, user: RunUser, positions: Sequence[Position]) -> PaperGateway:
        """The user's paper account: the starting balances plus every fill the journal has."""
        source: MarketDataSource = await self.public(user.settings.exchange)
        markets = await with_retries(source.markets)
        start = paper_wallet(user) if self.paper_start is None else self.paper_start
        if self.paper_fills is None:
            return PaperGateway(
                source,
                balances=paper_balances(start, positions, markets),
                id_prefix=f"P{self.run_id}-",
            )
        gateway = PaperGateway(source, balances=start, id_prefix=f"P{self.run_id}-")
        leverage = {p.symbol: p.leverage for p in positions}
        gateway.replay_fills(markets, await self.paper_fills(user.user_id), leverage)
        return gateway

    async def live(self, user: RunUser) -> ExchangeGateway:
        if self.open_credentials is None:
            raise LiveTradingRefusedError(
                f"user {user.user_id!r} is live but this run cannot open exchange keys; "
                "found no master key. Set users.master_key."
            )
        creds = await self.open_credentials(user.user_id)
        if self.live_gateway is not None:
            return await self.live_gateway(user, creds)
        if self.pool is None:
            raise LiveTradingRefusedError(
                f"user {user.user_id!r} is live but this run has no exchange pool; found none."
            )
        exchange = user.settings.exchange
        client = await self.pool.private(exchange, user.user_id, creds)
        return CcxtGateway(client, quirks_for(exchange))


__all__ = [
    "DEFAULT_PAPER_BALANCES",
    "GatewayFactory",
    "OpenCredentials",
    "PaperFills",
    "PublicSource",
    "RunUser",
    "UserSource",
    "journal_fills",
    "load_users",
    "paper_balances",
    "paper_wallet",
    "refuse_live",
    "risk_profile",
    "step_configs",
]
