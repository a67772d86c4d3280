"""After a full live run with DEBUG logging, no user's exchange key or secret is anywhere.

Two users are added through ``xraybot users add`` (keys checked against the simulator, the
secret read from stdin), listed, shown, then traded by ``xraybot run --allow-live``. Every
line written to stdout and stderr (the logs included), every ``--json`` file, every column of
every table of the SQLite journal and the database file's raw bytes are searched for the raw
keys and secrets.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Run, cli_session
from tests.support.sim import new_account, serve_sim, sim_orders
from xraybot.sim.config import RateLimits, SimConfig

STRATEGY = """
from typing import ClassVar

import numpy as np

from xraybot.strategy.base import Param, Signals, Strategy


class AlwaysTrade(Strategy):
    name: ClassVar[str] = "always_trade"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(self, candles, params, cache=None):
        yes = np.ones(len(candles), dtype=bool)
        return Signals(entry_long=yes, exit_long=yes.copy())

    def warmup(self, params):
        return 1
"""
# The only columns allowed to hold anything derived from a credential: its ciphertext.
ENCRYPTED = {("credentials", "api_key_token"), ("credentials", "secret_token")}


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=6) as url:
        yield url


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sim_url: str,
) -> Run:
    return cli_session(monkeypatch, capsys, tmp_path / "journal", sim_url)


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


def database_leaks(path: Path, secrets: dict[str, str]) -> list[str]:
    """Every (table.column: secret) whose raw value holds a secret, outside the ciphertexts."""
    found: list[str] = []
    with sqlite3.connect(path) as conn:
        tables_ = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"credentials", "orders", "fills"} <= set(tables_), tables_
        for table in tables_:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                # The names come from the database's own catalogue, not from outside.
                query = f'SELECT "{column}" FROM "{table}"'  # noqa: S608
                for (value,) in conn.execute(query):
                    raw = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if (table, column) in ENCRYPTED:
                        continue
                    found += [f"{table}.{column}: {name}" for name in leaks(raw, secrets)]
    return found


def test_a_full_debug_run_shows_no_key_or_secret(run: Run, sim_url: str, tmp_path: Path) -> None:
    strategy = tmp_path / "always.py"
    strategy.write_text(STRATEGY)
    secrets: dict[str, str] = {}
    users = {"alice": "spot", "bob": "swap"}
    symbols = {"spot": "BTC/USDT", "swap": "BTC/USDT:USDT"}
    keys: dict[str, str] = {}
    outputs: list[str] = []
    for user_id, market in users.items():
        key, secret = new_account(sim_url)
        keys[user_id] = key
        secrets[f"{user_id}'s api key"] = key
        secrets[f"{user_id}'s secret"] = secret
        code, out, err = run(
            "users", "add", user_id, "--api-key", key, "--secret-stdin",
            "--set", f"market={market}", "--set", "mode=live", "--set", "leverage_cap=1",
            "--set", f'selection.symbols=["{symbols[market]}"]',
            "--set", "selection.screener=false",
            "--set", f"strategy.name={strategy}:AlwaysTrade", "--set", "strategy.timeframe=1m",
            "--json", str(tmp_path / f"add-{user_id}.json"),
            stdin=secret + "\n",
        )  # fmt: skip
        assert code == 0, err
        outputs += [out, err]
        code, out, err = run("users", "show", user_id, "--json", str(tmp_path / f"{user_id}.json"))
        assert code == 0, err
        outputs += [out, err]
    code, out, err = run("users", "list", "--json", str(tmp_path / "list.json"))
    assert code == 0, err
    outputs += [out, err]

    code, out, err = run(
        "run", "--allow-live", "--seconds", "3", "--json", str(tmp_path / "r.json")
    )
    assert code == 0, err
    outputs += [out, err]
    stats = json.loads((tmp_path / "r.json").read_text())
    assert stats["refused"] == {}
    # The run did trade live, signed requests and all, and logged at DEBUG while it did.
    for user_id in users:
        assert sim_orders(sim_url, keys[user_id]), f"{user_id} placed no order"
    assert "debug" in err.lower()
    assert "order placed" in err

    everything = "\n".join(outputs)
    everything += "".join(p.read_text() for p in sorted(tmp_path.glob("*.json")))
    assert leaks(everything, secrets) == []
    database = tmp_path / "journal" / "xraybot.sqlite3"
    assert database_leaks(database, secrets) == []
    # Not even a freed page or a journal file keeps a plaintext copy.
    for path in sorted((tmp_path / "journal").iterdir()):
        assert leaks(path.read_bytes().decode("latin-1"), secrets) == [], path.name
