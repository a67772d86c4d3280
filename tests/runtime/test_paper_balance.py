"""Each paper user starts with their own ``paper.balance``; a replay's fixed wallet still wins."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.support.sim import make_gateway, serve_sim
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.users import UserProfile
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, paper_wallet
from xraybot.sim.config import SimConfig
from xraybot.users.settings import UserSettings, with_changes


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_sim(SimConfig(match_interval_ms=0)) as url:
        yield url


def user(user_id: str, *settings: str) -> RunUser:
    return RunUser(
        profile=UserProfile(user_id=user_id, name=user_id, created_ts_ms=0),
        settings=with_changes(UserSettings(), list(settings), where="test"),
    )


def test_the_wallet_comes_from_the_settings() -> None:
    assert paper_wallet(user("a")) == {"USDT": Decimal(10_000)}
    assert paper_wallet(user("b", "paper.balance=250.5", "paper.currency=USDC")) == {
        "USDC": Decimal("250.5")
    }


async def test_each_paper_user_starts_with_their_own_balance(sim_url: str) -> None:
    public = make_gateway(sim_url, None, None)

    async def public_for(exchange: str) -> ExchangeGateway:
        return public

    try:
        factory = GatewayFactory(public=public_for)
        small = await factory.paper(user("small", "paper.balance=1500"), [])
        default = await factory.paper(user("default"), [])
        fixed = await GatewayFactory(public=public_for, paper_start={"USDT": Decimal(42)}).paper(
            user("fixed", "paper.balance=1500"), []
        )
    finally:
        await public.close()

    assert small.ledger.balances()["USDT"].free == Decimal(1500)
    assert default.ledger.balances()["USDT"].free == Decimal(10_000)
    assert fixed.ledger.balances()["USDT"].free == Decimal(42)
