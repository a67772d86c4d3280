"""Importing into the store: files land whole or not at all; a folder goes on past a bad file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.data.importer_files import (
    START_2025_MS,
    csv_text,
    good_rows,
    write_binance,
    write_feather,
    write_freqtrade_json,
    write_our_csv,
    write_text,
)
from xraybot.data import importers
from xraybot.data.import_checks import RULE_DUPLICATE
from xraybot.data.importers import Status, import_file, import_path, load, recognise
from xraybot.data.store import CandleStore, WriteReport
from xraybot.data.store_checks import HIGH_GE_LOW, RULES
from xraybot.data.universe import UniverseStore
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, StorageError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
DAY_MS = 86_400_000


@pytest.fixture
def stores(tmp_path: Path) -> tuple[CandleStore, UniverseStore]:
    root = tmp_path / "store"
    return CandleStore(root), UniverseStore(root)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (temp and lock files too) with its bytes."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_file_is_written_to_the_store_and_the_universe(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    rows = good_rows(72)
    path = write_our_csv(tmp_path / "in" / "mexc" / "BTC_USDT-1h.csv.gz", rows)
    outcome = import_file(path, store, universe)
    assert outcome.status is Status.IMPORTED
    assert (outcome.rows, outcome.added, outcome.replaced, outcome.stored_rows) == (72, 72, 0, 72)
    read = store.read("mexc", "BTC/USDT", "1h")
    assert read.ts_ms.tolist() == [r[0] for r in rows]
    np.testing.assert_array_equal(read.close, [r[4] for r in rows])
    known = universe.as_of("mexc", int(rows[-1][0]) + 3_600_000)
    assert [row.symbol for row in known] == ["BTC/USDT"]
    assert known[0].listed_ms == rows[0][0]


def test_importing_again_replaces_equal_timestamps(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    rows = good_rows(48)
    path = write_our_csv(tmp_path / "binance" / "BTC_USDT-1h.csv", rows[:30])
    import_file(path, store, universe)
    write_our_csv(path, rows[20:])
    outcome = import_file(path, store, universe)
    assert (outcome.added, outcome.replaced, outcome.stored_rows) == (18, 10, 48)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_real_shared_files_round_trip_through_the_store(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    folder = tmp_path / "binance"
    folder.mkdir()
    for name in ("ACM_USDT-1h.csv.gz", "ALCX_USDT-1h.csv.gz"):
        shutil.copy(SHARED / "binance" / name, folder / name)
    outcomes = import_path(folder, store, universe)
    assert [o.status for o in outcomes] == [Status.IMPORTED, Status.IMPORTED]
    for outcome in outcomes:
        expected = load(recognise(outcome.path))
        stored = store.read("binance", expected.symbol, "1h")
        np.testing.assert_array_equal(stored.ts_ms, expected.ts_ms)
        np.testing.assert_array_equal(stored.high, expected.high)
    info = store.info("binance", "ALCX/USDT", "1h")
    assert (info.rows, info.gaps) == (3357, ())  # the MANIFEST: 3357 rows, no gaps


def test_every_format_lands_in_the_store(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    rows = good_rows(24, start_ms=START_2025_MS)
    files = [
        write_freqtrade_json(tmp_path / "kucoin" / "ETH_USDT-1h.json", rows),  # type: ignore[arg-type]
        write_feather(tmp_path / "binance" / "futures" / "BTC_USDT_USDT-1h-futures.feather", rows),
        write_binance(tmp_path / "klines" / "SOLUSDT-1h-2025-01.csv", rows, micro=True),
        write_binance(tmp_path / "klines" / "XRPUSDT-1h-2025-01.zip", rows, micro=True),
    ]
    outcomes = [import_file(path, store, universe) for path in files]
    assert [o.status for o in outcomes] == [Status.IMPORTED] * 4
    keys = [(k.exchange, k.symbol, k.timeframe) for k in store.series()]
    assert keys == [
        ("binance", "BTC/USDT:USDT", "1h"),
        ("binance", "SOL/USDT", "1h"),
        ("binance", "XRP/USDT", "1h"),
        ("kucoin", "ETH/USDT", "1h"),
    ]
    for key in store.series():
        assert store.read(key.exchange, key.symbol, "1h").ts_ms.tolist() == [r[0] for r in rows]


def _bad_csv(rows: list[list[float]], kind: str) -> tuple[str, str]:
    """Return (expected text in the message, file text) for one kind of bad file."""
    lines = csv_text(rows).splitlines()
    if kind == "wrong columns":
        lines[0] = "timestamp,open,high,low,close"
        return "line 1: found header 'timestamp,open,high,low,close'", "\n".join(lines)
    if kind == "unparsable":
        lines[40] = lines[40].replace(",", ",1e,", 1).rsplit(",", 1)[0]
        return "line 41: found open='1e'", "\n".join(lines)
    if kind == "high below low":
        ts = lines[40].split(",")[0]
        lines[40] = f"{ts},10,9,11,10,1"
        return f"line 41: found high=9.0 < low=11.0; {RULES[HIGH_GE_LOW]}", "\n".join(lines)
    lines[40] = lines[39]
    return f"line 41: found timestamp {lines[39].split(',')[0]} again", "\n".join(lines)


@pytest.mark.parametrize("kind", ["wrong columns", "unparsable", "high below low", "duplicate"])
def test_a_bad_file_leaves_the_store_as_it_was(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore], kind: str
) -> None:
    store, universe = stores
    rows = good_rows(60)
    path = write_our_csv(tmp_path / "binance" / "BTC_USDT-1h.csv", rows[:30])
    import_file(path, store, universe)  # what is stored before the bad import
    before = snapshot(store.root)
    expected, text = _bad_csv(rows, kind)
    write_text(path, text + "\n")
    outcome = import_file(path, store, universe)
    assert outcome.status is Status.REFUSED
    report = "\n".join(outcome.problem_lines())
    assert str(path) in report
    assert expected in report
    assert snapshot(store.root) == before


def test_a_folder_goes_on_past_a_bad_file(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    folder = tmp_path / "binance"
    rows = good_rows(30)
    write_our_csv(folder / "ADA_USDT-1h.csv.gz", rows)
    bad = [list(r) for r in rows]
    bad[10][0] = bad[9][0]
    write_our_csv(folder / "BAD_USDT-1h.csv.gz", bad)
    write_feather(folder / "ZEC_USDT-1h.feather", rows)
    write_text(folder / "README.md", "not data")
    write_text(folder / "manifest.csv", "file,rows\n")
    write_text(folder / ".hidden" / "X_USDT-1h.csv", "ignored")
    seen: list[str] = []
    outcomes = import_path(folder, store, universe, on_file=lambda o: seen.append(o.path.name))
    assert seen == [
        "ADA_USDT-1h.csv.gz",
        "BAD_USDT-1h.csv.gz",
        "ZEC_USDT-1h.feather",
        "manifest.csv",
    ]
    assert [o.status for o in outcomes] == [
        Status.IMPORTED,
        Status.REFUSED,
        Status.IMPORTED,
        Status.SKIPPED,
    ]
    refused = outcomes[1]
    assert (refused.problems[0].number, refused.problems[0].rule) == (12, RULE_DUPLICATE)
    assert [k.symbol for k in store.series()] == ["ADA/USDT", "ZEC/USDT"]
    assert not store.path("binance", "BAD/USDT", "1h").parent.exists()
    assert {r.symbol for r in universe.as_of("binance", int(rows[-1][0]) + DAY_MS)} == {
        "ADA/USDT",
        "ZEC/USDT",
    }


def test_symbol_and_timeframe_overrides_are_for_one_file(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    write_our_csv(tmp_path / "binance" / "BTC_USDT-1h.csv", good_rows(3))
    with pytest.raises(InvalidInputError, match="apply to one file"):
        import_path(tmp_path / "binance", store, universe, symbol="BTC/USDT")
    with pytest.raises(InvalidInputError, match="no file or folder"):
        import_path(tmp_path / "missing", store, universe)


def test_an_unknown_exchange_folder_is_refused_not_guessed(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore]
) -> None:
    store, universe = stores
    path = write_our_csv(tmp_path / "exports" / "BTC_USDT-1h.csv", good_rows(3))
    outcome = import_file(path, store, universe)
    assert outcome.status is Status.REFUSED
    assert "Pass --exchange" in outcome.problems[0].rule
    assert not store.root.exists()
    assert import_file(path, store, universe, exchange="mexc").status is Status.IMPORTED


def test_the_universe_is_recorded_in_batches_and_flushed_on_failure(
    tmp_path: Path, stores: tuple[CandleStore, UniverseStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, universe = stores
    rows = good_rows(48)
    for base in ("AAA", "BBB", "CCC", "DDD"):
        write_our_csv(tmp_path / "binance" / f"{base}_USDT-1h.csv", rows)
    monkeypatch.setattr(importers, "UNIVERSE_BATCH_ROWS", 100)  # a flush every third file
    real_write = CandleStore.write

    def write_or_fail(self: CandleStore, exchange: str, candles: Candles) -> WriteReport:
        if candles.symbol == "DDD/USDT":
            raise StorageError("disk full")
        return real_write(self, exchange, candles)

    monkeypatch.setattr(CandleStore, "write", write_or_fail)
    with pytest.raises(StorageError, match="disk full"):
        import_path(tmp_path / "binance", store, universe)
    known = universe.as_of("binance", int(rows[-1][0]) + DAY_MS)
    assert sorted(r.symbol for r in known) == ["AAA/USDT", "BBB/USDT", "CCC/USDT"]
