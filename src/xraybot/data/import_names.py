"""What a candle file holds, from its name and folder: format, exchange, symbol, timeframe.

- ``BTC_USDT-1h.csv[.gz]``: our layout (../shared/data), exchange from the parent folder.
- ``BTC_USDT-1h.json[.gz]`` / ``BTC_USDT-1h.feather``: freqtrade's files, exchange from the
  parent folder (``<exchange>/futures/`` for ``BTC_USDT_USDT-1h-futures.feather``, which is
  the symbol ``BTC/USDT:USDT``).
- ``BTCUSDT-1h-2024-01.csv`` (or ``.zip``): Binance's monthly (or daily) kline files from
  data.binance.vision, exchange ``binance``, quote split off by :data:`KNOWN_QUOTES`.

``--exchange``, ``--symbol`` and ``--timeframe`` override what the name says. A folder name
becomes an exchange only if ccxt (or the simulator) knows it: nothing is guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from xraybot.data.import_readers import UnreadableFileError, read_bytes
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import InvalidInputError

KNOWN_QUOTES = ("FDUSD", "USDT", "USDC", "BTC", "ETH", "BNB", "EUR", "TRY")  # longest first

_PAIR = r"(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)(?:_(?P<settle>[A-Za-z0-9]+))?"
_FREQTRADE_NAME = re.compile(_PAIR + r"-(?P<tf>[0-9]+[A-Za-z]+)(?:-(?P<kind>[A-Za-z_]+))?")
_BINANCE_NAME = re.compile(
    r"(?P<pair>[A-Z0-9]+)-(?P<tf>[0-9]+[A-Za-z]+)-(?P<date>[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?)"
)
_SYMBOL = re.compile(r"[A-Za-z0-9]+/[A-Za-z0-9]+(?::[A-Za-z0-9]+)?")
# freqtrade candle types that are not traded prices: imported as OHLCV they would lie.
_NOT_TRADES = ("mark", "index", "premiumindex", "funding_rate")
_SUFFIXES = (".csv.gz", ".csv", ".zip", ".json.gz", ".json", ".feather")


class Format(StrEnum):
    """The file formats ``xraybot data import`` reads."""

    XRAYBOT_CSV = "xraybot-csv"
    FREQTRADE_JSON = "freqtrade-json"
    FREQTRADE_FEATHER = "freqtrade-feather"
    BINANCE_KLINES = "binance-klines"


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A recognised file: where it is, its format, and the series it belongs to."""

    path: Path
    format: Format
    exchange: str
    symbol: str
    timeframe: str


def data_suffix(path: Path) -> str | None:
    """Return the data-file suffix of ``path`` (".csv.gz", ".feather", …) or ``None``."""
    name = path.name.lower()
    return next((s for s in _SUFFIXES if name.endswith(s)), None)


def find_files(path: Path) -> list[Path]:
    """Return ``path`` if it is a file, else every data file below it (sorted, no hidden)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInputError(f"nothing to import: found no file or folder at {path}.")
    found = []
    for item in sorted(path.rglob("*")):
        hidden = any(part.startswith(".") for part in item.relative_to(path).parts)
        if item.is_file() and not hidden and data_suffix(item) is not None:
            found.append(item)
    return found


def split_binance_symbol(pair: str) -> str | None:
    """Return ``BASE/QUOTE`` for a Binance id such as ``BTCUSDT``, if its quote is known."""
    for quote in KNOWN_QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return f"{pair[: -len(quote)]}/{quote}"
    return None


def _known_exchange(name: str) -> bool:
    # Imported here: ccxt takes most of a second to load and only this check needs it.
    import ccxt

    from xraybot.exchange.config import SIM_EXCHANGE_ID

    return name == SIM_EXCHANGE_ID or name in ccxt.exchanges


class NotRecognisedError(InvalidInputError):
    """The file's name or extension does not say what it holds."""


def recognise(
    path: Path,
    *,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
) -> FileSpec:
    """Return what ``path`` holds from its name, folder and the overrides given."""
    suffix = data_suffix(path)
    if suffix is None:
        raise NotRecognisedError(
            f"{path}: found the extension {path.suffix!r}; importable files end in "
            f"{', '.join(_SUFFIXES)}."
        )
    stem = path.name[: -len(suffix)]
    binance = _BINANCE_NAME.fullmatch(stem)
    freqtrade = _FREQTRADE_NAME.fullmatch(stem)
    name_symbol = name_timeframe = None
    if suffix in (".json", ".json.gz", ".feather"):
        fmt = Format.FREQTRADE_FEATHER if suffix == ".feather" else Format.FREQTRADE_JSON
    elif binance is not None:
        fmt = Format.BINANCE_KLINES
    elif freqtrade is not None:
        fmt = Format.XRAYBOT_CSV
    else:
        fmt = _sniff_csv(path)
    if fmt is Format.BINANCE_KLINES and binance is not None:
        name_symbol = split_binance_symbol(binance["pair"])
        name_timeframe = binance["tf"]
    elif fmt is not Format.BINANCE_KLINES and freqtrade is not None:
        kind = (freqtrade["kind"] or "").lower()
        if kind in _NOT_TRADES:
            raise NotRecognisedError(
                f"{path}: found a freqtrade {freqtrade['kind']!r} file; only trade candles "
                "(spot or futures) can be imported."
            )
        if kind not in ("", "spot", "futures"):
            raise NotRecognisedError(f"{path}: found the unknown candle type {kind!r}.")
        settle = f":{freqtrade['settle']}" if freqtrade["settle"] else ""
        name_symbol = f"{freqtrade['base']}/{freqtrade['quote']}{settle}"
        name_timeframe = freqtrade["tf"]
    symbol = symbol or name_symbol
    timeframe = timeframe or name_timeframe
    if symbol is None or timeframe is None:
        raise NotRecognisedError(
            f"{path}: the name does not say the symbol and timeframe (expected e.g. "
            "BTC_USDT-1h.csv.gz, BTC_USDT-1h.feather or BTCUSDT-1h-2024-01.csv); pass "
            "--symbol and --timeframe."
        )
    if not _SYMBOL.fullmatch(symbol):
        raise InvalidInputError(
            f"{path}: found the symbol {symbol!r}; a symbol looks like BTC/USDT or BTC/USDT:USDT."
        )
    timeframe_to_ms(timeframe)
    return FileSpec(path, fmt, _exchange_for(path, fmt, exchange), symbol, timeframe)


def _sniff_csv(path: Path) -> Format:
    try:
        first = read_bytes(path).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    except UnreadableFileError:
        return Format.XRAYBOT_CSV  # the reader reports why it cannot be read
    return Format.XRAYBOT_CSV if first.strip().startswith("timestamp") else Format.BINANCE_KLINES


def _exchange_for(path: Path, fmt: Format, given: str | None) -> str:
    if given is not None:
        name, origin = given, "--exchange"
    elif fmt is Format.BINANCE_KLINES:
        return "binance"
    else:
        folder = path.resolve().parent
        if folder.name == "futures":  # freqtrade keeps futures in <exchange>/futures/
            folder = folder.parent
        name, origin = folder.name, f"the folder name of {path}"
    if not _known_exchange(name):
        raise InvalidInputError(
            f"found the exchange {name!r} (from {origin}); it must be a ccxt exchange id in "
            "lower case (binance, mexc, kucoin, …) or sim. Pass --exchange."
        )
    return name
