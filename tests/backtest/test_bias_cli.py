"""``xraybot check-bias`` end to end on a CSV-layout data folder: verdict table, JSON, exit
codes (0 clean, 1 bias found) and refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.indicators.series import random_walk
from xraybot.cli.bias_cmd import register
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

LEAKY = Path(__file__).with_name("leaky_strategies.py")


def app() -> typer.Typer:
    built = typer.Typer()
    built.callback()(lambda: None)
    register(built)
    return built


def write_csv(path: Path, candles: Candles) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for row in zip(
            candles.ts_ms, candles.open, candles.high, candles.low, candles.close,
            candles.volume, strict=True,
        ):  # fmt: skip
            f.write(f"{int(row[0])},{','.join(repr(float(v)) for v in row[1:])}\n")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bias-data")
    write_csv(root / "binance" / "BTC_USDT-1h.csv.gz", random_walk(3000, seed=1))
    write_csv(root / "binance" / "ETH_USDT-1h.csv.gz", random_walk(3000, seed=2))
    return root


def run(data_dir: Path, tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    out = tmp_path / "bias.json"
    argv = [
        "check-bias", "--data-dir", str(data_dir), "--exchange", "binance",
        "--symbols", "BTC/USDT,ETH/USDT", "--timeframe", "1h", "--json", str(out), *args,
    ]  # fmt: skip
    result = CliRunner().invoke(app(), argv, env={"COLUMNS": "240"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    payload = json.loads(out.read_text()) if out.is_file() else None
    return result.exit_code, result.output, payload


def test_a_clean_builtin_passes_with_exit_code_0(data_dir: Path, tmp_path: Path) -> None:
    code, output, payload = run(data_dir, tmp_path, "--strategy", "ema_cross")
    assert code == 0, output
    assert "no bias found in 2 series" in output
    assert output.count(" ok ") == 4  # two symbols x two checks
    assert payload is not None
    assert payload["passed"] is True
    assert payload["strategy"] == "ema_cross"
    assert [r["symbol"] for r in payload["results"]] == ["BTC/USDT", "ETH/USDT"]
    for result in payload["results"]:
        assert result["exchange"] == "binance"
        assert result["candles"] == 3000
        assert result["lookahead"]["passed"]
        assert result["recursive"]["passed"]


def test_peeking_ahead_fails_with_exit_code_1(data_dir: Path, tmp_path: Path) -> None:
    code, output, payload = run(
        data_dir, tmp_path, "--strategy", f"{LEAKY}:PeekAhead", "--max-points", "50"
    )
    assert code == 1
    assert "BIAS" in output
    assert "bias found in 2 of 2 series" in output
    assert payload is not None
    assert payload["passed"] is False
    lookahead = payload["results"][0]["lookahead"]
    assert lookahead["points"] == 50
    entry = next(a for a in lookahead["arrays"] if a["name"] == "entry_long")
    assert entry["differing"] > 0
    assert entry["first_indices"]


def test_a_short_warmup_fails_and_the_json_suggests_one(data_dir: Path, tmp_path: Path) -> None:
    code, output, payload = run(
        data_dir, tmp_path, "--strategy", f"{LEAKY}:ShortWarmupEma",
        "--params", '{"period": 50}', "--offsets", "1,400",
    )  # fmt: skip
    assert code == 1
    assert "declared 5" in output
    assert payload is not None
    assert payload["params"] == {"period": 50}
    recursive = payload["results"][0]["recursive"]
    assert recursive["offsets"] == [1, 400]
    assert recursive["declared_warmup"] == 5
    assert 50 < recursive["suggested_warmup"] < 1000
    assert payload["results"][0]["lookahead"]["passed"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--strategy", "ema_cross", "--offsets", "1,x"), "--offsets"),
        (("--strategy", "ema_cross", "--params", "[1]"), "--params"),
        (("--strategy", "ema_cross", "--params", '{"fast_period": 0}'), "fast_period"),
        (("--strategy", "no_such_strategy"), "no_such_strategy"),
    ],
)
def test_bad_input_is_refused(
    data_dir: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        run(data_dir, tmp_path, *args)
    assert not (tmp_path / "bias.json").exists()


def test_missing_candles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no 1h candles of BTC/USDT"):
        run(tmp_path, tmp_path, "--strategy", "ema_cross")
