"""``xraybot users`` and ``xraybot keys rotate`` end to end, against the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Run, cli_session
from tests.support.sim import serve_sim
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.users.credentials import new_master_key

SECRET = "sim-demo-secret"
KEY = "sim-demo-key"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    # Every command loads the markets afresh: the simulator's rate limits would refuse some.
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=4) as url:
        yield url


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sim_url: str,
) -> Run:
    return cli_session(monkeypatch, capsys, tmp_path / "journal", sim_url)


def add_alice(run: Run, tmp_path: Path) -> tuple[int, str, str]:
    return run(
        "users", "add", "alice", "--api-key", KEY, "--secret-stdin",
        "--set", "market=spot", "--set", "leverage_cap=1",
        "--json", str(tmp_path / "added.json"),
        stdin=SECRET + "\n",
    )  # fmt: skip


def test_add_list_show_set_disable_remove(run: Run, tmp_path: Path) -> None:
    code, out, err = add_alice(run, tmp_path)
    assert code == 0, err
    assert "sim-…key" in out

    code, out, err = run("users", "list", "--json", str(tmp_path / "list.json"))
    assert code == 0, err
    assert "alice" in out
    assert "sim-…key" in out
    listed = json.loads((tmp_path / "list.json").read_text())
    assert listed[0]["api_key"] == "sim-…key"
    assert listed[0]["settings"]["market"] == "spot"

    code, out, err = run("users", "set", "alice", "trade_fraction=0.25", "mode=live")
    assert code == 0, err
    code, out, err = run("users", "show", "alice", "--json", str(tmp_path / "show.json"))
    assert code == 0, err
    shown = json.loads((tmp_path / "show.json").read_text())
    assert shown["settings"]["trade_fraction"] == 0.25
    assert shown["mode"] == "live"

    assert run("users", "disable", "alice")[0] == 0
    assert json.loads(_show_json(run, tmp_path))["active"] is False
    assert run("users", "remove", "alice", "--yes")[0] == 0
    code, _, err = run("users", "show", "alice")
    assert code == 2
    assert "alice" in err

    everything = "".join(p.read_text() for p in tmp_path.glob("*.json"))
    assert SECRET not in everything
    assert KEY not in everything


def _show_json(run: Run, tmp_path: Path) -> str:
    path = tmp_path / "again.json"
    assert run("users", "show", "alice", "--json", str(path))[0] == 0
    return path.read_text()


def test_refused_keys_are_a_clear_error_and_nothing_is_stored(run: Run, tmp_path: Path) -> None:
    code, out, err = run(
        "users", "add", "mallory", "--api-key", "sim-wrong-key-123", "--secret-stdin",
        stdin="not-the-secret\n",
    )  # fmt: skip
    assert code != 0
    assert "AuthenticationError" in err or "key" in err.lower()
    assert "not-the-secret" not in out + err

    code, out, _ = run("users", "list", "--json", str(tmp_path / "list.json"))
    assert code == 0
    assert json.loads((tmp_path / "list.json").read_text()) == []


def test_a_bad_setting_names_the_key(run: Run) -> None:
    code, _, err = run("users", "add", "bob", "--no-keys", "--set", "mode=demo")
    assert code == 2
    assert "settings.mode" in err


def test_secrets_never_reach_output_or_debug_logs(run: Run, tmp_path: Path) -> None:
    code, out, err = add_alice(run, tmp_path)
    assert code == 0, err
    outputs = [out, err]
    for argv in (("users", "list"), ("users", "show", "alice"), ("keys", "rotate")):
        code, out, err = run(*argv)
        assert code == 0, err
        outputs += [out, err]
    text = "".join(outputs)
    assert SECRET not in text
    assert KEY not in text


def test_keys_rotate_through_the_cli(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    assert add_alice(run, tmp_path)[0] == 0
    old = os.environ["XRAYBOT_USERS__MASTER_KEY"]
    new = new_master_key()
    monkeypatch.setenv("XRAYBOT_USERS__MASTER_KEY", new)
    monkeypatch.setenv("XRAYBOT_USERS__PREVIOUS_MASTER_KEY", old)

    code, out, err = run("keys", "rotate", "--json", str(tmp_path / "rotate.json"))
    assert code == 0, err
    report = json.loads((tmp_path / "rotate.json").read_text())
    assert report["rewrapped"] == ["alice"]
    assert report["remaining"] == 0
    code, out, _ = run("keys", "rotate")  # again: nothing left to do
    assert code == 0
    assert "re-wrapped 0" in out

    monkeypatch.delenv("XRAYBOT_USERS__PREVIOUS_MASTER_KEY")
    code, out, err = run("users", "show", "alice")
    assert code == 0, err
    assert "sim-…key" in out


def test_rotate_help_explains_the_procedure(run: Run) -> None:
    code, out, _ = run("keys", "rotate", "--help")
    assert code == 0
    assert "previous_master_key" in out
