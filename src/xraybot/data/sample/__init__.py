"""The bundled sample: ten liquid Binance USDT pairs, 1h candles for 2025, as shipped files.

The files use our CSV layout (``binance/<BASE>_<QUOTE>-1h.csv.gz``), so
``xraybot data import --sample`` goes through the same importer as any other folder.
SOURCE.md next to them says where the candles come from.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from xraybot.model.errors import StorageError

SAMPLE_EXCHANGE = "binance"
SAMPLE_TIMEFRAME = "1h"
SAMPLE_SYMBOLS = (
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "XRP/USDT",
    "DOGE/USDT",
    "BNB/USDT",
    "SUI/USDT",
    "ADA/USDT",
    "TRX/USDT",
    "ENA/USDT",
)
SAMPLE_START_MS = 1_735_689_600_000  # 2025-01-01T00:00Z, the first candle
SAMPLE_END_MS = 1_767_225_600_000  # 2026-01-01T00:00Z, one past the last candle
SAMPLE_MAX_BYTES = 3_000_000  # the promise: the sample stays under 3 MB


def sample_dir() -> Path:
    """Return the folder holding the bundled sample (``<exchange>/<BASE>_<QUOTE>-1h.csv.gz``)."""
    folder = files(__name__)
    path = Path(str(folder))
    if not (path / SAMPLE_EXCHANGE).is_dir():
        raise StorageError(
            f"the bundled sample is missing: found no {path / SAMPLE_EXCHANGE}. Reinstall "
            "xraybot (the wheel must include xraybot/data/sample/**)."
        )
    return path
