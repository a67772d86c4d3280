"""``xraybot risk explain --user U`` against the simulator, on a real SQLite journal.

The simulator's clock starts at ``START_MS``; the journaled trades closed hours before, and
the cooldown lasts 30 days, so it is active whenever the test runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.contracts.builders import make_fill, make_intent
from tests.support.logs import restored_logging
from tests.support.sim import START_MS, serve_sim
from xraybot.cli import app as cli_app
from xraybot.cli import risk_cmd
from xraybot.data.config import DATA_DIR_ENV
from xraybot.model import (
    Direction,
    IntentKind,
    Order,
    OrderIntent,
    OrderStatus,
    Position,
    Side,
    Trade,
)
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.embedded_account import exit_time
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.storage import StorageConfig, create_engine, migrate
from xraybot.storage.journal import SqlJournal
from xraybot.storage.users import SqlUserRepository
from xraybot.users.settings import UserSettings

HOUR = 3_600_000
DAY = 24 * HOUR
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "risk.toml"
Run = Callable[..., tuple[int, str, str]]

RISK: dict[str, Any] = {
    "market": "spot",
    "timeframe": "1h",
    "sizing": {"mode": "fraction", "amount": 0.1},
    "limits": {"max_open_positions": 1},
    "protections": {"cooldown": "30d"},
}
STOPPED = Trade(
    trade_id="paula-btc-1",
    user_id="paula",
    strategy="ema_cross",
    symbol="BTC/USDT",
    direction=Direction.LONG,
    amount=Decimal("0.01"),
    entry_price=Decimal("100000"),
    exit_price=Decimal("97000"),
    entry_ts_ms=START_MS - 5 * HOUR,
    exit_ts_ms=START_MS - 3 * HOUR + 1_234,
    fees=Decimal("1.5"),
    exit_reason="stop_loss",
)  # net PnL: -30 - 1.5 = -31.5


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=30) as url:
        yield url


async def _journal_round_trip(journal: SqlJournal, trade: Trade) -> None:
    """Journal the entry and the stop-loss exit that closed ``trade``."""
    amount, entry_ts = trade.amount, trade.entry_ts_ms
    intent = make_intent(
        trade.user_id, symbol=trade.symbol, amount=amount, price=trade.entry_price,
        signal_ts_ms=entry_ts,
    )  # fmt: skip
    order = await _filled(journal, intent, entry_ts)
    position = Position(
        user_id=trade.user_id, strategy=trade.strategy, symbol=trade.symbol,
        direction=trade.direction, amount=amount, entry_price=trade.entry_price,
        opened_ts_ms=entry_ts, updated_ts_ms=entry_ts,
    )  # fmt: skip
    fill = make_fill(order, f"{trade.trade_id}-in", amount, entry_ts + 2, trade.entry_price)
    assert await journal.record_fill(fill, order, position, None)
    exit_intent = make_intent(
        trade.user_id, symbol=trade.symbol, kind=IntentKind.CLOSE, side=Side.SELL,
        amount=amount, price=trade.exit_price, signal_ts_ms=trade.exit_ts_ms,
    )  # fmt: skip
    closing = await _filled(journal, exit_intent, trade.exit_ts_ms - 2)
    out = make_fill(closing, f"{trade.trade_id}-out", amount, trade.exit_ts_ms, trade.exit_price)
    assert await journal.record_fill(out, closing, None, trade)


async def _filled(journal: SqlJournal, intent: OrderIntent, ts_ms: int) -> Order:
    """Journal ``intent`` and return its order as filled whole (the fill is journaled next)."""
    pending = await journal.record_intent(intent, ts_ms)
    opened = pending.transition(OrderStatus.OPEN, ts_ms + 1, exchange_order_id=f"ex-{ts_ms}")
    await journal.record_order_update(opened)
    return opened.transition(
        OrderStatus.FILLED, ts_ms + 2, filled=intent.amount, average_price=intent.price
    )


async def _open_position(journal: SqlJournal, user_id: str, symbol: str, ts_ms: int) -> None:
    intent = make_intent(
        user_id, symbol=symbol, amount=Decimal("0.5"), price=Decimal("100"), signal_ts_ms=ts_ms
    )
    order = await _filled(journal, intent, ts_ms)
    position = Position(
        user_id=user_id, strategy="ema_cross", symbol=symbol, direction=Direction.LONG,
        amount=Decimal("0.5"), entry_price=Decimal("100"), opened_ts_ms=ts_ms,
        updated_ts_ms=ts_ms,
    )  # fmt: skip
    fill = make_fill(order, f"{user_id}-{symbol}-in", Decimal("0.5"), ts_ms + 2, Decimal("100"))
    assert await journal.record_fill(fill, order, position, None)


async def _seed(config: StorageConfig) -> None:
    engine = create_engine(config)
    try:
        users = SqlUserRepository(engine)
        paper = UserSettings.model_validate(
            {"risk": RISK, "paper": {"balance": "2000"}, "market": "spot", "leverage_cap": 1}
        )
        await users.create(
            UserProfile(user_id="paula", name="Paula", created_ts_ms=START_MS - DAY),
            paper.to_document(),
        )
        live = UserSettings.model_validate(
            {"mode": "live", "risk": RISK, "market": "spot", "leverage_cap": 1}
        )
        await users.create(
            UserProfile(
                user_id="lars", name="Lars", created_ts_ms=START_MS - DAY, mode=TradingMode.LIVE
            ),
            live.to_document(),
        )
        await users.create(
            UserProfile(user_id="dora", name="Dora", created_ts_ms=START_MS - DAY, active=False),
            paper.to_document(),
        )
        journal = SqlJournal(engine)
        await _journal_round_trip(journal, STOPPED)
        await _open_position(journal, "paula", "ETH/USDT", START_MS - 2 * HOUR)
    finally:
        await engine.dispose()


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sim_url: str,
) -> Run:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__EXCHANGE", "sim")
    journal_dir = tmp_path / "journal"
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(journal_dir))
    monkeypatch.delenv("XRAYBOT_STORAGE__DATABASE_URL", raising=False)
    storage = StorageConfig(data_dir=journal_dir)
    migrate.upgrade(storage.sqlalchemy_url())
    asyncio.run(_seed(storage))
    root = typer.Typer(
        name="xraybot", no_args_is_help=True, add_completion=False,
        pretty_exceptions_enable=False,
    )  # fmt: skip
    root.callback()(cli_app.root)
    risk_cmd.register(root)
    monkeypatch.setattr(cli_app, "build_app", lambda only=None: root)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(["risk", "explain", *argv])
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def _explain(run: Run, path: Path, *argv: str) -> tuple[dict[str, Any], str]:
    code, out, err = run(*argv, "--json", str(path))
    assert code == 0, err
    data: dict[str, Any] = json.loads(path.read_text())
    return data, out


def test_a_stop_loss_in_the_journal_keeps_the_cooldown_blocking(run: Run, tmp_path: Path) -> None:
    data, out = _explain(run, tmp_path / "btc.json", "--user", "paula", "--symbol", "BTC/USDT")
    assert data["user"] == "paula"
    assert data["exchange"] == "sim"
    assert data["symbol"] == "BTC/USDT"  # the user's spot profile, not the built-in swap one
    protections = data["protections"]
    assert protections["allowed"] is False
    assert protections["blocked_by"] == "cooldown"
    assert protections["until_ms"] == exit_time(STOPPED, HOUR) + 30 * DAY
    cooldown = next(r for r in protections["reasons"] if r["protection"] == "cooldown")
    assert cooldown["verdict"] == "blocked"
    assert data["allowed"] is False
    assert data["verdict"][0].startswith("blocked by the cooldown protection (until ")
    assert "protections fed 1 closed trade(s) from the journal of paula" in data["notes"]
    assert not any("fresh state" in note for note in data["notes"])
    assert "user paula: sim BTC/USDT (spot)" in out
    assert "NOT ALLOWED" in out


def test_equity_is_the_paper_balance_plus_realized_pnl(run: Run, tmp_path: Path) -> None:
    data, _ = _explain(run, tmp_path / "btc.json", "--user", "paula", "--symbol", "BTC/USDT")
    assert STOPPED.net_pnl == Decimal("-31.5")
    assert data["equity"] == pytest.approx(2000 - 31.5)
    paper = "equity 1968.50 USDT: paper.balance 2000 plus the realized PnL"
    assert any(note.startswith(paper) for note in data["notes"])
    given, _ = _explain(
        run, tmp_path / "given.json", "--user", "paula", "--symbol", "BTC/USDT",
        "--equity", "5000",
    )  # fmt: skip
    assert given["equity"] == 5000.0


def test_an_open_position_on_another_symbol_counts_in_the_limits(run: Run, tmp_path: Path) -> None:
    data, _ = _explain(run, tmp_path / "sol.json", "--user", "paula", "--symbol", "SOL/USDT")
    assert data["protections"]["allowed"] is True  # the cooldown is BTC's alone
    checks = {c["name"]: c for c in data["limits"]["checks"]}
    assert checks["max_open_positions"]["passed"] is False
    assert data["limits"]["allowed"] is False
    assert data["allowed"] is False
    assert float(data["notional"]) == 0
    held = [n for n in data["notes"] if n.startswith("the limits count the open positions")]
    assert len(held) == 1
    assert "ETH/USDT" in held[0]


def test_a_live_user_must_give_the_equity(run: Run, tmp_path: Path) -> None:
    code, _, err = run("--user", "lars", "--symbol", "SOL/USDT")
    assert code == 2
    assert "trades live" in err
    assert "--equity" in err
    data, _ = _explain(
        run, tmp_path / "lars.json", "--user", "lars", "--symbol", "SOL/USDT", "--equity", "3000"
    )
    assert data["equity"] == 3000.0
    assert data["user"] == "lars"


def test_user_and_config_together_are_refused(run: Run) -> None:
    code, _, err = run("--user", "paula", "--config", str(EXAMPLE), "--symbol", "BTC/USDT")
    assert code == 2
    assert "--user paula and --config" in err
    assert "Pass one" in err


def test_unknown_and_disabled_users_are_refused(run: Run) -> None:
    code, _, err = run("--user", "nobody", "--symbol", "BTC/USDT")
    assert code == 2
    assert "user 'nobody' does not exist" in err
    code, _, err = run("--user", "dora", "--symbol", "BTC/USDT")
    assert code == 2
    assert "user 'dora' is disabled" in err
    assert "xraybot users enable dora" in err
