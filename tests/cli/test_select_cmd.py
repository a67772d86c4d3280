"""``xraybot select`` end to end: the bundled sample as of a past day, and the simulator live."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.logs import restored_logging
from tests.support.sim import serve_sim
from xraybot.cli import app as cli_app
from xraybot.cli import select_cmd
from xraybot.data.config import DATA_DIR_ENV
from xraybot.data.importers import import_path
from xraybot.data.sample import sample_dir
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.sim.config import RateLimits, SimConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "select.toml"
Run = Callable[..., tuple[int, str, str]]
AS_OF = "2025-12-01"
AS_OF_MS = 1_764_547_200_000
QUICK = """[select]
history_days = {days}
min_oos_candles = 50
min_sharpe = "off"
"""


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample-store")
    import_path(sample_dir(), CandleStore(root), UniverseStore(root))
    return root


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=12) as url:
        yield url


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    sim_url: str,
) -> Run:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    # The result cache lives in the journal: this test's own, whatever the environment says.
    monkeypatch.setenv("XRAYBOT_STORAGE__DATA_DIR", str(tmp_path / "journal"))
    monkeypatch.delenv("XRAYBOT_STORAGE__DATABASE_URL", raising=False)
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # Rich tables: no wrapped cells
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", sim_url)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__EXCHANGE", "sim")
    if "select" not in cli_app.COMMANDS:  # until cli/app.py registers it
        monkeypatch.setitem(cli_app.COMMANDS, "select", select_cmd.register)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(list(argv))
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    return invoke


def quick(tmp_path: Path, days: int, extra: str = "") -> str:
    path = tmp_path / "select.toml"
    path.write_text(QUICK.format(days=days) + extra)
    return str(path)


def test_selects_from_the_sample_as_of_a_past_day(
    run: Run, sample_store: Path, tmp_path: Path
) -> None:
    out_json = tmp_path / "select.json"
    argv = ["select", "--exchange", "binance", "--data-dir", str(sample_store), "--as-of", AS_OF]
    code, out, err = run(
        *argv, "--select-config", quick(tmp_path, 120), "--no-cache", "--json", str(out_json)
    )
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert {"selected", "rejected", "recommendations", "cache", "screen", "thresholds"} <= set(data)
    survivors = [row["symbol"] for row in data["screen"]["passed"]]
    assert survivors, data["screen"]
    verdicts = data["selected"] + data["rejected"]
    assert sorted(s["symbol"] for s in verdicts) == sorted(survivors)  # none dropped silently
    assert data["as_of_ms"] == AS_OF_MS
    assert data["window"]["end_ms"] == AS_OF_MS - 3_600_000 + 1
    for verdict in verdicts:
        assert verdict["metrics"]["end_ms"] <= AS_OF_MS  # nothing after the as-of day
        assert verdict["oos_candles"] == round(120 * 24 * 0.3)
        rec = data["recommendations"][verdict["symbol"]]
        assert rec["strategy"] in {s["strategy"] for s in rec["scores"]}
        assert rec["regime"] in ("up", "down", "range")
        if verdict["verdict"] == "rejected":
            assert verdict["stage"] == "thresholds"
            assert verdict["reasons"]
    assert data["cache"]["enabled"] is False
    assert data["cache"]["hits"] == 0
    assert f"of {len(survivors)} survivors selected" in out
    assert "cache: off (--no-cache)" in out
    assert "OOS backtests" in err  # the progress bar


def test_the_cache_serves_a_repeated_selection(
    run: Run, sample_store: Path, tmp_path: Path
) -> None:
    # No `xraybot db upgrade` first: the local SQLite journal is migrated on first use.
    argv = ["select", "--exchange", "binance", "--data-dir", str(sample_store), "--as-of", AS_OF]
    config = quick(tmp_path, 60, 'strategy = "rsi_reversion"\nrecommend = false\n')
    code, out, err = run(*argv, "--select-config", config, "--top", "3")
    assert code == 0, err
    assert "cache: 0 from cache, 3 computed, 0 recomputed" in out, out
    path = tmp_path / "again.json"
    code, out, err = run(*argv, "--select-config", config, "--top", "3", "--json", str(path))
    assert code == 0, err
    assert "cache: 3 from cache, 0 computed, 0 recomputed" in out
    cache = json.loads(path.read_text())["cache"]
    assert (cache["enabled"], cache["hits"], cache["computed"]) == (True, 3, 0)


def test_selects_live_from_the_simulator_downloading_what_is_missing(
    run: Run, tmp_path: Path
) -> None:
    out_json = tmp_path / "live.json"
    code, _out, err = run(
        "select", "--exchange", "sim", "--top", "2", "--strategy", "rsi_reversion",
        "--min-return", "off", "--min-trades", "0", "--max-drawdown", "0.9",
        "--select-config", quick(tmp_path, 40), "--no-cache", "--json", str(out_json),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert data["as_of_ms"] is None
    assert data["exchange"] == "sim"
    downloaded = {s["symbol"]: s for s in data["download"]["symbols"]}
    survivors = [row["symbol"] for row in data["screen"]["passed"]]
    assert set(downloaded) == set(survivors)
    assert len(survivors) == 2
    verdicts = data["selected"] + data["rejected"]
    assert {s["symbol"] for s in verdicts} == set(survivors)
    for verdict in verdicts:
        assert verdict["strategy"] == "rsi_reversion"
        assert verdict["candles"] >= 40 * 24 - 2  # the history the store now holds
    assert data["thresholds"] == {
        "min_return": None, "min_sharpe": None, "max_drawdown": 0.9, "min_trades": 0,
    }  # fmt: skip
    assert "all symbols" in err  # the download's progress bar


def test_a_survivor_without_candles_is_rejected_with_the_reason(
    run: Run, sample_store: Path, tmp_path: Path
) -> None:
    # The screen reads 1h candles; selection asks for 4h ones, which the store lacks.
    path = tmp_path / "out.json"
    argv = ["select", "--exchange", "binance", "--data-dir", str(sample_store), "--as-of", AS_OF]
    code, _, err = run(
        *argv, "--timeframe", "4h", "--top", "2", "--strategy", "ema_cross", "--no-cache",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(path.read_text())
    assert data["selected"] == []
    assert len(data["rejected"]) == 2
    for verdict in data["rejected"]:
        assert verdict["stage"] == "data"
        assert verdict["reasons"][0].startswith("no 4h candles: no 4h candles of ")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--min-sharpe", "high"], "select.min_sharpe: expected"),
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--top", "0"], "--top must be at least 1; found 0"),
        (["--exchange", "nosuchexchange"], "'nosuchexchange'"),
    ],
)
def test_bad_arguments_are_named(run: Run, sample_store: Path, argv: list[str], named: str) -> None:
    where = ["--exchange", "binance", "--data-dir", str(sample_store), "--as-of", AS_OF]
    code, _, err = run("select", *where, *argv)
    assert code == 2, err
    assert named in " ".join(err.split())


def test_the_example_config_loads(run: Run, sample_store: Path, tmp_path: Path) -> None:
    argv = ["select", "--exchange", "binance", "--data-dir", str(sample_store), "--as-of", AS_OF]
    code, out, err = run(*argv, "--select-config", str(EXAMPLE), "--top", "2", "--no-cache")
    assert code == 0, err
    assert "survivors selected" in out
