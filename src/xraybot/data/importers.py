"""Import candle files into the store: our CSV layout, freqtrade JSON/feather, Binance klines.

What a file holds comes from its name (:mod:`xraybot.data.import_names`), how to read it from
:mod:`xraybot.data.import_readers`, and the row checks from :mod:`xraybot.data.import_checks`.
A file is read and checked whole before anything is written; a bad one is refused with each
problem named by line (or row) and rule, and the store is left as it was. In a folder, one
refused file does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from xraybot.data.import_checks import Problem, ProblemList, check_rows
from xraybot.data.import_names import (
    KNOWN_QUOTES,
    FileSpec,
    Format,
    NotRecognisedError,
    data_suffix,
    find_files,
    recognise,
    split_binance_symbol,
)
from xraybot.data.import_readers import (
    HEADER,
    Parsed,
    UnreadableFileError,
    parse_binance_csv,
    parse_freqtrade_feather,
    parse_freqtrade_json,
    parse_xraybot_csv,
    read_bytes,
)
from xraybot.data.store import CandleStore, SeriesKey
from xraybot.data.universe import UniverseStore
from xraybot.model.candles import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError

# Rows of candles held for one universe update in a folder import (~48 bytes each).
UNIVERSE_BATCH_ROWS = 2_000_000


class Status(StrEnum):
    """What became of one file."""

    IMPORTED = "imported"
    REFUSED = "refused"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """One file's result: imported (with the store's counts), refused (with why), or skipped."""

    path: Path
    status: Status
    spec: FileSpec | None = None
    rows: int = 0
    added: int = 0
    replaced: int = 0
    stored_rows: int = 0
    problems: tuple[Problem, ...] = ()
    problem_count: int = 0
    note: str = ""

    @property
    def key(self) -> SeriesKey | None:
        spec = self.spec
        return None if spec is None else SeriesKey(spec.exchange, spec.symbol, spec.timeframe)

    def problem_lines(self) -> list[str]:
        """Return one line per shown problem, plus "… and N more" when some were left out."""
        out = [str(p) for p in self.problems]
        if self.problem_count > len(self.problems):
            out.append(f"… and {self.problem_count - len(self.problems)} more")
        return out


class ImportRefusedError(DataValidationError):
    """A file breaks the format or an invariant; nothing of it was written."""

    def __init__(self, path: Path, problems: ProblemList) -> None:
        self.path = path
        self.problems = tuple(problems.shown)
        self.problem_count = problems.total
        lines = "\n  ".join(problems.lines())
        super().__init__(
            f"{path}: refused, {problems.total} problem(s), nothing imported; fix the file "
            f"and import it again:\n  {lines}"
        )


def parse(spec: FileSpec) -> Parsed:
    """Read ``spec.path`` in its format; file-level failures come back as problems."""
    file = str(spec.path)
    if spec.format is Format.FREQTRADE_FEATHER:
        return parse_freqtrade_feather(spec.path, file)
    try:
        data = read_bytes(spec.path)
    except UnreadableFileError as e:
        problems = ProblemList()
        problems.add(Problem(file, "file", None, str(e), "the file must be readable"))
        return Parsed(None, problems)
    if spec.format is Format.FREQTRADE_JSON:
        return parse_freqtrade_json(data, file)
    if spec.format is Format.BINANCE_KLINES:
        return parse_binance_csv(data, file)
    return parse_xraybot_csv(data, file)


def load(spec: FileSpec) -> Candles:
    """Read and check the whole file; raise ImportRefusedError listing every problem."""
    parsed = parse(spec)
    problems = parsed.problems
    rows = parsed.rows
    if rows is not None:
        found = check_rows(rows, spec.timeframe, str(spec.path))
        problems.merge(found.shown, found.total)
    if problems or rows is None:
        raise ImportRefusedError(spec.path, problems)
    return Candles(
        spec.symbol,
        spec.timeframe,
        rows.ts_ms,
        rows.open,
        rows.high,
        rows.low,
        rows.close,
        rows.volume,
    )


def import_file(
    path: Path,
    store: CandleStore,
    universe: UniverseStore,
    *,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
) -> FileOutcome:
    """Import one file; a bad or unrecognised file comes back refused or skipped, not raised."""
    outcome, candles = _store_file(path, store, exchange, symbol, timeframe)
    if candles is not None and outcome.spec is not None:
        universe.record_from_candles(outcome.spec.exchange, candles)
    return outcome


def _store_file(
    path: Path,
    store: CandleStore,
    exchange: str | None,
    symbol: str | None,
    timeframe: str | None,
) -> tuple[FileOutcome, Candles | None]:
    """Check and write one file's candles; return them too if they were written."""
    try:
        spec = recognise(path, exchange=exchange, symbol=symbol, timeframe=timeframe)
    except NotRecognisedError as e:
        return FileOutcome(path, Status.SKIPPED, note=str(e)), None
    except InvalidInputError as e:
        problem = Problem(str(path), "file", None, "a name that does not fit", str(e))
        return FileOutcome(path, Status.REFUSED, problems=(problem,), problem_count=1), None
    try:
        candles = load(spec)
    except ImportRefusedError as e:
        refused = FileOutcome(
            path, Status.REFUSED, spec, problems=e.problems, problem_count=e.problem_count
        )
        return refused, None
    if len(candles) == 0:
        return FileOutcome(
            path, Status.SKIPPED, spec, note=f"{path}: no rows (only a header)."
        ), None
    try:
        report = store.write(spec.exchange, candles)
    except DataValidationError as e:  # the store's own checks: it has written nothing
        problem = Problem(str(path), "file", None, "rows the store refused", str(e))
        refused = FileOutcome(
            path, Status.REFUSED, spec, len(candles), problems=(problem,), problem_count=1
        )
        return refused, None
    imported = FileOutcome(
        path, Status.IMPORTED, spec, len(candles), report.added, report.replaced, report.rows
    )
    return imported, candles


