"""``xraybot config …``: check a configuration file, make a master key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.runtime.config import check_config
from xraybot.users.credentials import new_master_key

app = typer.Typer(help="Check configuration files and create keys.", no_args_is_help=True)


@app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The TOML configuration file to check.")],
    json_path: JsonPath = None,
) -> None:
    """Validate FILE plus XRAYBOT_* environment variables; list every problem."""
    problems = check_config(file)
    if json_path is not None:
        write_json(
            json_path,
            {
                "file": str(file),
                "ok": not problems,
                "problems": [
                    {"key": p.key, "expected": p.expected, "found": p.found, "source": p.source}
                    for p in problems
                ],
            },
        )
    if not problems:
        stdout().print(f"[green]ok[/green] {file}: the configuration is valid.")
        return
    table = Table(title=f"{len(problems)} problem(s) in {file}", show_lines=False)
    for column in ("key", "expected", "found", "from"):
        table.add_column(column, overflow="fold")
    for p in problems:
        table.add_row(p.key, p.expected, p.found, p.source)
    stderr().print(table)
    raise typer.Exit(code=1)


@app.command("new-master-key")
def new_key() -> None:
    """Print a fresh master key for users.master_key (keep it out of the repository)."""
    # Plain print: the key must be copyable exactly, without Rich wrapping or markup.
    typer.echo(new_master_key())
