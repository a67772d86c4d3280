"""Many candle series in one file that worker processes memory-map read-only.

A parameter search runs the same data through many worker processes. Handing each worker
its own copy (pickled arguments, or every worker reading the source files) multiplies the
data by the number of workers, and that is where the best-known open-source bot runs out
of memory. Here the parent writes every series once into an Arrow IPC file (one record
batch per series: ``ts_ms`` int64 and OHLCV float64, each column one contiguous buffer) and
every worker maps that file: the ``Candles`` it sees are read-only numpy views straight
into the shared page cache, so the operating system holds one copy however many workers
read it.

The index (symbol, timeframe, offset, rows of each series) is kept in the file's schema
metadata, so the file alone is enough to reopen it. Pickling a ``SharedSeries`` sends only
its path; the receiving process maps the same file again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import pyarrow as pa

from xraybot.model.candles import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError

__all__ = ["SeriesEntry", "SharedSeries"]

_COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")
_SCHEMA = pa.schema(
    [pa.field("ts_ms", pa.int64(), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in _COLUMNS[1:]]
)
_INDEX_KEY = b"xraybot.series.index"
_FORMAT_KEY = b"xraybot.series.format"
_FORMAT = b"1"


@dataclass(frozen=True, slots=True)
class SeriesEntry:
    """Where one series sits in the file: its record batch, and its first row counted over
    all series before it (``offset``)."""

    symbol: str
    timeframe: str
    offset: int
    rows: int


class SharedSeries(Sequence[Candles]):
    """Read-only candle series mapped from one file; ``series[i]`` is a zero-copy ``Candles``.

    Build one with ``SharedSeries.create(series, folder)`` in the parent and pass it (or its
    ``path``) to workers, which call ``SharedSeries.open(path)``. The mapping lives as long as
    this object or any array taken from it.
    """

    __slots__ = ("_candles", "_source", "entries", "path")

    def __init__(
        self,
        path: Path,
        entries: tuple[SeriesEntry, ...],
        candles: list[Candles],
        source: pa.Buffer,
    ) -> None:
        self.path = path
        self.entries = entries
        self._candles = candles
        self._source = source

    # -- building and opening -----------------------------------------------------------

    @classmethod
    def create(cls, series: Sequence[Candles], folder: Path | str) -> SharedSeries:
        """Write ``series`` into a new file in ``folder`` and return it mapped.

        The file gets a unique name, so several searches may share a folder; the caller
        owns the folder (a ``tempfile.TemporaryDirectory`` is the usual choice) and removes
        it when every worker is done.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInputError(
                f"shared series folder {folder} does not exist; create it first."
            )
        entries: list[SeriesEntry] = []
        offset = 0
        for candles in series:
            if not isinstance(candles, Candles):
                raise InvalidInputError(
                    f"SharedSeries.create takes Candles series; found {type(candles).__name__}."
                )
            entries.append(SeriesEntry(candles.symbol, candles.timeframe, offset, len(candles)))
            offset += len(candles)
        index = [[e.symbol, e.timeframe, e.offset, e.rows] for e in entries]
        schema = _SCHEMA.with_metadata(
            {_INDEX_KEY: json.dumps(index).encode(), _FORMAT_KEY: _FORMAT}
        )
        fd, tmp = tempfile.mkstemp(prefix=".series-", suffix=".arrow", dir=folder)
        os.close(fd)
        try:
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for candles in series:
                    # pa.array over a contiguous float64/int64 numpy array copies nothing
                    # until the writer streams the buffer out.
                    columns = [
                        pa.array(np.ascontiguousarray(getattr(candles, name))) for name in _COLUMNS
                    ]
                    writer.write_batch(pa.record_batch(columns, schema=schema))
            final = Path(tmp).with_name(Path(tmp).name.lstrip("."))
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cls.open(final)

    @classmethod
    def open(cls, path: Path | str) -> SharedSeries:
        """Map a file written by ``create`` read-only; nothing is read until it is used."""
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"shared series file {path} does not exist.")
        try:
            source = pa.memory_map(str(path), "r").read_buffer()
            reader = pa.ipc.open_file(source)
        except (pa.ArrowInvalid, OSError) as e:
            raise DataValidationError(
                f"{path} is not a shared series file ({type(e).__name__}: {e}); "
                "write it with SharedSeries.create."
            ) from e
        metadata = reader.schema.metadata or {}
        if metadata.get(_FORMAT_KEY) != _FORMAT or _INDEX_KEY not in metadata:
            raise DataValidationError(
                f"{path} is an Arrow file without a series index; write it with "
                "SharedSeries.create."
            )
        entries = tuple(
            SeriesEntry(str(symbol), str(timeframe), int(offset), int(rows))
            for symbol, timeframe, offset, rows in json.loads(metadata[_INDEX_KEY])
        )
        if reader.num_record_batches != len(entries):
            raise DataValidationError(
                f"{path} holds {reader.num_record_batches} series but its index lists "
                f"{len(entries)}; the file is damaged, write it again."
            )
        candles = [_candles(reader.get_batch(i), entry) for i, entry in enumerate(entries)]
        return cls(path, entries, candles, source)

    # -- reading ------------------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> Candles: ...

    @overload
    def __getitem__(self, index: slice) -> list[Candles]: ...

    def __getitem__(self, index: int | slice) -> Candles | list[Candles]:
        return self._candles[index]

    def __len__(self) -> int:
        return len(self._candles)

    def __iter__(self) -> Iterator[Candles]:
        return iter(self._candles)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(e.symbol for e in self.entries)

    @property
    def nbytes(self) -> int:
        """Size of the mapped file in bytes."""
        return int(self._source.size)

    @property
    def address_range(self) -> tuple[int, int]:
        """``(start, stop)`` memory addresses of the mapping; every array lies inside it."""
        start = int(self._source.address)
        return start, start + int(self._source.size)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Workers get the path, never the data: they map the same file themselves.
        return (SharedSeries.open, (str(self.path),))

    def __repr__(self) -> str:
        return f"SharedSeries({str(self.path)!r}, {len(self)} series, {self.nbytes} bytes)"


def _candles(batch: pa.RecordBatch, entry: SeriesEntry) -> Candles:
    if batch.num_rows != entry.rows:
        raise DataValidationError(
            f"series {entry.symbol} {entry.timeframe}: the index says {entry.rows} rows; "
            f"found {batch.num_rows}. The file is damaged, write it again."
        )
    # zero_copy_only: fail loudly rather than silently materialize a private copy.
    columns = [batch.column(i).to_numpy(zero_copy_only=True) for i in range(len(_COLUMNS))]
    return Candles(entry.symbol, entry.timeframe, *columns)
