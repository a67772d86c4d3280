"""The fee service over random months of trades and cash flows, on a real SQLite journal.

Money is drawn in cents, so every Decimal sum is exact and the identities hold to the last
digit. Trades go into the journal's ``trades`` table as the journal writes them.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xraybot.model import Direction, Trade
from xraybot.model.users import UserProfile
from xraybot.services.fees import FeeService
from xraybot.storage import migrate, tables
from xraybot.storage.db import engine_from_url
from xraybot.storage.fees import SqlFeeStore
from xraybot.storage.journal_queries import SqlJournalQueries
from xraybot.storage.rows import to_row
from xraybot.storage.users import SqlUserRepository
from xraybot.trading.fees import month_bounds
from xraybot.users.settings import UserSettings

pytestmark = pytest.mark.properties

D = Decimal
FIRST_YEAR = 2025
ENTRY = D(1_000_000)  # far above any drawn loss, so every exit price stays positive
RATES = st.sampled_from([D(0), D("0.1"), D("0.2"), D("0.25"), D("0.5")])
CENTS = st.integers(-5_000_000, 5_000_000)
# A month: its cash flows in cents (+ deposit / - withdrawal), its trades (PnL, fee) in cents.
MONTHS = st.lists(
    st.tuples(
        st.lists(CENTS.filter(bool), max_size=3),
        st.lists(st.tuples(CENTS, st.integers(0, 5_000)), max_size=3),
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("fees") / "journal.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    return url


def month_of(index: int) -> tuple[int, int]:
    return FIRST_YEAR + index // 12, index % 12 + 1


async def scenario(
    url: str,
    opening_cents: int,
    rate: Decimal,
    months: list[tuple[list[int], list[tuple[int, int]]]],
) -> None:
    engine = engine_from_url(url)
    try:
        users = SqlUserRepository(engine)
        user = f"p{uuid.uuid4().hex[:16]}"
        first_start, _ = month_bounds(*month_of(0))
        await users.create(
            UserProfile(user_id=user, name=user, created_ts_ms=first_start),
            UserSettings().to_document(),
        )
        last_end = month_bounds(*month_of(len(months) - 1))[1]
        service = FeeService(
            SqlFeeStore(engine), SqlJournalQueries(engine), users, now_ms=lambda: last_end
        )
        opening = D(opening_cents) / 100
        await service.open(user, equity=opening, rate=rate, at_ms=first_start + 1)

        rows = []
        for index, (flows, trades) in enumerate(months):
            start, _ = month_bounds(*month_of(index))
            for k, cents in enumerate(flows):
                await service.record_flow(user, D(cents) / 100, at_ms=start + 10 + k)
            for k, (pnl_cents, fee_cents) in enumerate(trades):
                trade = Trade(
                    trade_id=f"{user}-{index}-{k}",
                    user_id=user,
                    strategy="s",
                    symbol="BTC/USDT",
                    direction=Direction.LONG,
                    amount=D(1),
                    entry_price=ENTRY,
                    exit_price=ENTRY + D(pnl_cents) / 100,
                    entry_ts_ms=start,
                    exit_ts_ms=start + 100 + k,
                    fees=D(fee_cents) / 100,
                    exit_reason="signal",
                )
                rows.append(to_row(trade))
        if rows:
            async with engine.begin() as connection:
                await connection.execute(sa.insert(tables.trades), rows)

        equity, deposits, fees = opening, D(0), D(0)
        best_adjusted = opening
        for index, (flows, trades) in enumerate(months):
            result = await service.statement(user, *month_of(index))
            assert result.status == "settled"
            equity += sum((D(c) / 100 for c in flows), D(0))
            equity += sum((D(p - f) / 100 for p, f in trades), D(0))
            deposits += sum((D(c) / 100 for c in flows), D(0))
            # Equity is the opening plus flows plus realized PnL net of exchange fees.
            assert result.equity_end == equity
            assert result.net_deposits == deposits
            assert result.performance_fee >= 0
            fees += result.performance_fee
            best_adjusted = max(best_adjusted, equity - deposits)

        account = (await service.show(user)).account
        assert account.fees_charged == fees
        # Every gain is charged once: rate × (best flow-adjusted month-end equity − opening).
        assert fees == rate * (best_adjusted - opening)
    finally:
        await engine.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opening=st.integers(0, 10_000_000), rate=RATES, months=MONTHS)
def test_fees_charged_add_up_to_the_rate_times_the_best_gain(
    database_url: str,
    opening: int,
    rate: Decimal,
    months: list[tuple[list[int], list[tuple[int, int]]]],
) -> None:
    asyncio.run(scenario(database_url, opening, rate, months))
