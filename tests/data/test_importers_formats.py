"""Each importer on real and generated files, and each kind of bad file refused by line and rule.

Nothing here touches the store: ``load`` reads and checks a whole file and either returns
Candles or raises ImportRefusedError.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.data.importer_files import (
    HEADER,
    HOUR_MS,
    START_2025_MS,
    START_MS,
    Row,
    csv_text,
    good_rows,
    write_binance,
    write_feather,
    write_freqtrade_json,
    write_our_csv,
    write_text,
)
from xraybot.data.import_checks import MAX_SHOWN, RULE_ASCENDING, RULE_DUPLICATE
from xraybot.data.import_readers import (
    RULE_FEATHER,
    RULE_FIELDS,
    RULE_HEADER,
    RULE_JSON,
    RULE_NUMBER,
    RULE_TIMESTAMP,
)
from xraybot.data.importers import (
    Format,
    ImportRefusedError,
    NotRecognisedError,
    load,
    recognise,
    split_binance_symbol,
)
from xraybot.data.store_checks import (
    ALIGNED,
    HIGH_GE_LOW,
    HIGH_GE_OPEN_CLOSE,
    LOW_LE_OPEN_CLOSE,
    PRICE_POSITIVE,
    RULES,
    VOLUME_NON_NEGATIVE,
)
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "ohlcv"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def load_path(path: Path, **overrides: str) -> Candles:
    return load(recognise(path, **overrides))


def assert_same(candles: Candles, rows: list[Row]) -> None:
    expected = np.asarray(rows, dtype=np.float64)
    assert candles.ts_ms.tolist() == [int(r[0]) for r in rows]
    for k, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        np.testing.assert_array_equal(getattr(candles, name), expected[:, k])


def refusal(path: Path, **overrides: str) -> ImportRefusedError:
    with pytest.raises(ImportRefusedError) as caught:
        load_path(path, **overrides)
    return caught.value


# -- real files from ../shared/data ------------------------------------------------------


@needs_shared
@pytest.mark.parametrize(
    ("relative", "exchange", "symbol", "rows"),
    [
        ("binance/ACM_USDT-1h.csv.gz", "binance", "ACM/USDT", 10036),
        ("kucoin/1INCH_USDT-1h.csv.gz", "kucoin", "1INCH/USDT", None),
        ("mexc/4_USDT-1h.csv.gz", "mexc", "4/USDT", None),
    ],
)
def test_our_csv_layout_reads_real_shared_files(
    relative: str, exchange: str, symbol: str, rows: int | None
) -> None:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in this copy of ../shared/data")
    spec = recognise(path)
    assert (spec.format, spec.exchange, spec.symbol, spec.timeframe) == (
        Format.XRAYBOT_CSV,
        exchange,
        symbol,
        "1h",
    )
    candles = load(spec)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(candles) == len(lines) - 1
    if rows is not None:
        assert len(candles) == rows  # the MANIFEST's count
    first = lines[1].split(",")
    assert candles.ts_ms[0] == int(first[0])
    assert candles.close[0] == float(first[4])
    assert candles.volume[-1] == float(lines[-1].split(",")[5])


# -- our CSV layout: every kind of bad file -----------------------------------------------


def _set(rows: list[Row], index: int, **values: float) -> list[Row]:
    names = ("ts", "open", "high", "low", "close", "volume")
    out = [list(r) for r in rows]
    for name, value in values.items():
        out[index][names.index(name)] = value
    return out


# Row index i of good_rows() is on line i + 2 (the header is line 1).
BAD_ROWS = {
    "unsorted": (lambda r: [*r[:5], r[6], r[5], *r[7:]], 8, RULE_ASCENDING, "after"),
    "duplicate": (lambda r: _set(r, 9, ts=r[8][0]), 11, RULE_DUPLICATE, "again"),
    "zero price": (lambda r: _set(r, 3, close=0.0), 5, RULES[PRICE_POSITIVE], "close=0.0"),
    "negative price": (lambda r: _set(r, 4, open=-1.0), 6, RULES[PRICE_POSITIVE], "open=-1.0"),
    "high below low": (lambda r: _set(r, 12, high=1.0, low=2.0), 14, RULES[HIGH_GE_LOW], "high="),
    "close above high": (
        lambda r: _set(r, 2, close=r[2][2] * 2),
        4,
        RULES[HIGH_GE_OPEN_CLOSE],
        "max(open=",
    ),
    "open below low": (
        lambda r: _set(r, 2, open=r[2][3] / 2),
        4,
        RULES[LOW_LE_OPEN_CLOSE],
        "min(open=",
    ),
    "negative volume": (lambda r: _set(r, 20, volume=-3.0), 22, RULES[VOLUME_NON_NEGATIVE], "-3.0"),
    "unaligned": (lambda r: _set(r, 30, ts=r[30][0] + 1000), 32, RULES[ALIGNED], "1000 ms past"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_each_bad_row_is_named_by_file_line_and_rule(tmp_path: Path, case: str) -> None:
    change, line, rule, found = BAD_ROWS[case]
    path = write_our_csv(tmp_path / "binance" / "BTC_USDT-1h.csv.gz", change(good_rows()))
    error = refusal(path)
    first = error.problems[0]
    assert (first.file, first.unit, first.number, first.rule) == (str(path), "line", line, rule)
    assert found in first.found
    message = str(error)
    assert str(path) in message
    assert f"line {line}: found" in message
    assert rule in message
    assert "nothing imported" in message


def _lines_with(rows: list[Row], line: int, text: str) -> str:
    lines = csv_text(rows).splitlines()
    lines[line - 1] = text
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("line", "text", "rule", "found"),
    [
        (1, "ts,open,high,low,close,volume", RULE_HEADER, "'ts,open"),
        (1, "timestamp,open,high,low,close", RULE_HEADER, "header"),
        (1, "1704067200000,1,2,0.5,1.5,10", RULE_HEADER, "header '1704067200000"),
        (6, "1704085200000,1,2,0.5,1.5", RULE_FIELDS.format(n=6), "5 fields"),
        (7, "1704088800000,1,2,0.5,1.5,10,99", RULE_FIELDS.format(n=6), "7 fields"),
        (8, "1704092400000,1,2,0.5,1.5,abc", RULE_NUMBER, "volume='abc'"),
        (9, "1704096000000,1,,0.5,1.5,10", RULE_NUMBER, "high=''"),
        (10, "2024-01-01 08:00,1,2,0.5,1.5,10", RULE_TIMESTAMP, "timestamp '2024-01-01"),
        (11, "1704103200000.5,1,2,0.5,1.5,10", RULE_TIMESTAMP, "timestamp"),
    ],
)
def test_wrong_columns_and_unparsable_fields(
    tmp_path: Path, line: int, text: str, rule: str, found: str
) -> None:
    path = write_text(
        tmp_path / "binance" / "ETH_USDT-1h.csv", _lines_with(good_rows(), line, text)
    )
    error = refusal(path)
    problem = error.problems[0]
    assert (problem.number, problem.rule) == (line, rule)
    assert found in problem.found
    assert error.problem_count == 1


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    lines = csv_text(good_rows()).splitlines()
    lines.insert(3, "")  # now line 4 is blank and the 4th data row is on line 6
    lines[5] = lines[5].rsplit(",", 1)[0] + ",-1.0"
    path = write_text(tmp_path / "binance" / "BTC_USDT-1h.csv", "\n".join(lines) + "\n")
    error = refusal(path)
    assert [(p.number, p.rule) for p in error.problems] == [(6, RULES[VOLUME_NON_NEGATIVE])]


def test_blank_lines_alone_are_not_a_problem(tmp_path: Path) -> None:
    rows = good_rows(6)
    text = csv_text(rows).replace("\n", "\n\n", 2) + "\n\n"
    path = write_text(tmp_path / "binance" / "BTC_USDT-1h.csv", text)
    assert_same(load_path(path), rows)


def test_problem_list_is_capped_with_a_count_of_the_rest(tmp_path: Path) -> None:
    rows = good_rows(100)
    for i in range(50):
        rows[i * 2][5] = -1.0
    path = write_our_csv(tmp_path / "binance" / "BTC_USDT-1h.csv.gz", rows)
    error = refusal(path)
    assert error.problem_count == 50
    assert len(error.problems) == MAX_SHOWN
    assert [p.number for p in error.problems] == [i * 2 + 2 for i in range(MAX_SHOWN)]
    assert str(error).rstrip().endswith("… and 30 more")


def test_problems_of_every_kind_are_listed_in_line_order(tmp_path: Path) -> None:
    rows = _set(_set(good_rows(), 10, volume=-1.0), 3, close=0.0)
    text = _lines_with(rows, 8, "1704092400000,1,2,0.5,x,10")
    path = write_text(tmp_path / "binance" / "BTC_USDT-1h.csv", text)
    error = refusal(path)
    assert [p.number for p in error.problems] == [5, 8, 12]
    assert [p.rule for p in error.problems] == [
        RULES[PRICE_POSITIVE],
        RULE_NUMBER,
        RULES[VOLUME_NON_NEGATIVE],
    ]


def test_unreadable_gzip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binance" / "BTC_USDT-1h.csv.gz"
    path.parent.mkdir()
    path.write_bytes(b"this is not gzip")
    error = refusal(path)
    assert error.problems[0].unit == "file"
    assert "BadGzipFile" in error.problems[0].found


def test_a_header_only_file_gives_no_candles(tmp_path: Path) -> None:
    path = write_text(tmp_path / "binance" / "BTC_USDT-1h.csv", HEADER + "\n")
    assert len(load_path(path)) == 0


# -- Binance monthly kline files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "micro", "header", "start"),
    [
        ("BTCUSDT-1h-2024-01.csv", False, False, START_MS),
        ("BTCUSDT-1h-2025-01.csv", True, False, START_2025_MS),
        ("BTCUSDT-1h-2025-01.zip", True, False, START_2025_MS),
        ("BTCUSDT-1h-2024-01-01.csv", False, True, START_MS),
    ],
)
def test_binance_klines_in_ms_and_microseconds(
    tmp_path: Path, name: str, micro: bool, header: bool, start: int
) -> None:
    rows = good_rows(24, start_ms=start)
    path = write_binance(tmp_path / "downloads" / name, rows, micro=micro, header=header)
    spec = recognise(path)
    assert (spec.format, spec.exchange, spec.symbol, spec.timeframe) == (
        Format.BINANCE_KLINES,
        "binance",
        "BTC/USDT",
        "1h",
    )
    assert_same(load(spec), rows)


def test_binance_microseconds_with_a_sub_millisecond_part_are_refused(tmp_path: Path) -> None:
    path = write_binance(
        tmp_path / "ETHUSDT-1h-2025-01.csv", good_rows(5, START_2025_MS), micro=True
    )
    lines = path.read_text().splitlines()
    stamp, rest = lines[2].split(",", 1)
    lines[2] = f"{int(stamp) + 500},{rest}"
    write_text(path, "\n".join(lines))
    error = refusal(path)
    assert (error.problems[0].number, error.problems[0].rule) == (3, RULES[ALIGNED])
    assert "not a whole millisecond" in error.problems[0].found


def test_binance_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    path = write_binance(tmp_path / "ETHBTC-1h-2024-01.csv", good_rows(5))
    lines = path.read_text().splitlines()
    lines[1] = ",".join(lines[1].split(",")[:6])
    write_text(path, "\n".join(lines))
    error = refusal(path)
    assert (error.problems[0].number, error.problems[0].rule) == (2, RULE_FIELDS.format(n=12))


@pytest.mark.parametrize(
    ("pair", "symbol"),
    [
        ("BTCUSDT", "BTC/USDT"),
        ("ETHBTC", "ETH/BTC"),
        ("BNBFDUSD", "BNB/FDUSD"),
        ("SOLUSDC", "SOL/USDC"),
        ("BTCEUR", "BTC/EUR"),
        ("BTCTRY", "BTC/TRY"),
        ("WBTCBTC", "WBTC/BTC"),
        ("ADABNB", "ADA/BNB"),
        ("1000SATSUSDT", "1000SATS/USDT"),
        ("BTCGBP", None),
        ("USDT", None),
    ],
)
def test_binance_symbol_from_known_quotes(pair: str, symbol: str | None) -> None:
    assert split_binance_symbol(pair) == symbol


def test_binance_pair_with_an_unknown_quote_needs_symbol(tmp_path: Path) -> None:
    path = write_binance(tmp_path / "BTCGBP-1h-2024-01.csv", good_rows(5))
    with pytest.raises(NotRecognisedError, match="--symbol"):
        recognise(path)
    assert load_path(path, symbol="BTC/GBP").symbol == "BTC/GBP"


# -- freqtrade JSON and feather ----------------------------------------------------------


@pytest.mark.parametrize("name", ["BTC_USDT-1h.json", "BTC_USDT-1h.json.gz"])
def test_freqtrade_json(tmp_path: Path, name: str) -> None:
    rows = good_rows(30)
    path = write_freqtrade_json(tmp_path / "kucoin" / name, rows)  # type: ignore[arg-type]
    spec = recognise(path)
    assert (spec.format, spec.exchange, spec.symbol) == (
        Format.FREQTRADE_JSON,
        "kucoin",
        "BTC/USDT",
    )
    assert_same(load(spec), rows)


@pytest.mark.parametrize(
    ("row", "rule", "found"),
    [
        ([START_MS + 2 * HOUR_MS, 1.0, 2.0, 0.5, 1.5], RULE_JSON, "[1704074400000, 1.0"),
        ({"date": 1}, RULE_JSON, '{"date": 1}'),
        ([START_MS + 2 * HOUR_MS, 1.0, 2.0, 0.5, "1.5", 3.0], RULE_NUMBER, "close='1.5'"),
        ([START_MS + 2 * HOUR_MS, 1.0, None, 0.5, 1.5, 3.0], RULE_NUMBER, "high=None"),
        (["2024-01-01", 1.0, 2.0, 0.5, 1.5, 3.0], RULE_TIMESTAMP, "timestamp '2024"),
    ],
)
def test_freqtrade_json_bad_rows_are_named(
    tmp_path: Path, row: object, rule: str, found: str
) -> None:
    rows: list[object] = list(good_rows(6))
    rows[2] = row
    path = write_freqtrade_json(tmp_path / "binance" / "BTC_USDT-1h.json", rows)
    error = refusal(path)
    problem = error.problems[0]
    assert (problem.unit, problem.number, problem.rule) == ("row", 3, rule)
    assert found in problem.found
    assert f"{path}, row 3: found" in str(error)


def test_freqtrade_json_invariants_use_row_numbers(tmp_path: Path) -> None:
    rows = _set(good_rows(6), 4, low=0.0)
    path = write_freqtrade_json(tmp_path / "binance" / "BTC_USDT-1h.json", rows)  # type: ignore[arg-type]
    error = refusal(path)
    assert (error.problems[0].where, error.problems[0].rule) == ("row 5", RULES[PRICE_POSITIVE])


def test_freqtrade_json_that_is_not_a_list(tmp_path: Path) -> None:
    path = write_text(tmp_path / "binance" / "BTC_USDT-1h.json", '{"candles": []}')
    assert refusal(path).problems[0].found == "a JSON dict"
    path = write_text(tmp_path / "binance" / "ETH_USDT-1h.json", "[[1, 2,")
    assert "not JSON" in refusal(path).problems[0].found


@pytest.mark.parametrize(
    ("unit", "tz"), [("ms", "UTC"), ("ns", "UTC"), ("us", "UTC"), ("ns", None)]
)
def test_freqtrade_feather(tmp_path: Path, unit: str, tz: str | None) -> None:
    rows = good_rows(40)
    path = write_feather(tmp_path / "binance" / "ETH_USDT-1h.feather", rows, unit=unit, tz=tz)
    spec = recognise(path)
    assert (spec.format, spec.symbol) == (Format.FREQTRADE_FEATHER, "ETH/USDT")
    assert_same(load(spec), rows)


def test_freqtrade_futures_feather_names_the_settle_currency(tmp_path: Path) -> None:
    rows = good_rows(10)
    folder = tmp_path / "user_data" / "data" / "binance" / "futures"
    path = write_feather(folder / "BTC_USDT_USDT-1h-futures.feather", rows)
    spec = recognise(path)
    assert (spec.exchange, spec.symbol, spec.timeframe) == ("binance", "BTC/USDT:USDT", "1h")
    assert_same(load(spec), rows)


def test_freqtrade_feather_with_wrong_columns(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "binance" / "BTC_USDT-1h.feather"
    path.parent.mkdir()
    pd.DataFrame({"date": [1], "open": [1.0], "close": [1.0]}).to_feather(path)
    problem = refusal(path).problems[0]
    assert (problem.unit, problem.rule) == ("file", RULE_FEATHER)
    assert "['date', 'open', 'close']" in problem.found


def test_freqtrade_feather_with_an_empty_value_and_a_bad_row(tmp_path: Path) -> None:
    rows = _set(good_rows(10), 6, high=-1.0)
    path = write_feather(tmp_path / "binance" / "BTC_USDT-1h.feather", rows)
    import pyarrow as pa
    import pyarrow.feather as feather

    table = feather.read_table(path)
    volume = table.column("volume").to_pylist()
    volume[2] = None
    table = table.set_column(5, "volume", pa.array(volume, pa.float64()))
    feather.write_feather(table, path)
    error = refusal(path)
    assert [(p.where, p.rule) for p in error.problems] == [
        ("row 3", RULE_NUMBER),
        ("row 7", RULES[PRICE_POSITIVE]),
    ]


def test_freqtrade_feather_unsorted(tmp_path: Path) -> None:
    rows = good_rows(10)
    rows[3], rows[4] = rows[4], rows[3]
    path = write_feather(tmp_path / "binance" / "BTC_USDT-1h.feather", rows)
    problem = refusal(path).problems[0]
    assert (problem.where, problem.rule) == ("row 5", RULE_ASCENDING)


# -- names, folders, overrides -----------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "fmt", "exchange", "symbol", "timeframe"),
    [
        ("binance/BTC_USDT-1h.csv.gz", Format.XRAYBOT_CSV, "binance", "BTC/USDT", "1h"),
        ("mexc/1000PEPE_USDT-5m.csv", Format.XRAYBOT_CSV, "mexc", "1000PEPE/USDT", "5m"),
        ("kucoin/ETH_BTC-1d.json", Format.FREQTRADE_JSON, "kucoin", "ETH/BTC", "1d"),
        ("binance/SOL_USDT-4h.feather", Format.FREQTRADE_FEATHER, "binance", "SOL/USDT", "4h"),
        (
            "binance/futures/ETH_USDT_USDT-15m-futures.feather",
            Format.FREQTRADE_FEATHER,
            "binance",
            "ETH/USDT:USDT",
            "15m",
        ),
        ("x/BTCUSDT-1w-2024-01.zip", Format.BINANCE_KLINES, "binance", "BTC/USDT", "1w"),
    ],
)
def test_the_name_and_folder_say_what_a_file_holds(
    tmp_path: Path, relative: str, fmt: Format, exchange: str, symbol: str, timeframe: str
) -> None:
    spec = recognise(tmp_path / relative)
    assert (spec.format, spec.exchange, spec.symbol, spec.timeframe) == (
        fmt,
        exchange,
        symbol,
        timeframe,
    )


def test_overrides_win_over_the_name(tmp_path: Path) -> None:
    rows = good_rows(5)
    path = write_our_csv(tmp_path / "export.csv", rows)
    with pytest.raises(NotRecognisedError, match="--symbol and --timeframe"):
        recognise(path)
    spec = recognise(path, exchange="mexc", symbol="DOGE/USDT", timeframe="1h")
    assert (spec.format, spec.exchange, spec.symbol, spec.timeframe) == (
        Format.XRAYBOT_CSV,
        "mexc",
        "DOGE/USDT",
        "1h",
    )
    binance = write_binance(tmp_path / "klines.csv", rows)
    assert recognise(binance, exchange="binance", symbol="X/USDT", timeframe="1h").format is (
        Format.BINANCE_KLINES
    )


def test_a_folder_that_is_not_an_exchange_needs_exchange(tmp_path: Path) -> None:
    path = write_our_csv(tmp_path / "downloads" / "BTC_USDT-1h.csv", good_rows(3))
    with pytest.raises(InvalidInputError, match=r"'downloads'.*Pass --exchange"):
        recognise(path)
    with pytest.raises(InvalidInputError, match="'Binance'"):
        recognise(path, exchange="Binance")
    assert recognise(path, exchange="binance").exchange == "binance"


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("BTC_USDT_USDT-1h-mark.feather", "'mark' file"),
        ("BTC_USDT_USDT-8h-funding_rate.feather", "'funding_rate' file"),
        ("BTC_USDT-trades.json", "does not say"),
        ("MANIFEST.csv", "does not say"),
        ("notes.txt", "extension"),
    ],
)
def test_files_that_are_not_trade_candles_are_not_recognised(
    tmp_path: Path, name: str, match: str
) -> None:
    with pytest.raises(NotRecognisedError, match=match):
        recognise(tmp_path / "binance" / name)


def test_bad_symbol_and_timeframe_overrides(tmp_path: Path) -> None:
    path = write_our_csv(tmp_path / "binance" / "data.csv", good_rows(3))
    with pytest.raises(InvalidInputError, match="BTC-USDT"):
        recognise(path, symbol="BTC-USDT", timeframe="1h")
    with pytest.raises(InvalidInputError, match="1x"):
        recognise(path, symbol="BTC/USDT", timeframe="1x")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.floats(1e-9, 1e9, allow_nan=False, allow_infinity=False),
            st.floats(0, 1, exclude_max=False),
            st.floats(0, 1),
            st.floats(0, 1e12, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=30,
    ),
    fmt=st.sampled_from(["csv.gz", "json", "feather", "binance"]),
)
def test_any_valid_series_survives_every_format_exactly(
    tmp_path: Path, data: list[tuple[float, float, float, float]], fmt: str
) -> None:
    rows: list[Row] = []
    for i, (low, open_at, close_at, volume) in enumerate(data):
        high = low * 1.5
        open_, close = (min(high, low + f * (high - low)) for f in (open_at, close_at))
        rows.append([START_MS + i * HOUR_MS, open_, high, low, close, volume])
    folder = tmp_path / fmt / "binance"
    if fmt == "csv.gz":
        path = write_our_csv(folder / "BTC_USDT-1h.csv.gz", rows)
    elif fmt == "json":
        path = write_freqtrade_json(folder / "BTC_USDT-1h.json", rows)  # type: ignore[arg-type]
    elif fmt == "feather":
        path = write_feather(folder / "BTC_USDT-1h.feather", rows)
    else:
        path = write_binance(folder / "BTCUSDT-1h-2024-01.csv", rows)
    assert_same(load_path(path), rows)
