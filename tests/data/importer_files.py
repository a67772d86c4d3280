"""Writers of candle files in every format ``xraybot data import`` reads, for tests."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

HOUR_MS = 3_600_000
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
START_2025_MS = 1_735_689_600_000  # 2025-01-01T00:00Z, when Binance's files switched to µs
HEADER = "timestamp,open,high,low,close,volume"

Row = list[float]  # [ts_ms, open, high, low, close, volume]


def good_rows(n: int = 48, start_ms: int = START_MS, step_ms: int = HOUR_MS) -> list[Row]:
    """Return ``n`` consistent candles: a deterministic walk with a spread around it."""
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    volume = rng.uniform(1, 50, n)
    return [
        [
            start_ms + i * step_ms,
            *(round(float(x[i]), 6) for x in (open_, high, low, close, volume)),
        ]
        for i in range(n)
    ]


def csv_text(rows: list[Row], header: str | None = HEADER) -> str:
    """Return rows as our CSV (integer timestamps, Python float reprs)."""
    lines = [] if header is None else [header]
    lines += [",".join([str(int(r[0])), *(repr(float(x)) for x in r[1:])]) for r in rows]
    return "\n".join(lines) + "\n"


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``, gzip-compressed if the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def write_our_csv(path: Path, rows: list[Row], header: str | None = HEADER) -> Path:
    """Write our layout (gzip if the name ends in .gz)."""
    return write_text(path, csv_text(rows, header))


def write_freqtrade_json(path: Path, rows: list[object]) -> Path:
    """Write freqtrade's JSON: one list of [ts_ms, o, h, l, c, v]."""
    return write_text(path, json.dumps(rows))


def write_feather(path: Path, rows: list[Row], unit: str = "ms", tz: str | None = "UTC") -> Path:
    """Write freqtrade's feather: date (datetime, tz-aware by default) and five floats."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
    date = pd.to_datetime(frame.pop("ts").astype("int64"), unit="ms", utc=tz is not None)
    frame.insert(
        0, "date", date.astype(f"datetime64[{unit}, UTC]" if tz else f"datetime64[{unit}]")
    )
    frame.to_feather(path)
    return path


def binance_text(rows: list[Row], micro: bool = False, header: bool = False) -> str:
    """Return rows as a data.binance.vision kline CSV (12 fields, ms or µs times)."""
    scale = 1000 if micro else 1
    lines = []
    if header:
        lines.append(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore"
        )
    for ts, o, h, low, c, v in rows:
        open_time = int(ts) * scale
        close_time = (int(ts) + HOUR_MS) * scale - 1
        fields = [open_time, o, h, low, c, v, close_time, round(v * c, 4), 100, v / 2, v * c / 2, 0]
        lines.append(",".join(str(x) for x in fields))
    return "\n".join(lines) + "\n"


def write_binance(path: Path, rows: list[Row], micro: bool = False, header: bool = False) -> Path:
    """Write a Binance kline CSV, or a zip holding one if the name ends in .zip."""
    text = binance_text(rows, micro=micro, header=header)
    if path.suffix == ".zip":
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.with_suffix(".csv").name, text)
        return path
    return write_text(path, text)
