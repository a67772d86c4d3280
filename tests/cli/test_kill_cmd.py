"""``xraybot kill``: pull and clear the kill switch in the journal's database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.logs import restored_logging
from xraybot.cli import app as cli_app
from xraybot.cli import kill_cmd
from xraybot.storage import StorageConfig, create_engine
from xraybot.storage.kill_switch import KillSwitches, SqlKillSwitch

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("XRAYBOT_STORAGE__DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setitem(cli_app.COMMANDS, "kill", kill_cmd.register)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(list(argv))
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    code, _, err = invoke("db", "upgrade")
    assert code == 0, err
    return invoke


def switches(tmp_path: Path) -> KillSwitches:
    async def read() -> KillSwitches:
        engine = create_engine(StorageConfig(data_dir=tmp_path / "journal"))
        try:
            return await SqlKillSwitch(engine).read()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_pull_and_clear_per_user_and_global(run: Run, tmp_path: Path) -> None:
    code, out, err = run("kill", "--user", "alice", "--reason", "margin call")
    assert code == 0, err
    assert "alice" in out
    assert switches(tmp_path) == KillSwitches(users={"alice": "margin call"})

    out_json = tmp_path / "kill.json"
    code, out, err = run("kill", "--reason", "exchange outage", "--json", str(out_json))
    assert code == 0, err
    assert json.loads(out_json.read_text()) == {
        "action": "pull",
        "user": None,
        "changed": True,
        "global": "exchange outage",
        "users": {"alice": "margin call"},
    }
    assert switches(tmp_path).reason_for("bob") == "exchange outage"

    code, out, err = run("kill", "--clear")
    assert code == 0, err
    assert "cleared" in out
    assert switches(tmp_path) == KillSwitches(users={"alice": "margin call"})

    code, out, err = run("kill", "--clear", "--user", "alice")
    assert code == 0, err
    code, out, err = run("kill", "--clear", "--user", "alice")
    assert code == 0, err
    assert "was not set" in out
    assert switches(tmp_path) == KillSwitches()


def test_the_global_row_name_is_not_a_user(run: Run) -> None:
    code, _, err = run("kill", "--user", "*")
    assert code != 0
    assert "--user" in err
