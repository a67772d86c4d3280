"""The candle files a replay reads: ``<data_dir>/ohlcv/<exchange>/<BASE>_<QUOTE>-<tf>.csv.gz``.

Each file is gzip CSV with the header exactly ``timestamp,open,high,low,close,volume``,
``timestamp`` the candle's open time in integer ms UTC. A file that breaks the format
(header, numbers, order, alignment, prices) raises DataValidationError naming the file and
the first offending row (row 1 is the first line after the header).
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import ConfigError, DataValidationError
from xraybot.sim.bars import Bars, bucket_offset

HEADER = "timestamp,open,high,low,close,volume"
_FILE_NAME = re.compile(r"(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-(?P<tf>[0-9]+[mhdw])")
_SUFFIX = ".csv.gz"


@dataclass(frozen=True, slots=True)
class SeriesFile:
    """One candle file of one symbol and timeframe."""

    base: str
    quote: str
    timeframe: str
    tf_ms: int
    path: Path


def exchange_dir(data_dir: Path, exchange: str | None) -> Path:
    """Return ``<data_dir>/ohlcv/<exchange>``; without an exchange, binance or the first one.

    Binance is preferred because its files hold the majors and the longest histories.
    """
    root = Path(data_dir) / "ohlcv"
    if not root.is_dir():
        raise ConfigError(
            f"a replay data directory must contain ohlcv/<exchange>/ folders; found no "
            f"{root}. Point --data-dir at a directory in the shared/data layout."
        )
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    if exchange is None:
        if not found:
            raise ConfigError(f"{root} holds no exchange folders; add e.g. {root}/binance/.")
        exchange = "binance" if "binance" in found else found[0]
    if exchange not in found:
        raise ConfigError(
            f"the replay data has no exchange {exchange!r} under {root}; "
            f"found {', '.join(found) or 'none'}."
        )
    return root / exchange


def scan(directory: Path) -> dict[tuple[str, str], list[SeriesFile]]:
    """Return each (base, quote)'s files, finest timeframe first (other names are ignored)."""
    found: dict[tuple[str, str], list[SeriesFile]] = {}
    for path in sorted(directory.iterdir()):
        if not path.name.endswith(_SUFFIX):
            continue
        match = _FILE_NAME.fullmatch(path.name[: -len(_SUFFIX)])
        if match is None:
            continue
        tf = match.group("tf")
        item = SeriesFile(match.group("base"), match.group("quote"), tf, timeframe_to_ms(tf), path)
        found.setdefault((item.base, item.quote), []).append(item)
    for files in found.values():
        files.sort(key=lambda f: f.tf_ms)
    return found


def _fail(path: Path, row: int, rule: str, found: str) -> DataValidationError:
    return DataValidationError(
        f"{path} row {row + 1} (line {row + 2}): {rule}; found {found}. "
        "Fix the file or remove it from the data directory."
    )


def _check_header(handle: gzip.GzipFile, path: Path) -> None:
    try:
        header = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as e:
        raise DataValidationError(f"{path} is not a readable gzip file ({e}).") from e
    if header != HEADER:
        raise DataValidationError(
            f"{path} line 1: the header must be exactly {HEADER!r}; found {header!r}."
        )


def first_timestamp(file: SeriesFile) -> int | None:
    """Return the first row's timestamp, reading only the start of the file."""
    with gzip.open(file.path, "rb") as handle:
        _check_header(handle, file.path)
        line = handle.readline().decode("utf-8", errors="replace").strip()
    if not line:
        return None
    try:
        return int(float(line.split(",", 1)[0]))
    except ValueError as e:
        raise _fail(file.path, 0, "timestamp must be an integer of ms", repr(line)) from e


def read_bars(file: SeriesFile) -> Bars:
    """Read and check one file: aligned, strictly ascending, well-formed candles."""
    path = file.path
    with gzip.open(path, "rb") as handle:
        _check_header(handle, path)
        try:
            table = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
        except (ValueError, OSError, EOFError, zlib.error) as e:
            raise DataValidationError(
                f"{path}: every row must be 6 comma-separated numbers ({e}). "
                "Fix the file or remove it from the data directory."
            ) from e
    if table.shape[0] == 0:
        return Bars.empty()
    if table.shape[1] != 6:
        raise _fail(path, 0, "a row must have 6 columns", f"{table.shape[1]}")
    stamps = table[:, 0]
    bad = np.flatnonzero(~np.isfinite(stamps) | (stamps != np.floor(stamps)))
    if bad.size:
        row = int(bad[0])
        raise _fail(path, row, "timestamp must be an integer of ms", repr(float(stamps[row])))
    ts = stamps.astype(np.int64)
    steps = np.flatnonzero(np.diff(ts) <= 0)
    if steps.size:
        row = int(steps[0]) + 1
        raise _fail(
            path, row, "timestamps must be strictly ascending", f"{ts[row]} after {ts[row - 1]}"
        )
    misaligned = np.flatnonzero((ts - bucket_offset(file.tf_ms)) % file.tf_ms)
    if misaligned.size:
        row = int(misaligned[0])
        raise _fail(path, row, f"timestamp must be aligned to {file.timeframe}", f"{ts[row]}")
    o, h, low, c, v = (np.ascontiguousarray(table[:, k]) for k in range(1, 6))
    broken = ~(np.isfinite(table[:, 1:]).all(axis=1) & (low > 0) & (v >= 0))
    broken |= (h < np.maximum(o, c)) | (low > np.minimum(o, c))
    rows = np.flatnonzero(broken)
    if rows.size:
        row = int(rows[0])
        raise _fail(
            path,
            row,
            "prices must be finite and > 0, volume >= 0, low <= open, close <= high",
            f"open={o[row]} high={h[row]} low={low[row]} close={c[row]} volume={v[row]}",
        )
    return Bars(ts, o, h, low, c, v)
