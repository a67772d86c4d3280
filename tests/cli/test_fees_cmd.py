"""``fees open|flow|statement|show`` through a Typer app of its own, on a SQLite journal.

Months are in 2020, long ended whatever today's date, so settling never depends on the
wall clock (previews of a running month are tested in tests/services/test_fees.py).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from xraybot.cli import fees_cmd
from xraybot.model.errors import InvalidInputError
from xraybot.model.users import UserProfile
from xraybot.storage import StorageConfig, create_engine, migrate
from xraybot.storage.users import SqlUserRepository
from xraybot.users.settings import UserSettings, with_changes

USER = "carol"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> typer.Typer:
    data_dir = tmp_path / "journal"
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(data_dir))
    monkeypatch.delenv("XRAYBOT_STORAGE__DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    config = StorageConfig(data_dir=data_dir)
    migrate.upgrade(config.sqlalchemy_url())

    async def add_user() -> None:
        engine = create_engine(config)
        try:
            settings = with_changes(
                UserSettings(), ["paper.balance=2000", "fees.performance_rate=0.1"], where="test"
            )
            await SqlUserRepository(engine).create(
                UserProfile(user_id=USER, name="Carol", created_ts_ms=1_577_836_800_000),
                settings.to_document(),
            )
        finally:
            await engine.dispose()

    asyncio.run(add_user())
    app = typer.Typer()
    app.callback()(lambda: None)
    app.add_typer(fees_cmd.app, name="fees")
    return app


def run(app: typer.Typer, *argv: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["fees", *argv])
    return result.exit_code, result.output, result.exception


def test_open_flow_statement_show(cli: typer.Typer, tmp_path: Path) -> None:
    code, out, error = run(cli, "open", "--user", USER, "--at", "2020-01-01T00:00:01Z")
    assert code == 0, (out, error)
    assert "equity 2000" in out
    assert "rate 0.1" in out

    code, out, error = run(
        cli, "flow", "--user", USER, "--amount", "500", "--at", "2020-01-10", "--note", "top-up"
    )
    assert code == 0, (out, error)
    assert "deposit of 500" in out
    code, out, error = run(cli, "flow", "--user", USER, "--amount", "-200", "--at", "2020-01-20")
    assert code == 0, (out, error)
    assert "withdrawal of 200" in out

    first = tmp_path / "statement.json"
    code, out, error = run(
        cli, "statement", "--user", USER, "--month", "2020-01", "--json", str(first)
    )
    assert code == 0, (out, error)
    assert "settled" in out
    assert "performance fee" in out
    document = json.loads(first.read_text())
    assert document["status"] == "settled"
    statement = document["statement"]
    assert (statement["deposits"], statement["withdrawals"]) == ("500", "200")
    assert statement["equity_end"] == "2300"  # no trades: the flows only, never a gain
    assert statement["hwm_after"] == "2300"
    assert Decimal(statement["performance_fee"]) == 0

    again = tmp_path / "again.json"
    code, out, error = run(
        cli, "statement", "--user", USER, "--month", "2020-01", "--json", str(again)
    )
    assert code == 0, (out, error)
    assert "issued before" in out
    assert json.loads(again.read_text())["statement"] == statement

    shown = tmp_path / "show.json"
    code, out, error = run(cli, "show", "--user", USER, "--json", str(shown))
    assert code == 0, (out, error)
    assert "next_month: 2020-02" in out
    view = json.loads(shown.read_text())
    assert view["settled_month"] == "2020-01"
    assert view["high_water_mark"] == "2300"
    assert view["statements"][0]["month"] == "2020-01"


def refused(result: tuple[int, str, BaseException | None], says: str) -> None:
    code, _, error = result
    assert code != 0
    assert isinstance(error, InvalidInputError)
    assert says in str(error)


def test_mistakes_are_refused_saying_what_to_do(cli: typer.Typer) -> None:
    refused(run(cli, "show", "--user", USER), "fees open --user carol")

    assert run(cli, "open", "--user", USER, "--at", "2020-01-01")[0] == 0
    refused(run(cli, "open", "--user", USER), "already has a fee account")

    refused(run(cli, "statement", "--user", USER, "--month", "2020-02"), "must settle 2020-01")

    refused(run(cli, "statement", "--user", USER, "--month", "2020/01"), "YYYY-MM")

    refused(run(cli, "statement", "--user", USER, "--month", "9998-01"), "has not started")

    refused(run(cli, "flow", "--user", USER, "--amount", "lots"), "--amount")

    refused(run(cli, "flow", "--user", USER, "--amount", "0", "--at", "2020-01-05"), "found 0")
