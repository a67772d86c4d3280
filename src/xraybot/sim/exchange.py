"""The simulated exchange as a whole: accounts, desks, limits, and who may sign for what."""

from __future__ import annotations

from decimal import Decimal

from xraybot.sim.accounts import Account, Accounts
from xraybot.sim.config import SimConfig
from xraybot.sim.limits import RateLimiter
from xraybot.sim.market import MarketData
from xraybot.sim.replies import CONTRACT_BAD_KEY, SPOT_BAD_KEY, MexcError
from xraybot.sim.signing import verify_contract, verify_spot
from xraybot.sim.spot_desk import SpotDesk
from xraybot.sim.swap_desk import SwapDesk
from xraybot.sim.swap_plans import PlanDesk
from xraybot.sim.venue import Venue


class SimExchange:
    """One MEXC-like exchange over one market data source."""

    def __init__(self, config: SimConfig, market: MarketData) -> None:
        self.config = config
        self.venue = Venue(config, market)
        self.accounts = Accounts()
        self.spot = SpotDesk(self.venue)
        self.swap = SwapDesk(self.venue)
        self.plans = PlanDesk(self.venue, self.swap)
        self.limiter = RateLimiter(config.rate_limits)
        self.reset()

    @property
    def market(self) -> MarketData:
        """Return the market data source."""
        return self.venue.market

    def reset(self) -> None:
        """Forget every account, order and fault; recreate the demo account."""
        self.accounts.clear()
        self.venue.faults.reset(self.config.faults)
        self.limiter.reset()
        self.accounts.create(
            api_key=self.config.demo_api_key,
            secret=self.config.demo_secret.get_secret_value(),
            balances=dict(self.config.demo_balances),
            swap_balance=self.config.demo_swap_balance,
        )

    def create_account(
        self, api_key: str, secret: str, balances: dict[str, Decimal], swap_balance: Decimal
    ) -> Account:
        """Create (or replace) an account with spot ``balances`` and a USDT futures wallet."""
        return self.accounts.create(
            api_key=api_key, secret=secret, balances=balances, swap_balance=swap_balance
        )

    def match(self) -> None:
        """Fill every resting order the current quotes cross; fire the trigger orders reached."""
        for account in self.accounts.all():
            if account.resting_spot:
                self.spot.match(account)
            if account.resting_swap:
                self.swap.match(account)
            if account.plan_orders:
                self.plans.match(account)

    def spot_account(self, api_key: str | None, raw_query: str) -> Account:
        """Return the account a signed spot request belongs to, after checking its signature."""
        account = self.accounts.get(api_key or "")
        if account is None:
            raise MexcError(
                SPOT_BAD_KEY, f"Api key info invalid (no account has key {_hint(api_key)})"
            )
        verify_spot(raw_query, account.secret, self.venue.auth_clocks())
        return account

    def contract_account(
        self,
        *,
        api_key: str | None,
        request_time: str | None,
        signature: str | None,
        payload: str,
    ) -> Account:
        """Return the account a signed contract request belongs to, after checking it."""
        account = self.accounts.get(api_key or "")
        if account is None:
            raise MexcError(
                CONTRACT_BAD_KEY,
                f"Not logged in or login has expired (no account has key {_hint(api_key)})",
            )
        verify_contract(
            api_key=account.api_key,
            secret=account.secret,
            request_time=request_time,
            signature=signature,
            payload=payload,
            now_candidates=self.venue.auth_clocks(),
        )
        return account


def _hint(api_key: str | None) -> str:
    """Name a key without repeating it: its length and last two characters."""
    if not api_key:
        return "(none sent)"
    return f"of {len(api_key)} characters ending ...{api_key[-2:]}"
