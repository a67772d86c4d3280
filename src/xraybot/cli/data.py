"""``xraybot data …``: import candle files into the store and list what it holds.

Every command finds the store through ``--data-dir``, then ``$XRAYBOT_DATA_DIR``, then the
per-user data folder, and writes nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.data.config import resolve_data_dir
from xraybot.data.importers import FileOutcome, Status, find_files, import_path
from xraybot.data.sample import sample_dir
from xraybot.data.store import CandleStore, SeriesInfo
from xraybot.data.universe import UniverseStore
from xraybot.model.errors import InvalidInputError

app = typer.Typer(help="Market data: import, download and list candles.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Market data folder (default: $XRAYBOT_DATA_DIR, else the per-user data folder).",
        file_okay=False,
    ),
]

REFUSED_EXIT_CODE = 2  # bad input, as for any InvalidInputError
PIPED_WIDTH = 120
TABLE_MAX_FILES = 40  # above this, `data import` prints totals instead of a row per file


@app.command("import")
def import_(
    path: Annotated[
        Path | None,
        typer.Argument(help="A candle file, or a folder of them (searched recursively)."),
    ] = None,
    exchange: Annotated[
        str | None,
        typer.Option(help="Exchange id (binance, mexc, …); default: the file's folder name."),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option(help="Symbol such as BTC/USDT, if the file name lacks it.")
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Timeframe such as 1h, if the file name lacks it.")
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Import the bundled sample (10 pairs, 1h, 2025).")
    ] = False,
    data_dir: DataDir = None,
    json_path: JsonPath = None,
) -> None:
    """Import our CSV, freqtrade JSON/feather or Binance kline files; bad files are refused."""
    if sample == (path is not None):
        raise InvalidInputError(
            "give either a PATH to import or --sample; found " + ("both." if sample else "neither.")
        )
    source = sample_dir() if sample else Path(path or ".")
    root = resolve_data_dir(data_dir)
    total = len(find_files(source))
    if total == 0:
        raise InvalidInputError(
            f"found no candle files in {source}; importable files end in .csv, .csv.gz, "
            ".zip, .json, .json.gz or .feather."
        )
    store, universe = CandleStore(root), UniverseStore(root)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr(),
        transient=True,
    )
    with progress:
        task = progress.add_task("importing", total=total)

        def advance(outcome: FileOutcome) -> None:
            progress.update(task, advance=1, description=outcome.path.name)

        outcomes = import_path(
            source,
            store,
            universe,
            exchange=exchange,
            symbol=symbol,
            timeframe=timeframe,
            on_file=advance,
        )
    if source.is_file() and outcomes[0].status is Status.SKIPPED and outcomes[0].spec is None:
        raise InvalidInputError(outcomes[0].note)
    if json_path is not None:
        write_json(json_path, _import_payload(root, source, outcomes))
    _print_import(root, outcomes)
    if any(o.status is Status.REFUSED for o in outcomes):
        raise typer.Exit(REFUSED_EXIT_CODE)


def _outcome_dict(outcome: FileOutcome) -> dict[str, Any]:
    spec = outcome.spec
    return {
        "path": str(outcome.path),
        "status": outcome.status.value,
        "format": None if spec is None else spec.format.value,
        "exchange": None if spec is None else spec.exchange,
        "symbol": None if spec is None else spec.symbol,
        "timeframe": None if spec is None else spec.timeframe,
        "rows": outcome.rows,
        "added": outcome.added,
        "replaced": outcome.replaced,
        "stored_rows": outcome.stored_rows,
        "problem_count": outcome.problem_count,
        "problems": [p.as_dict() for p in outcome.problems],
        "note": outcome.note,
    }


def _import_payload(root: Path, source: Path, outcomes: list[FileOutcome]) -> dict[str, Any]:
    counts = {s.value: sum(o.status is s for o in outcomes) for s in Status}
    return {
        "data_dir": str(root),
        "source": str(source),
        **counts,
        "files": [_outcome_dict(o) for o in outcomes],
    }


def _print_import(root: Path, outcomes: list[FileOutcome]) -> None:
    err = stderr()
    for outcome in outcomes:
        if outcome.status is Status.REFUSED:
            err.print(f"[red]refused[/red] {outcome.path}:", markup=True)
            for line in outcome.problem_lines():
                err.print(f"  {line}", markup=False)
        elif outcome.status is Status.SKIPPED:
            err.print(f"[yellow]skipped[/yellow] {outcome.note}", markup=True)
    imported = [o for o in outcomes if o.status is Status.IMPORTED]
    out = stdout()
    if 0 < len(imported) <= TABLE_MAX_FILES:
        table = Table(title=f"imported into {root}")
        for name in ("exchange", "symbol", "timeframe", "rows read", "added", "replaced", "stored"):
            table.add_column(name, justify="left" if name in ("exchange", "symbol") else "right")
        for o in imported:
            assert o.spec is not None  # imported files always carry their spec
            table.add_row(
                o.spec.exchange,
                o.spec.symbol,
                o.spec.timeframe,
                f"{o.rows:,}",
                f"{o.added:,}",
                f"{o.replaced:,}",
                f"{o.stored_rows:,}",
            )
        out.print(table)
    elif imported:  # hundreds of rows would bury the refusals; --json has every file
        rows, added = sum(o.rows for o in imported), sum(o.added for o in imported)
        replaced = sum(o.replaced for o in imported)
        out.print(
            f"into {root}: {rows:,} rows read, {added:,} added, {replaced:,} replaced "
            "(--json PATH lists every file)"
        )
    refused = sum(o.status is Status.REFUSED for o in outcomes)
    skipped = sum(o.status is Status.SKIPPED for o in outcomes)
    colour = "red" if refused else "green"
    out.print(
        f"[{colour}]{len(imported)} imported[/{colour}], {refused} refused, {skipped} skipped",
        markup=True,
    )


@app.command("list")
def list_(
    exchange: Annotated[str | None, typer.Option(help="Only this exchange.")] = None,
    data_dir: DataDir = None,
    json_path: JsonPath = None,
) -> None:
    """Show every stored series: range, rows, gaps and size."""
    root = resolve_data_dir(data_dir)
    store = CandleStore(root)
    infos = [store.info(k.exchange, k.symbol, k.timeframe) for k in store.series(exchange)]
    if json_path is not None:
        write_json(json_path, {"data_dir": str(root), "series": [info_dict(i) for i in infos]})
    out = stdout()
    if not infos:
        out.print(
            f"no candles stored in {root}; add some with `xraybot data import PATH` "
            "or `xraybot data import --sample`."
        )
        return
    if not out.is_terminal:
        # Piped into a file or a pager, Rich would assume 80 columns and cut cells short.
        out = Console(highlight=False, width=max(out.width, PIPED_WIDTH))
    out.print(f"candles in {root}")
    for name in sorted({info.key.exchange for info in infos}):
        out.print(_series_table(name, [i for i in infos if i.key.exchange == name]))


def _series_table(exchange: str, infos: list[SeriesInfo]) -> Table:
    table = Table(title=exchange, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("symbol", no_wrap=True)
    table.add_column("tf", justify="right", no_wrap=True, min_width=3)
    table.add_column("first (UTC)", no_wrap=True)
    table.add_column("last (UTC)", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True, min_width=7)
    table.add_column("gaps", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for info in infos:
        table.add_row(
            info.key.symbol,
            info.key.timeframe,
            iso(info.first_ms),
            iso(info.last_ms),
            f"{info.rows:,}",
            _gaps_text(info),
            _size(info.bytes),
        )
    return table


def iso(ms: int | None) -> str:
    """Return ``ms`` as ``YYYY-MM-DDTHH:MMZ`` (UTC), or "-" for none."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def info_dict(info: SeriesInfo) -> dict[str, Any]:
    """Return a series' summary as JSON-ready values."""
    largest = max(info.gaps, key=lambda g: g.missing, default=None)
    return {
        "exchange": info.key.exchange,
        "symbol": info.key.symbol,
        "timeframe": info.key.timeframe,
        "first": iso(info.first_ms),
        "last": iso(info.last_ms),
        "first_ms": info.first_ms,
        "last_ms": info.last_ms,
        "rows": info.rows,
        "gaps": len(info.gaps),
        "missing": sum(g.missing for g in info.gaps),
        "largest_gap": None
        if largest is None
        else {
            "start": iso(largest.start_ms),
            "end": iso(largest.end_ms),
            "missing": largest.missing,
        },
        "bytes": info.bytes,
    }


def _gaps_text(info: SeriesInfo) -> str:
    if not info.gaps:
        return "0"
    largest = max(info.gaps, key=lambda g: g.missing)
    return f"{len(info.gaps)} (max {largest.missing})"


def _size(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
