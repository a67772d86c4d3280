"""Load candle series for research commands from a data folder, whichever layout it has.

A data folder is either the Parquet store (``<dir>/ohlcv/<exchange>/<SYMBOL>/<tf>.parquet``,
written by ``xraybot data import|download``) or a folder of candle files in our CSV layout,
``<dir>/<exchange>/<BASE>_<QUOTE>-<TF>.csv[.gz]`` (``../shared/reference/data`` is one). The
store wins when it holds the series; a file is checked row by row exactly as
``xraybot data import`` would check it, and a bad file is refused, never half-read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xraybot.data.import_names import FileSpec, Format
from xraybot.data.importers import load
from xraybot.data.store import CandleStore, check_exchange, symbol_to_safe
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import InvalidInputError

_CSV_SUFFIXES = (".csv.gz", ".csv")


def csv_path(data_dir: Path, exchange: str, symbol: str, timeframe: str) -> Path | None:
    """Return the CSV-layout file of the series if one exists."""
    safe = symbol_to_safe(symbol).replace("-", "_")
    for suffix in _CSV_SUFFIXES:
        path = data_dir / exchange / f"{safe}-{timeframe}{suffix}"
        if path.is_file():
            return path
    return None


def load_one(
    data_dir: Path,
    exchange: str,
    symbol: str,
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Candles:
    """Return one series with ``start_ms <= ts_ms < end_ms``; raise naming what was looked for."""
    check_exchange(exchange)
    timeframe_to_ms(timeframe)
    store = CandleStore(data_dir)
    stored = store.path(exchange, symbol, timeframe)
    if stored.is_file():
        return store.read(exchange, symbol, timeframe, start_ms, end_ms)
    path = csv_path(data_dir, exchange, symbol, timeframe)
    if path is None:
        layout = data_dir / exchange / f"{symbol_to_safe(symbol)}-{timeframe}.csv.gz"
        raise InvalidInputError(
            f"no {timeframe} candles of {symbol} on {exchange} in {data_dir}: looked for the "
            f"store file {stored} and the CSV file {layout}. Fetch them with `xraybot data "
            f"download --exchange {exchange} --symbols {symbol} --timeframe {timeframe}` or "
            "import a file with `xraybot data import PATH`."
        )
    candles = load(FileSpec(path, Format.XRAYBOT_CSV, exchange, symbol, timeframe))
    return candles.between(start_ms, end_ms)


def load_series(
    data_dir: Path,
    exchange: str,
    symbols: Sequence[str],
    timeframe: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Candles]:
    """Return the series of ``symbols`` in order; refuse an empty symbol list or range."""
    if not symbols:
        raise InvalidInputError("no symbols given; pass --symbols BTC/USDT,ETH/USDT.")
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise InvalidInputError(
            f"the start ({start_ms}) must be before the end ({end_ms}); swap or fix them."
        )
    return [load_one(data_dir, exchange, s, timeframe, start_ms, end_ms) for s in symbols]