class _UniverseBatch:
    """Candles written to the store whose daily volumes are still to be recorded.

    The universe is one file per exchange, rewritten whole on every update: recording each
    of hundreds of files on its own made a folder import quadratic (80% of its time).
    """

    def __init__(self, universe: UniverseStore) -> None:
        self.universe = universe
        self.pending: dict[str, list[Candles]] = {}
        self.rows = 0

    def add(self, exchange: str, candles: Candles) -> None:
        self.pending.setdefault(exchange, []).append(candles)
        self.rows += len(candles)
        if self.rows >= UNIVERSE_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        for exchange, series in self.pending.items():
            self.universe.record_many_from_candles(exchange, series)
        self.pending.clear()
        self.rows = 0


def import_path(
    path: Path,
    store: CandleStore,
    universe: UniverseStore,
    *,
    exchange: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Import a file or every data file in a folder; one bad file does not stop the others.

    Candles are written file by file; the universe is updated in batches (at the latest
    before returning or raising), so importing the same folder again repairs an interrupted run.
    """
    files = find_files(path)
    if path.is_dir() and (symbol is not None or timeframe is not None):
        raise InvalidInputError(
            f"--symbol and --timeframe apply to one file; found the folder {path}. "
            "Name the file, or drop them and let the file names tell."
        )
    outcomes = []
    batch = _UniverseBatch(universe)
    try:
        for item in files:
            outcome, candles = _store_file(item, store, exchange, symbol, timeframe)
            if candles is not None and outcome.spec is not None:
                batch.add(outcome.spec.exchange, candles)
            outcomes.append(outcome)
            if on_file is not None:
                on_file(outcome)
    finally:
        batch.flush()
    return outcomes


__all__ = [
    "HEADER",
    "KNOWN_QUOTES",
    "FileOutcome",
    "FileSpec",
    "Format",
    "ImportRefusedError",
    "NotRecognisedError",
    "Status",
    "data_suffix",
    "find_files",
    "import_file",
    "import_path",
    "load",
    "parse",
    "recognise",
    "split_binance_symbol",
]
