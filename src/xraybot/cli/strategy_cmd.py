"""``xraybot strategies``: the built-in strategies (or one user strategy) and their parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from xraybot.cli.output import JsonPath, stdout, write_json

if TYPE_CHECKING:
    from xraybot.strategy.base import Strategy


def register(app: typer.Typer) -> None:
    """Add ``xraybot strategies`` to ``app``."""
    app.command("strategies")(strategies)


def strategies(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Show just this strategy: a built-in name, path/to/file.py[:Class] or "
            "package.module[:Class]. Default: every built-in.",
            show_default=False,
        ),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """List the built-in strategies with their parameters (default and range)."""
    from xraybot.strategy.registry import builtin_names, load_strategy

    specs = [spec] if spec is not None else builtin_names()
    described = [describe(load_strategy(s)) for s in specs]
    stdout().print(_table(described))
    if json_path is not None:
        write_json(json_path, {"strategies": described})


def describe(strategy: Strategy) -> dict[str, Any]:
    """A strategy as plain data: name, description, parameters, default warm-up and exits."""
    from dataclasses import asdict

    defaults = strategy.resolve()
    return {
        "name": strategy.name,
        "description": strategy.description,
        "parameters": [
            {
                "name": p.name,
                "type": p.kind,
                "default": p.default,
                "low": p.low,
                "high": p.high,
                "step": p.step,
                "choices": list(p.choices),
                "searchable": p.searchable,
                "doc": p.doc,
            }
            for p in strategy.parameters
        ],
        "warmup": strategy.warmup(defaults),
        "exit_rules": asdict(strategy.exit_rules(defaults)),
    }


def _range(param: dict[str, Any]) -> str:
    if param["choices"]:
        return " | ".join(str(c) for c in param["choices"])
    if param["low"] is None:
        return "true | false" if param["type"] == "bool" else param["type"]
    step = f" step {param['step']:g}" if param["step"] is not None else ""
    return f"{param['low']:g} … {param['high']:g}{step}"


def _table(described: list[dict[str, Any]]) -> Table:
    table = Table(title="Strategies")
    table.add_column("strategy", style="bold")
    table.add_column("parameter")
    table.add_column("default", justify="right")
    table.add_column("range")
    table.add_column("meaning")
    for index, item in enumerate(described):
        if index:
            table.add_section()
        first = True
        label = f"{item['name']}\n[dim]warm-up {item['warmup']}[/dim]"
        for param in item["parameters"] or [None]:
            if param is None:
                table.add_row(label, "—", "", "", "")
                continue
            table.add_row(
                label if first else "",
                param["name"],
                str(param["default"]),
                _range(param),
                param["doc"],
            )
            first = False
    return table
