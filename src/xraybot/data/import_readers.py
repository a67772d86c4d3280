"""Readers for the candle files ``xraybot data import`` understands.

Each reader returns :class:`Parsed`: the rows it could read (with the line or row each
came from) and a :class:`ProblemList` for what it could not. Clean text files take a
fast path through pyarrow's CSV parser; anything that trips it is re-read line by line so
that each problem can be named with its exact line number.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather

from xraybot.data.import_checks import MAX_SHOWN, RULE_ALIGNED, Problem, ProblemList, Rows
from xraybot.model.candles import FloatArray, IntArray

HEADER = "timestamp,open,high,low,close,volume"
FEATHER_COLUMNS = ("date", "open", "high", "low", "close", "volume")
BINANCE_FIELDS = 12
# Binance's spot kline files switched from ms to µs open times on 2025-01-01. Every ms
# time before the year 5138 is below this and every µs time after 1973 above it.
MICROSECONDS_FROM = 10**14

_VALUE_NAMES = ("open", "high", "low", "close", "volume")
RULE_HEADER = f"the first line must be exactly {HEADER!r}"
RULE_FIELDS = "a row must have {n} comma-separated fields"
RULE_TIMESTAMP = "timestamp must be an integer number of milliseconds (UTC open time)"
RULE_NUMBER = "open, high, low, close and volume must be numbers"
RULE_JSON = "a freqtrade JSON file is one list of [timestamp_ms, open, high, low, close, volume]"
RULE_FEATHER = "a freqtrade feather file has exactly the columns " + ", ".join(FEATHER_COLUMNS)
RULE_READABLE = "the file must be readable (plain, gzip, or a zip holding one CSV)"


@dataclass(slots=True)
class Parsed:
    """What a reader made of one file."""

    rows: Rows | None
    problems: ProblemList


def _refuse(
    file: str, found: str, rule: str, unit: str = "file", number: int | None = None
) -> Parsed:
    problems = ProblemList()
    problems.add(Problem(file, unit, number, found, rule))
    return Parsed(None, problems)


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


class UnreadableFileError(Exception):
    """The file's bytes could not be read or decompressed."""


def read_bytes(path: Path) -> bytes:
    """Return the file's content, decompressing ``.gz`` and single-member ``.zip`` files."""
    name = path.name.lower()
    try:
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if len(members) != 1:
                    raise UnreadableFileError(f"a zip with {len(members)} members")
                return archive.read(members[0])
        return path.read_bytes()
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
        raise UnreadableFileError(f"{type(e).__name__}: {e}") from e


def _rows(ts: IntArray, values: list[FloatArray], numbers: IntArray, unit: str) -> Rows:
    o, h, low, c, v = (np.ascontiguousarray(x, dtype=np.float64) for x in values)
    return Rows(np.ascontiguousarray(ts, dtype=np.int64), o, h, low, c, v, numbers, unit)


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _numbers(table: pa.Table, name: str, dtype: type[np.generic]) -> Any:
    # pyarrow's to_numpy imports pandas (0.3 s of a research command's start); a column
    # without nulls is one plain values buffer, read directly.
    column = table.column(name).combine_chunks()
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(
        column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * itemsize
    ).copy()


def _fast_csv(data: bytes, skip: int, fields: int) -> Rows | None:
    """Parse a clean CSV with pyarrow; ``None`` if anything needs the line-by-line reader."""
    names = [f"c{i}" for i in range(fields)]
    types: dict[str, pa.DataType] = {"c0": pa.int64()}
    types.update({f"c{i}": pa.float64() for i in range(1, 6)})
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=names[:6], null_values=[""]
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    # Line numbers are exact only if pyarrow skipped no blank lines.
    if table.num_rows != _line_count(data) - skip:
        return None
    if any(column.null_count for column in table.columns):
        return None
    n = table.num_rows
    ts = _numbers(table, "c0", np.int64)
    values = [_numbers(table, f"c{i}", np.float64) for i in range(1, 6)]
    return _rows(ts, values, np.arange(skip + 1, skip + 1 + n, dtype=np.int64), "line")


