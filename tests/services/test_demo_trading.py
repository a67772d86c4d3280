"""The demo's paper-trading step against the demo's own simulator (running on the wall clock,
moved forward one candle at a time by the step), with a real SQLite journal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from xraybot.cli.demo import print_trading
from xraybot.model.errors import InvalidInputError
from xraybot.services.demo import running_simulator
from xraybot.services.demo_trading import (
    DEMO_USERS,
    JOURNAL,
    DemoTrading,
    SimTime,
    paper_trading,
)
from xraybot.storage import SqlJournal, engine_from_url

CANDLES = 30


@dataclass
class Run:
    sim_url: str
    folder: Path
    trading: DemoTrading
    progress: list[tuple[int, int]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("demo")
    progress: list[tuple[int, int]] = []
    # The simulator `xraybot demo` runs (as tests/cli/test_cli.py's demo test starts it).
    with running_simulator(port=0, symbols=40, seed=0) as (url, _listed):
        trading = asyncio.run(
            paper_trading(
                url, folder, candles=CANDLES, progress=lambda d, t: progress.append((d, t))
            )
        )
        yield Run(url, folder, trading, progress)


def test_three_paper_users_with_different_strategies_trade_on_the_simulator(run: Run) -> None:
    t = run.trading
    assert len({u.strategy for u in DEMO_USERS}) == len({u.symbol for u in DEMO_USERS}) == 3
    assert [r.user for r in t.users] == list(DEMO_USERS)
    assert t.candles == CANDLES
    assert run.progress[-1] == (CANDLES, CANDLES)
    assert t.errors == 0
    # About one decision per candle moved: a candle closing on the wall clock meanwhile may
    # arrive with the next one and be decided once.
    assert all(r.decisions >= CANDLES // 2 for r in t.users), [r.decisions for r in t.users]
    assert any(r.trades for r in t.users), "no demo user closed a trade"
    assert t.orders >= 2
    for r in t.users:
        assert {(tr.user_id, tr.symbol) for tr in r.trades} <= {(r.user.user_id, r.user.symbol)}
        assert r.realized_pnl == sum(tr.net_pnl for tr in r.trades)
        assert all(tr.strategy == r.user.strategy for tr in r.trades)
        # Simulated time: the trades happened on the moved clock, candle by candle.
        assert all(tr.exit_ts_ms >= tr.entry_ts_ms for tr in r.trades)


def test_the_journal_holds_what_the_step_reports(run: Run) -> None:
    assert run.trading.journal == run.folder / JOURNAL

    async def read() -> dict[str, int]:
        engine = engine_from_url(f"sqlite+aiosqlite:///{run.trading.journal}")
        try:
            journal = SqlJournal(engine)
            return {u.user_id: len(await journal.trades(u.user_id)) for u in DEMO_USERS}
        finally:
            await engine.dispose()

    assert asyncio.run(read()) == {r.user.user_id: len(r.trades) for r in run.trading.users}


def test_the_json_has_numbers(run: Run) -> None:
    payload = json.loads(json.dumps(run.trading.as_dict()))
    assert payload["candles"] == CANDLES
    assert isinstance(payload["seconds"], float)
    assert payload["seconds"] > 0
    assert isinstance(payload["orders"], int)
    assert payload["orders"] == run.trading.orders
    for user in payload["users"]:
        assert isinstance(user["trades"], int)
        assert isinstance(user["realized_pnl"], float)
        assert isinstance(user["fees"], float)
        assert user["position"] is None or isinstance(user["position"]["amount"], float)
        for trade in user["last_trades"]:
            assert isinstance(trade["net_pnl"], float)
            assert isinstance(trade["entry_ts_ms"], int)
    assert sum(u["trades"] for u in payload["users"]) > 0


def test_the_tables_name_every_user_and_their_last_trades(run: Run) -> None:
    console = Console(record=True, width=160)
    print_trading(run.trading, console)
    text = console.export_text()
    assert "realized PnL" in text
    for r in run.trading.users:
        assert r.user.user_id in text
        assert r.user.symbol in text
        if r.trades:
            assert f"{r.user.user_id} ({r.user.strategy}" in text


def test_a_second_demo_starts_a_fresh_journal(run: Run) -> None:
    again = asyncio.run(paper_trading(run.sim_url, run.folder, candles=1))
    assert again.errors == 0
    assert again.candles == 1
    assert all(r.decisions >= 1 for r in again.users)


def test_the_simulator_clock_needs_an_http_url() -> None:
    with pytest.raises(InvalidInputError, match="http"):
        SimTime("file:///etc/passwd")
