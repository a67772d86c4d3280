"""The bundled sample: present, importable, gap-free for its stated range, and small."""

from __future__ import annotations

from pathlib import Path

import pytest

from xraybot.data.importers import Status, find_files, import_path
from xraybot.data.sample import (
    SAMPLE_END_MS,
    SAMPLE_EXCHANGE,
    SAMPLE_MAX_BYTES,
    SAMPLE_START_MS,
    SAMPLE_SYMBOLS,
    SAMPLE_TIMEFRAME,
    sample_dir,
)
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore

HOUR_MS = 3_600_000
MARKETLAB_COMMIT = "6135a753162dd7dfe1c4d7fd282c1c8b65c5bede"


def test_the_sample_holds_the_stated_files_and_stays_small() -> None:
    folder = sample_dir()
    files = find_files(folder)
    expected = sorted(
        folder / SAMPLE_EXCHANGE / f"{s.replace('/', '_')}-{SAMPLE_TIMEFRAME}.csv.gz"
        for s in SAMPLE_SYMBOLS
    )
    assert files == expected
    assert len(SAMPLE_SYMBOLS) == 10
    assert sum(p.stat().st_size for p in files) < SAMPLE_MAX_BYTES


def test_source_md_states_the_source_and_licence() -> None:
    text = (sample_dir() / "SOURCE.md").read_text()
    assert "Harthor/marketlab" in text
    assert MARKETLAB_COMMIT in text
    assert "Licence" in text
    for symbol in SAMPLE_SYMBOLS:
        assert f"| {symbol} | 8760 |" in text


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> CandleStore:
    root = tmp_path_factory.mktemp("sample-store")
    store = CandleStore(root)
    outcomes = import_path(sample_dir(), store, UniverseStore(root))
    assert [o.status for o in outcomes] == [Status.IMPORTED] * len(SAMPLE_SYMBOLS)
    return store


def test_the_sample_imports_gap_free_over_its_range(imported: CandleStore) -> None:
    keys = imported.series()
    assert sorted(k.symbol for k in keys) == sorted(SAMPLE_SYMBOLS)
    hours = (SAMPLE_END_MS - SAMPLE_START_MS) // HOUR_MS
    for key in keys:
        info = imported.info(key.exchange, key.symbol, key.timeframe)
        assert (key.exchange, key.timeframe) == (SAMPLE_EXCHANGE, SAMPLE_TIMEFRAME)
        assert info.first_ms == SAMPLE_START_MS
        assert info.last_ms == SAMPLE_END_MS - HOUR_MS
        assert info.rows == hours == 8760
        assert info.gaps == ()


def test_the_sample_universe_ranks_btc_first(tmp_path: Path, imported: CandleStore) -> None:
    rows = UniverseStore(imported.root).as_of(SAMPLE_EXCHANGE, SAMPLE_END_MS)
    assert [r.symbol for r in rows][:2] == ["BTC/USDT", "ETH/USDT"]
    assert {r.symbol for r in rows} == set(SAMPLE_SYMBOLS)
