"""Run the CLI in-process and read its exit code and output: one command, or a session of
commands on a fresh journal with a new master key (the users and keys tests)."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.logs import restored_logging
from tests.support.shared import REFERENCE_DIR
from xraybot.cli.app import main
from xraybot.users.credentials import new_master_key

Run = Callable[..., tuple[int, str, str]]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with restored_logging(), pytest.raises(SystemExit) as caught:
        main(argv)
    out = capsys.readouterr()
    code = caught.value.code
    return (code if isinstance(code, int) else 1), out.out, out.err


def golden_command(json_path: Path, *extra: str) -> list[str]:
    return [
        "backtest",
        "--strategy",
        "rsi_reversion",
        "--data-dir",
        str(REFERENCE_DIR / "data"),
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT,ETH/USDT",
        "--timeframe",
        "1h",
        "--fee",
        "0.001",
        "--stake",
        "all",
        "--equity",
        "10000",
        "--json",
        str(json_path),
        *extra,
    ]


def cli_session(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    journal_dir: Path,
    sim_url: str,
) -> Run:
    """Return ``run(*argv, stdin="")`` for CLI commands on a migrated SQLite journal in
    ``journal_dir``, the simulator at ``sim_url`` and a new master key, logging at DEBUG.

    DEBUG is on so that tests which search the output for secrets search the most verbose
    logs; no previous master key or database URL leaks in from the environment.
    """
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(journal_dir))
    monkeypatch.delenv("XRAYBOT_STORAGE__DATABASE_URL", raising=False)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    monkeypatch.setenv("XRAYBOT_USERS__MASTER_KEY", new_master_key())
    monkeypatch.delenv("XRAYBOT_USERS__PREVIOUS_MASTER_KEY", raising=False)
    monkeypatch.setenv("XRAYBOT_RUNTIME__LOGGING__LEVEL", "DEBUG")
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        with restored_logging(), pytest.raises(SystemExit) as caught:
            main(list(argv))
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    code, _, err = invoke("db", "upgrade")
    assert code == 0, err
    return invoke
