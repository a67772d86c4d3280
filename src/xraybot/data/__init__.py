"""Market data in, one direction: the Parquet candle store, the point-in-time universe, config.

Downloads, importers and the live feed live in their own modules and write through
:class:`CandleStore` and :class:`UniverseStore`.
"""

from xraybot.data.config import DATA_DIR_ENV, DataConfig, default_data_dir, resolve_data_dir
from xraybot.data.store import (
    CandleStore,
    Gap,
    SeriesInfo,
    SeriesKey,
    WriteReport,
    candles_from_table,
    find_gaps,
    merge_candles,
    symbol_to_safe,
)
from xraybot.data.store_checks import CandleProblem, find_problems
from xraybot.data.universe import UniverseRow, UniverseStore

__all__ = [
    "DATA_DIR_ENV",
    "CandleProblem",
    "CandleStore",
    "DataConfig",
    "Gap",
    "SeriesInfo",
    "SeriesKey",
    "UniverseRow",
    "UniverseStore",
    "WriteReport",
    "candles_from_table",
    "default_data_dir",
    "find_gaps",
    "find_problems",
    "merge_candles",
    "resolve_data_dir",
    "symbol_to_safe",
]
