"""Replaying real candle files: exact rows, aggregation, gaps, quotes, lazy loading, bad files."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.model.candles import Candles
from xraybot.model.errors import (
    ConfigError,
    DataValidationError,
    InvalidInputError,
    UnknownSymbolError,
)
from xraybot.sim.bars import DAY_MS, HOUR_MS, MINUTE_MS, Bars, aggregate, bucket_offset
from xraybot.sim.clock import SimClock
from xraybot.sim.market import MarketData
from xraybot.sim.replay import ReplayMarket
from xraybot.sim.replay_files import HEADER

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BINANCE = SHARED / "ohlcv" / "binance"
needs_data = pytest.mark.skipif(
    not (BINANCE / "BTC_USDT-1h.csv.gz").exists(), reason="the shared candle data is not here"
)
T0 = 1_700_000_000_000 // DAY_MS * DAY_MS  # a midnight


def read_file(path: Path) -> np.ndarray:
    with gzip.open(path, "rt") as handle:
        rows = list(csv.reader(handle))[1:]
    return np.array(rows, dtype=np.float64)


def write(path: Path, rows: list[tuple[float, ...]], header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write(header + "\n")
        for row in rows:
            handle.write(",".join(repr(int(v)) if i == 0 else repr(v) for i, v in enumerate(row)))
            handle.write("\n")
    return path


def walk(start: int, step: int, count: int, price: float = 100.0) -> list[tuple[float, ...]]:
    """Rising-and-falling candles: open, high, low, close, volume per row."""
    rows = []
    for k in range(count):
        o = round(price * (1 + 0.01 * (k % 7)), 6)
        c = round(price * (1 + 0.01 * ((k + 1) % 7)), 6)
        rows.append((start + k * step, o, max(o, c) * 1.005, min(o, c) * 0.995, c, 10.0 + k))
    return rows


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """AAA: 1h for 3 days with a 6-hour gap, 1m for the first 3 hours; BBB: 5m only."""
    folder = tmp_path / "ohlcv" / "testex"
    hours = walk(T0, HOUR_MS, 72)
    del hours[30:36]
    write(folder / "AAA_USDT-1h.csv.gz", hours)
    write(folder / "AAA_USDT-1m.csv.gz", walk(T0, MINUTE_MS, 180, price=100.2))
    write(folder / "BBB_USDT-5m.csv.gz", walk(T0, 5 * MINUTE_MS, 600, price=0.5))
    return tmp_path


def replay(data_dir: Path, now: int, **kwargs: object) -> ReplayMarket:
    return ReplayMarket(SimClock(now, speed=0), data_dir, **kwargs)  # type: ignore[arg-type]


def test_satisfies_the_port(data: Path) -> None:
    port: MarketData = replay(data, T0 + DAY_MS)
    assert sorted(s.spot_id for s in port.symbols()) == ["AAAUSDT", "BBBUSDT"]


def test_exact_timeframes_return_the_file_rows(data: Path) -> None:
    m = replay(data, T0 + 3 * DAY_MS)
    rows = read_file(data / "ohlcv/testex/AAA_USDT-1h.csv.gz")
    c = m.candles("AAAUSDT", "1h", T0, T0 + 3 * DAY_MS)
    assert np.array_equal(c.ts_ms, rows[:, 0].astype(np.int64))
    for k, field in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert np.array_equal(getattr(c, field), rows[:, k])


def test_coarser_timeframes_aggregate_the_coarsest_dividing_file(data: Path) -> None:
    m = replay(data, T0 + 3 * DAY_MS)
    hours = m.candles("AAAUSDT", "1h", T0, T0 + 3 * DAY_MS)
    four = m.candles("AAAUSDT", "4h", T0, T0 + 3 * DAY_MS)
    built = aggregate(
        Bars(hours.ts_ms, hours.open, hours.high, hours.low, hours.close, hours.volume), 4 * HOUR_MS
    )
    assert np.array_equal(four.ts_ms, built.ts)
    assert np.array_equal(four.high, built.high)
    assert np.array_equal(four.close, built.close)
    # BBB has only 5m: 15m aggregates it, 1m does not exist.
    assert len(m.candles("BBBUSDT", "15m", T0, T0 + DAY_MS)) == 96
    assert len(m.candles("BBBUSDT", "1m", T0, T0 + DAY_MS)) == 0
    assert len(m.candles("BBBUSDT", "7m", T0, T0 + DAY_MS)) == 0


def test_gaps_hold_the_last_close(data: Path) -> None:
    gap_start = T0 + 30 * HOUR_MS  # rows 30..35 are missing
    m = replay(data, gap_start + 2 * HOUR_MS + 123)
    last_row = m.candles("AAAUSDT", "1h", T0, gap_start)
    quote = m.quote("AAAUSDT")
    assert quote.last == last_row.close[-1]
    assert quote.bid < quote.ask
    # No candle opens in the gap, not even an open one.
    assert len(m.candles("AAAUSDT", "1h", gap_start, gap_start + 6 * HOUR_MS)) == 0
    stats = m.stats_24h("AAAUSDT")
    assert stats.last == quote.last
    m.clock.advance(10 * HOUR_MS)  # type: ignore[attr-defined]  # trading resumed
    now = m.clock.now_ms()
    resumed = m.candles("AAAUSDT", "1h", now - HOUR_MS, now + 1)
    assert resumed.ts_ms[-1] == now // HOUR_MS * HOUR_MS
    assert resumed.low[-1] <= m.quote("AAAUSDT").last <= resumed.high[-1]


def test_quotes_move_inside_the_current_row(data: Path) -> None:
    m = replay(data, T0 + 5 * HOUR_MS)
    row = m.candles("AAAUSDT", "1h", T0 + 5 * HOUR_MS, T0 + 6 * HOUR_MS)
    assert m.quote("AAAUSDT").last == row.open[0]
    prices = []
    for _ in range(12):
        m.clock.advance(5 * MINUTE_MS)  # type: ignore[attr-defined]
        prices.append(m.quote("AAAUSDT").last)
    finished = m.candles("AAAUSDT", "1h", T0 + 5 * HOUR_MS, T0 + 6 * HOUR_MS)
    assert prices[-1] == m.candles("AAAUSDT", "1h", T0, T0 + 7 * HOUR_MS).open[-1]
    assert all(finished.low[0] <= p <= finished.high[0] for p in prices[:-1])
    assert len(set(prices)) > 3


def test_the_finest_file_drives_the_quote_and_open_candle(data: Path) -> None:
    now = T0 + HOUR_MS + 10 * MINUTE_MS + 30_000  # inside the 1m file
    m = replay(data, now)
    minutes = m.candles("AAAUSDT", "1m", T0, now + 1)
    hour = m.candles("AAAUSDT", "1h", T0, now + 1)
    quote = m.quote("AAAUSDT")
    assert minutes.close[-1] == hour.close[-1] == quote.last
    # The open hour is the 1m rows so far, not the 1h file's row.
    opened = minutes.ts_ms >= T0 + HOUR_MS
    assert hour.open[-1] == minutes.open[opened][0]
    assert hour.high[-1] == minutes.high[opened].max()
    assert minutes.ts_ms[-1] == now // MINUTE_MS * MINUTE_MS


@settings(max_examples=40, deadline=None)
@given(
    timeframe=st.sampled_from(["1m", "5m", "15m", "1h", "4h", "1d"]),
    now_off=st.integers(0, 3 * DAY_MS),
    start_off=st.integers(-DAY_MS, 3 * DAY_MS),
    span=st.integers(0, 2 * DAY_MS),
)
def test_ranges_are_half_open_and_nothing_comes_from_the_future(
    tmp_path_factory: pytest.TempPathFactory,
    timeframe: str,
    now_off: int,
    start_off: int,
    span: int,
) -> None:
    folder = tmp_path_factory.getbasetemp() / "ranges"
    if not folder.exists():
        write(folder / "ohlcv/x/AAA_USDT-1h.csv.gz", walk(T0, HOUR_MS, 72))
        write(folder / "ohlcv/x/AAA_USDT-5m.csv.gz", walk(T0 + DAY_MS, 5 * MINUTE_MS, 300))
    now = T0 + now_off
    m = replay(folder, now)
    start, end = T0 + start_off, T0 + start_off + span
    c = m.candles("AAAUSDT", timeframe, start, end)
    assert ((c.ts_ms >= start) & (c.ts_ms < end)).all()
    assert (c.ts_ms <= now).all()
    assert (c.ts_ms[:-1] + c.timeframe_ms <= now).all()
    assert (np.diff(c.ts_ms) > 0).all()
    assert ((c.ts_ms - bucket_offset(c.timeframe_ms)) % c.timeframe_ms == 0).all()
    assert (c.high >= np.maximum(c.open, c.close)).all()
    assert (c.low <= np.minimum(c.open, c.close)).all()


def test_symbols_before_their_data_are_not_listed(data: Path) -> None:
    m = replay(data, T0 - 1)
    assert m.symbols() == []
    with pytest.raises(KeyError):
        m.symbol("AAAUSDT")
    with pytest.raises(UnknownSymbolError, match="default_start_ms"):
        m.quote("AAAUSDT")
    with pytest.raises(UnknownSymbolError, match="ZZZUSDT"):
        replay(data, T0).quote("ZZZUSDT")


def test_terms_come_from_the_prices(data: Path) -> None:
    m = replay(data, T0 + DAY_MS)
    cheap = m.symbol("BBBUSDT")
    assert str(cheap.price_tick) == "0.00001"  # 5 significant digits at its lowest price
    assert cheap.listed_ms == T0
    assert cheap.min_notional == 1
    assert not cheap.has_swap
    with pytest.raises(KeyError):
        m.symbol("BBB_USDT")
    book = m.order_book("AAAUSDT", 5)
    assert book.bids[0][0] == m.quote("AAAUSDT").bid
    assert len(book.asks) == 5


def test_default_start_is_a_day_into_the_data(data: Path) -> None:
    start = ReplayMarket.default_start_ms(data)
    assert start == T0 + DAY_MS
    with pytest.raises(InvalidInputError, match="share"):
        ReplayMarket.default_start_ms(data, share=0)


# -- files and directories ---------------------------------------------------------------


def test_only_chosen_symbols_are_read(data: Path) -> None:
    write(data / "ohlcv/testex/ZZZ_USDT-1h.csv.gz", [(T0, 1.0, 1.0, 1.0, 1.0, 1.0)], header="bad")
    # ZZZ is the smallest file: a two-symbol replay never opens it.
    m = replay(data, T0 + DAY_MS, symbols=2)
    assert len(m.symbols()) == 2
    with pytest.raises(DataValidationError, match=r"ZZZ_USDT-1h.csv.gz line 1: the header"):
        replay(data, T0 + DAY_MS).symbols()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [(T0 + HOUR_MS, 1.0, 2.0, 0.5, 1.5, 1.0), (T0, 1.0, 2.0, 0.5, 1.5, 1.0)],
            r"row 2 \(line 3\): timestamps must be strictly ascending",
        ),
        (
            [(T0, 1.0, 2.0, 0.5, 1.5, 1.0), (T0 + 60_000, 1.0, 2.0, 0.5, 1.5, 1.0)],
            r"row 2 \(line 3\): timestamp must be aligned",
        ),
        ([(T0, 1.0, 0.9, 0.5, 1.5, 1.0)], r"row 1 \(line 2\): prices must be"),
        ([(T0, 1.0, 2.0, -0.5, 1.5, 1.0)], r"row 1 \(line 2\): prices must be"),
    ],
)
def test_bad_rows_name_the_file_and_row(
    tmp_path: Path, rows: list[tuple[float, ...]], message: str
) -> None:
    write(tmp_path / "ohlcv/x/BAD_USDT-1h.csv.gz", rows)
    with pytest.raises(DataValidationError, match=r"BAD_USDT-1h.csv.gz " + message):
        replay(tmp_path, T0 + DAY_MS).symbols()


def test_unparsable_numbers_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ohlcv/x/BAD_USDT-1h.csv.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as handle:
        handle.write(f"{HEADER}\n{T0},1,2,0.5,1.5,1\n{T0 + HOUR_MS},1,two,0.5,1.5,1\n")
    with pytest.raises(DataValidationError, match=r"BAD_USDT-1h.csv.gz: every row must be 6"):
        replay(tmp_path, T0 + DAY_MS).symbols()


def test_unknown_exchange_and_missing_folders(tmp_path: Path, data: Path) -> None:
    with pytest.raises(ConfigError, match="found testex"):
        replay(data, T0, exchange="kraken")
    with pytest.raises(ConfigError, match="ohlcv"):
        replay(tmp_path / "nowhere", T0)
    with pytest.raises(InvalidInputError, match="symbols"):
        replay(data, T0, symbols=0)


# -- the real shared data ----------------------------------------------------------------


@needs_data
@pytest.mark.parametrize(
    ("name", "timeframe", "start", "end"),
    [
        ("BTC_USDT-1h.csv.gz", "1h", 1_640_000_000_000, 1_641_000_000_000),
        ("BNB_USDT-1m.csv.gz", "1m", 1_624_000_000_000, 1_624_100_000_000),
    ],
)
def test_real_files_replay_exactly(name: str, timeframe: str, start: int, end: int) -> None:
    rows = read_file(BINANCE / name)
    inside = rows[(rows[:, 0] >= start) & (rows[:, 0] < end)]
    assert len(inside) > 100
    base = name.split("_")[0]
    m = replay(SHARED, end + DAY_MS, symbols=6, exchange="binance")
    c = m.candles(f"{base}USDT", timeframe, start, end)
    assert np.array_equal(c.ts_ms, inside[:, 0].astype(np.int64))
    for k, field in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert np.array_equal(getattr(c, field), inside[:, k]), field


@needs_data
def test_real_data_defaults_and_gaps() -> None:
    start = ReplayMarket.default_start_ms(SHARED, symbols=3)
    m = replay(SHARED, start, symbols=3)
    assert [s.base for s in m.symbols()] == ["BTC", "ETH"]  # DOGE began later
    # BTC's 1h file has a hole from 2023-01-10T17:00Z to 2024-01-01; so do the finer files.
    m.clock.advance_to(1_690_000_000_000)  # type: ignore[attr-defined]
    before = m.candles("BTCUSDT", "1h", 1_673_300_000_000, 1_673_400_000_000)
    assert m.quote("BTCUSDT").last == before.close[-1]
    assert m.stats_24h("BTCUSDT").base_volume == 0
    assert isinstance(m.candles("BTCUSDT", "1d", 0, 1_690_000_000_000), Candles)
