from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from cryptography.fernet import Fernet
from sqlalchemy.engine import URL

from tests.support.cli import run
from xraybot import __version__
from xraybot.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "xraybot.toml"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"xraybot {__version__}"


def test_only_commands_that_exist_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    # Commands of later issues are absent until they work: no placeholders.
    root = typer.main.get_command(app)
    commands = root.commands  # type: ignore[attr-defined]
    assert set(commands) == {
        "backtest",
        "check-bias",
        "config",
        "data",
        "db",
        "demo",
        "exchange",
        "fees",
        "keys",
        "kill",
        "optimize",
        "risk",
        "run",
        "screen",
        "select",
        "sim",
        "strategies",
        "users",
        "walkforward",
        "xray",
    }
    assert set(commands["config"].commands) == {"check", "new-master-key"}
    assert set(commands["db"].commands) == {"upgrade"}
    assert set(commands["exchange"].commands) == {"check"}
    assert set(commands["data"].commands) == {"import", "list", "download", "watch", "universe"}
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "config" in out


def test_config_check_passes_on_the_example(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    code, out, _ = run(["config", "check", str(EXAMPLE), "--json", str(report)], capsys)
    assert code == 0
    assert "valid" in out
    assert json.loads(report.read_text()) == {"file": str(EXAMPLE), "ok": True, "problems": []}


def test_config_check_names_each_bad_key_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(
        "[runtime.logging]\nformat = 'xml'\n[storage]\npool_size = 1000\ncolour = 'red'\n"
    )
    report = tmp_path / "report.json"
    code, _, err = run(["config", "check", str(broken), "--json", str(report)], capsys)
    assert code == 1
    payload = json.loads(report.read_text())
    assert payload["ok"] is False
    keys = {p["key"] for p in payload["problems"]}
    assert keys == {"runtime.logging.format", "storage.pool_size", "storage.colour"}
    for key in keys:
        assert key in err
    pool = next(p for p in payload["problems"] if p["key"] == "storage.pool_size")
    assert pool["found"] == "1000"
    assert "200" in pool["expected"]


def test_usage_errors_exit_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["config", "check"], capsys)
    assert code == 2
    assert "Missing argument" in err or "Missing parameter" in err


def test_config_check_of_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(["config", "check", str(tmp_path / "nope.toml")], capsys)
    assert code == 1
    assert "does not exist" in err


def test_new_master_key_is_a_usable_fernet_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["config", "new-master-key"], capsys)
    assert code == 0
    Fernet(out.strip().encode())


def test_a_bad_config_stops_other_commands_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[storage]\npool_size = 0\n")
    code, _, err = run(["--config", str(broken), "db", "upgrade"], capsys)
    assert code == 2
    assert "storage.pool_size" in err
    assert "Traceback" not in err


def test_db_upgrade_on_sqlite_is_idempotent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "data"))
    report = tmp_path / "db.json"
    code, out, _ = run(["db", "upgrade", "--json", str(report)], capsys)
    assert code == 0, out
    assert (tmp_path / "data" / "xraybot.sqlite3").exists()
    first = json.loads(report.read_text())
    assert first["before"] is None
    assert first["revision"]
    code, out, _ = run(["db", "upgrade", "--json", str(report)], capsys)
    assert code == 0
    assert "already at" in out
    assert json.loads(report.read_text())["before"] == first["revision"]


def test_db_upgrade_on_postgres(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: URL,
) -> None:
    monkeypatch.setenv(
        "XRAYBOT_STORAGE__DATABASE_URL", postgres_url.render_as_string(hide_password=False)
    )
    code, out, err = run(["db", "upgrade"], capsys)
    assert code == 0, err
    assert postgres_url.database is not None
    assert postgres_url.database in out


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("xraybot")
    result = subprocess.run(
        [str(script), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("xraybot ")


def test_the_demo_runs_end_to_end_on_loopback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report_path = tmp_path / "demo.json"
    html = tmp_path / "xray.html"
    argv = ["demo", "--port", "0", "--symbols", "40", "--seconds", "0", "--json", str(report_path)]
    argv += ["--report", str(html)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert report["sim_url"].startswith("http://127.0.0.1:")
    assert report["check"]["spot_markets"] == 40
    assert len(report["top_by_volume"]) == 10
    volumes = [float(t["quote_volume_24h"]) for t in report["top_by_volume"]]
    assert volumes == sorted(volumes, reverse=True)
    assert report["paper_order"]["status"] == "filled"
    assert float(report["paper_usdt_after"]) < float(report["paper_usdt_before"])
    assert "busiest spot markets" in out
    # The demo screens the universe and writes the X-ray report.
    assert report["screen"]["universe_size"] == 40
    assert html.read_text().startswith("<!DOCTYPE html>") or "<html" in html.read_text()[:500]
    assert report["xray_report"] == str(html.resolve())
    # Then it backtests built-ins on the bundled sample; the report lands next to the X-ray.
    backtest = report["backtest"]
    assert backtest["report"] == str((tmp_path / "backtest-report.html").resolve())
    assert (tmp_path / "backtest-report.html").read_text().startswith("<!DOCTYPE html>")
    assert {r["strategy"] for r in backtest["runs"]} >= {"rsi_reversion", "ema_cross"}
    assert max(r["trades"] for r in backtest["runs"]) > 0
    # And explains the next entry's risk on three perpetuals.
    risk = report["risk"]
    assert len(risk["rows"]) == 3
    assert all(r["explanation"]["leverage"]["value"] >= 1 for r in risk["rows"])
    assert all(isinstance(r["total_return"], float) for r in backtest["runs"])
    assert len(backtest["walk_forward"]["windows"]) == 2
    assert "backtests on the bundled sample" in out
    # Last, three paper users trade on the simulator; at least one closes a trade.
    assert sum(u["trades"] for u in report["trading"]["users"]) > 0