def _slow_csv(data: bytes, skip: int, fields: int, file: str) -> Parsed:
    """Parse line by line, naming each line that has the wrong shape or a non-number."""
    problems = ProblemList()
    ts: list[int] = []
    values: list[list[float]] = []
    numbers: list[int] = []
    text = data.decode("utf-8", errors="replace")
    for number, raw in enumerate(text.split("\n")[skip:], start=skip + 1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != fields:
            problems.add(
                Problem(
                    file,
                    "line",
                    number,
                    f"{len(parts)} fields in {_clip(line)}",
                    RULE_FIELDS.format(n=fields),
                )
            )
            continue
        row = _parse_fields(parts[0], parts[1:6], file, number, problems)
        if row is not None:
            ts.append(row[0])
            values.append(row[1])
            numbers.append(number)
    rows = _rows(
        np.asarray(ts, dtype=np.int64),
        list(np.asarray(values, dtype=np.float64).reshape(-1, 5).T),
        np.asarray(numbers, dtype=np.int64),
        "line",
    )
    return Parsed(rows, problems)


def _parse_fields(
    stamp: str, fields: list[str], file: str, number: int, problems: ProblemList
) -> tuple[int, list[float]] | None:
    ok = True
    try:
        ts = int(stamp)
    except ValueError:
        problems.add(Problem(file, "line", number, f"timestamp {_clip(stamp)}", RULE_TIMESTAMP))
        ok = False
    parsed: list[float] = []
    for name, field in zip(_VALUE_NAMES, fields, strict=True):
        try:
            parsed.append(float(field))
        except ValueError:
            problems.add(Problem(file, "line", number, f"{name}={_clip(field)}", RULE_NUMBER))
            ok = False
    return (ts, parsed) if ok else None


def parse_xraybot_csv(data: bytes, file: str) -> Parsed:
    """Read our layout: header exactly ``timestamp,open,high,low,close,volume``, ms times."""
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    if first != HEADER:
        return _refuse(file, f"header {_clip(first)}", RULE_HEADER, "line", 1)
    rows = _fast_csv(data, 1, 6)
    return Parsed(rows, ProblemList()) if rows is not None else _slow_csv(data, 1, 6, file)


def parse_binance_csv(data: bytes, file: str) -> Parsed:
    """Read a data.binance.vision kline CSV: 12 fields, open time in ms (µs from 2025)."""
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    # Futures kline files carry a header line; spot ones do not.
    skip = 1 if first.startswith("open_time") else 0
    parsed = _fast_csv(data, skip, BINANCE_FIELDS)
    result = Parsed(parsed, ProblemList()) if parsed is not None else None
    if result is None:
        result = _slow_csv(data, skip, BINANCE_FIELDS, file)
    if result.rows is not None:
        result.rows = _microseconds_to_ms(result.rows, file, result.problems)
    return result


def _microseconds_to_ms(rows: Rows, file: str, problems: ProblemList) -> Rows:
    ts = rows.ts_ms
    micro = ts >= MICROSECONDS_FROM
    if not micro.any():
        return rows
    fraction = micro & (ts % 1000 != 0)
    bad = np.flatnonzero(fraction)
    shown = [
        Problem(
            file,
            rows.unit,
            int(rows.numbers[i]),
            f"timestamp {int(ts[i])} µs, not a whole millisecond",
            RULE_ALIGNED,
        )
        for i in bad[:MAX_SHOWN]
    ]
    problems.merge(shown, int(bad.size))
    keep = ~fraction
    converted = np.where(micro, ts // 1000, ts)
    return _take(rows, keep, converted)


def _take(rows: Rows, keep: npt.NDArray[np.bool_], ts: IntArray) -> Rows:
    values = [rows.open, rows.high, rows.low, rows.close, rows.volume]
    return _rows(ts[keep], [v[keep] for v in values], rows.numbers[keep], rows.unit)


def parse_freqtrade_json(data: bytes, file: str) -> Parsed:
    """Read freqtrade's JSON: a list of ``[timestamp_ms, open, high, low, close, volume]``."""
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        return _refuse(file, f"text that is not JSON ({e})", RULE_JSON)
    if not isinstance(document, list):
        return _refuse(file, f"a JSON {type(document).__name__}", RULE_JSON)
    fast = _fast_json(document)
    if fast is not None:
        return Parsed(fast, ProblemList())
    problems = ProblemList()
    ts: list[int] = []
    values: list[list[float]] = []
    numbers: list[int] = []
    for number, item in enumerate(document, start=1):
        if not isinstance(item, list) or len(item) != 6:
            problems.add(Problem(file, "row", number, _clip(json.dumps(item)), RULE_JSON))
            continue
        stamp = item[0]
        ok = True
        if not _is_integral(stamp):
            problems.add(Problem(file, "row", number, f"timestamp {stamp!r}", RULE_TIMESTAMP))
            ok = False
        for name, value in zip(_VALUE_NAMES, item[1:], strict=True):
            if not _is_number(value):
                problems.add(Problem(file, "row", number, f"{name}={value!r}", RULE_NUMBER))
                ok = False
        if ok:
            ts.append(int(stamp))
            values.append([float(x) for x in item[1:]])
            numbers.append(number)
    rows = _rows(
        np.asarray(ts, dtype=np.int64),
        list(np.asarray(values, dtype=np.float64).reshape(-1, 5).T),
        np.asarray(numbers, dtype=np.int64),
        "row",
    )
    return Parsed(rows, problems)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integral(value: object) -> bool:
    if isinstance(value, float):
        return bool(np.isfinite(value)) and value == int(value)
    return _is_number(value)


def _fast_json(document: list[Any]) -> Rows | None:
    if not document:
        return _rows(np.empty(0, np.int64), [np.empty(0)] * 5, np.empty(0, np.int64), "row")
    if not all(type(item) is list and len(item) == 6 for item in document):
        return None
    try:
        table = np.asarray(document)
    except (ValueError, TypeError):
        return None
    # Strings, nulls or nested values make a non-numeric array: the slow path names them.
    if table.ndim != 2 or table.dtype.kind not in "if":
        return None
    table = table.astype(np.float64)
    stamps = table[:, 0]
    if not (np.isfinite(stamps).all() and (stamps == np.floor(stamps)).all()):
        return None
    numbers = np.arange(1, table.shape[0] + 1, dtype=np.int64)
    return _rows(stamps.astype(np.int64), [table[:, k] for k in range(1, 6)], numbers, "row")


_TO_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


def parse_freqtrade_feather(path: Path, file: str) -> Parsed:
    """Read freqtrade's feather: columns date (UTC datetime), open, high, low, close, volume."""
    try:
        table = feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        return _refuse(file, f"a file that is not Arrow feather ({e})", RULE_FEATHER)
    if sorted(table.column_names) != sorted(FEATHER_COLUMNS):
        return _refuse(file, f"columns {table.column_names}", RULE_FEATHER)
    date = table.column("date")
    if pa.types.is_timestamp(date.type):
        times = date.cast(pa.int64()).to_numpy(zero_copy_only=False)
        multiply, divide = _TO_MS[date.type.unit]
    elif pa.types.is_integer(date.type):
        times = date.to_numpy(zero_copy_only=False)
        multiply, divide = 1, 1
    else:
        return _refuse(file, f"a date column of type {date.type}", RULE_FEATHER)
    values: list[FloatArray] = []
    for name in _VALUE_NAMES:
        column = table.column(name)
        if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
            return _refuse(file, f"a {name} column of type {column.type}", RULE_FEATHER)
        values.append(column.cast(pa.float64()).to_numpy(zero_copy_only=False))
    problems = ProblemList()
    keep = np.ones(table.num_rows, dtype=bool)
    for name in FEATHER_COLUMNS:
        nulls = np.flatnonzero(table.column(name).is_null().to_numpy(zero_copy_only=False))
        keep[nulls] = False
        shown = [
            Problem(file, "row", int(i) + 1, f"an empty {name}", RULE_NUMBER)
            for i in nulls[:MAX_SHOWN]
        ]
        problems.merge(shown, int(nulls.size))
    stamps = (
        np.nan_to_num(times).astype(np.int64) if times.dtype.kind == "f" else times.astype(np.int64)
    )
    fraction = keep & (stamps % divide != 0)
    bad = np.flatnonzero(fraction)
    shown = [
        Problem(
            file,
            "row",
            int(i) + 1,
            f"date with a sub-millisecond part ({int(stamps[i])} {date.type})",
            RULE_ALIGNED,
        )
        for i in bad[:MAX_SHOWN]
    ]
    problems.merge(shown, int(bad.size))
    keep &= ~fraction
    ms = stamps // divide * multiply
    numbers = np.arange(1, table.num_rows + 1, dtype=np.int64)
    rows = _rows(ms[keep], [v[keep] for v in values], numbers[keep], "row")
    return Parsed(rows, problems)
