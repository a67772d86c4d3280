"""``xraybot data import`` and ``xraybot data list`` through ``xraybot.cli.app.main``.

Every test points the store at tmp_path and the per-user data folder at another tmp folder,
then checks that the latter was never created: nothing is written outside the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from typer.models import TyperInfo

from tests.data.importer_files import HOUR_MS, good_rows, write_our_csv, write_text
from tests.support.logs import restored_logging
from xraybot.cli import app as cli_app
from xraybot.cli import data as data_cli
from xraybot.data.config import DATA_DIR_ENV, default_data_dir
from xraybot.data.sample import SAMPLE_SYMBOLS
from xraybot.data.store import CandleStore
from xraybot.data.store_checks import RULES, VOLUME_NON_NEGATIVE

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[Run]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # Rich tables: no wrapped cells
    default = default_data_dir()
    assert default.is_relative_to(tmp_path / "user-data")
    if "data" not in {group.name for group in cli_app.app.registered_groups}:
        # Until cli/app.py registers the group: the real root app plus `data`.
        root = typer.Typer(
            name="xraybot", no_args_is_help=True, add_completion=False,
            pretty_exceptions_enable=False,
        )  # fmt: skip
        root.registered_callback = cli_app.app.registered_callback
        root.registered_commands = list(cli_app.app.registered_commands)
        root.registered_groups = [
            *cli_app.app.registered_groups,
            TyperInfo(data_cli.app, name="data"),
        ]
        monkeypatch.setattr(cli_app, "app", root)

    def invoke(*argv: str) -> tuple[int, str, str]:
        with restored_logging(), pytest.raises(SystemExit) as caught:
            cli_app.main(["data", *argv])
        out = capsys.readouterr()
        code = caught.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    yield invoke
    assert not default.exists(), "a data command wrote outside --data-dir/XRAYBOT_DATA_DIR"
    assert not (tmp_path / "user-data").exists()


def test_import_one_file_into_data_dir(run: Run, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    path = write_our_csv(tmp_path / "in" / "binance" / "BTC_USDT-1h.csv.gz", good_rows(24))
    code, out, err = run("import", str(path), "--data-dir", str(store_dir))
    assert code == 0, err
    assert "1 imported, 0 refused, 0 skipped" in out
    assert "BTC/USDT" in out
    assert len(CandleStore(store_dir).read("binance", "BTC/USDT", "1h")) == 24


def test_the_environment_variable_names_the_store(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "from-env"
    monkeypatch.setenv(DATA_DIR_ENV, str(store_dir))
    path = write_our_csv(tmp_path / "in" / "data.csv", good_rows(5))
    args = ("--exchange", "mexc", "--symbol", "PEPE/USDT", "--timeframe", "1h")
    code, _, err = run("import", str(path), *args)
    assert code == 0, err
    assert [k.symbol for k in CandleStore(store_dir).series("mexc")] == ["PEPE/USDT"]


def test_a_folder_with_a_bad_file_imports_the_rest_and_exits_2(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "in" / "kucoin"
    rows = good_rows(40)
    write_our_csv(folder / "ADA_USDT-1h.csv.gz", rows)
    bad = [list(r) for r in rows]
    for i in range(5, 35):
        bad[i][5] = -1.0
    bad_path = write_our_csv(folder / "BAD_USDT-1h.csv.gz", bad)
    report = tmp_path / "report.json"
    store_dir = tmp_path / "store"
    code, out, err = run("import", str(folder), "--data-dir", str(store_dir), "--json", str(report))
    assert code == 2
    assert f"refused {bad_path}" in err
    assert f"{bad_path}, line 7: found volume=-1.0; {RULES[VOLUME_NON_NEGATIVE]}" in err
    assert "… and 10 more" in err
    assert sum("found volume=-1.0" in line for line in err.splitlines()) == 20
    assert "1 imported, 1 refused, 0 skipped" in out
    payload = json.loads(report.read_text())
    assert (payload["imported"], payload["refused"], payload["skipped"]) == (1, 1, 0)
    assert payload["data_dir"] == str(store_dir)
    refused = next(f for f in payload["files"] if f["status"] == "refused")
    assert refused["problem_count"] == 30
    assert refused["problems"][0] == {
        "file": str(bad_path),
        "unit": "line",
        "number": 7,
        "found": "volume=-1.0",
        "rule": RULES[VOLUME_NON_NEGATIVE],
    }
    assert [k.symbol for k in CandleStore(store_dir).series()] == ["ADA/USDT"]


def test_import_needs_a_path_or_sample(run: Run, tmp_path: Path) -> None:
    store_dir = str(tmp_path / "store")
    code, _, err = run("import", "--data-dir", store_dir)
    assert code == 2
    assert "either a PATH to import or --sample; found neither" in err
    code, _, err = run("import", str(tmp_path), "--sample", "--data-dir", store_dir)
    assert code == 2
    assert "found both" in err


def test_an_unrecognised_file_or_an_empty_folder_exits_2(run: Run, tmp_path: Path) -> None:
    store_dir = str(tmp_path / "store")
    path = write_text(tmp_path / "in" / "binance" / "prices.csv", "timestamp,open\n")
    code, _, err = run("import", str(path), "--data-dir", store_dir)
    assert code == 2
    assert "pass --symbol and --timeframe" in " ".join(err.split())
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run("import", str(empty), "--data-dir", store_dir)
    assert code == 2
    assert "found no candle files" in err
    assert not Path(store_dir).exists()


def test_import_the_sample_then_list_it(run: Run, tmp_path: Path) -> None:
    store_dir = str(tmp_path / "store")
    code, out, err = run("import", "--sample", "--data-dir", store_dir)
    assert code == 0, err
    assert "10 imported, 0 refused, 0 skipped" in out
    listing = tmp_path / "list.json"
    code, out, err = run("list", "--data-dir", store_dir, "--json", str(listing))
    assert code == 0, err
    for symbol in SAMPLE_SYMBOLS:
        assert symbol in out
    assert "2025-01-01T00:00Z" in out
    assert "2025-12-31T23:00Z" in out
    series = json.loads(listing.read_text())["series"]
    assert sorted(s["symbol"] for s in series) == sorted(SAMPLE_SYMBOLS)
    assert {(s["rows"], s["gaps"], s["first"], s["last"]) for s in series} == {
        (8760, 0, "2025-01-01T00:00Z", "2025-12-31T23:00Z")
    }
    assert all(s["bytes"] > 0 for s in series)


def test_list_shows_gaps_and_filters_by_exchange(run: Run, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    rows = good_rows(30)
    holed = rows[:10] + rows[15:20] + rows[22:]  # holes of 5 and 2 candles
    write_our_csv(tmp_path / "in" / "mexc" / "DOGE_USDT-1h.csv", holed)
    write_our_csv(tmp_path / "in" / "binance" / "BTC_USDT-1h.csv", rows)
    code, _, err = run("import", str(tmp_path / "in"), "--data-dir", str(store_dir))
    assert code == 0, err
    listing = tmp_path / "list.json"
    code, out, _ = run(
        "list", "--exchange", "mexc", "--data-dir", str(store_dir), "--json", str(listing)
    )
    assert code == 0
    assert "DOGE/USDT" in out
    assert "BTC/USDT" not in out
    gap_start = data_cli.iso(int(rows[10][0]))
    assert "2 (max 5)" in out
    [series] = json.loads(listing.read_text())["series"]
    assert (series["gaps"], series["missing"], series["rows"]) == (2, 7, 23)
    assert series["largest_gap"] == {
        "start": gap_start,
        "end": data_cli.iso(int(rows[10][0]) + 5 * HOUR_MS),
        "missing": 5,
    }


def test_list_on_an_empty_store_says_how_to_fill_it(run: Run, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    code, out, _ = run("list", "--data-dir", str(store_dir))
    assert code == 0
    assert "no candles stored" in out
    assert "--sample" in out
    assert not store_dir.exists()


def test_a_large_import_prints_totals_instead_of_a_row_per_file(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_cli, "TABLE_MAX_FILES", 1)
    write_our_csv(tmp_path / "in" / "binance" / "BTC_USDT-1h.csv", good_rows(10))
    write_our_csv(tmp_path / "in" / "binance" / "ETH_USDT-1h.csv", good_rows(12))
    code, out, _ = run("import", str(tmp_path / "in"), "--data-dir", str(tmp_path / "store"))
    assert code == 0
    assert "22 rows read, 22 added, 0 replaced" in out
    assert "BTC/USDT" not in out
