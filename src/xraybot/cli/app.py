"""The ``xraybot`` command: a Typer app; errors are printed once, redacted, with exit codes.

Exit codes: 0 ok, 1 a problem that needs a human (or a failed check), 2 bad input or
configuration, 75 a temporary failure worth retrying (EX_TEMPFAIL), 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from xraybot import __version__
from xraybot.cli.output import stderr
from xraybot.cli.state import CliState
from xraybot.model.errors import (
    ConfigError,
    InvalidInputError,
    TemporaryError,
    XraybotError,
)

Registrar = Callable[[typer.Typer], None]


# Each command group is imported only when it is about to run (or for the full --help), so
# `xraybot backtest` does not pay for ccxt, SQLAlchemy and scikit-learn it never touches.
def _config(app: typer.Typer) -> None:
    from xraybot.cli import config_cmd

    app.add_typer(config_cmd.app, name="config")


def _db(app: typer.Typer) -> None:
    from xraybot.cli import db

    app.add_typer(db.app, name="db")


def _exchange(app: typer.Typer) -> None:
    from xraybot.cli import exchange

    app.add_typer(exchange.app, name="exchange")


def _data(app: typer.Typer) -> None:
    from xraybot.cli import data, data_download, data_more

    group = data.app
    if not any(c.name == "download" for c in group.registered_commands):
        group.command("download")(data_download.download)
        group.command("watch")(data_more.watch)
        group.command("universe")(data_more.universe)
    app.add_typer(group, name="data")


def _sim(app: typer.Typer) -> None:
    from xraybot.cli import sim

    app.command("sim")(sim.sim)


def _demo(app: typer.Typer) -> None:
    from xraybot.cli import demo

    app.command("demo")(demo.demo)


def _screen(app: typer.Typer) -> None:
    from xraybot.cli.screen import screen

    app.command("screen")(screen)


def _xray(app: typer.Typer) -> None:
    from xraybot.cli import xray_cmd

    app.command("xray")(xray_cmd.xray)


def _strategies(app: typer.Typer) -> None:
    from xraybot.cli import strategy_cmd

    strategy_cmd.register(app)


def _backtest(app: typer.Typer) -> None:
    from xraybot.cli.backtest_cmd import backtest

    app.command("backtest")(backtest)


def _check_bias(app: typer.Typer) -> None:
    from xraybot.cli import bias_cmd

    bias_cmd.register(app)


def _walkforward(app: typer.Typer) -> None:
    from xraybot.cli import walkforward_cmd

    walkforward_cmd.register(app)


def _select(app: typer.Typer) -> None:
    from xraybot.cli import select_cmd

    select_cmd.register(app)


def _optimize(app: typer.Typer) -> None:
    from xraybot.cli import optimize_cmd

    optimize_cmd.register(app)


def _risk(app: typer.Typer) -> None:
    from xraybot.cli import risk_cmd

    risk_cmd.register(app)


def _users(app: typer.Typer) -> None:
    from xraybot.cli import users_cmd

    users_cmd.register(app)


def _keys(app: typer.Typer) -> None:
    from xraybot.cli import keys_cmd

    keys_cmd.register(app)


def _run(app: typer.Typer) -> None:
    from xraybot.cli import run_cmd

    run_cmd.register(app)


def _kill(app: typer.Typer) -> None:
    from xraybot.cli import kill_cmd

    kill_cmd.register(app)


def _fees(app: typer.Typer) -> None:
    from xraybot.cli import fees_cmd

    fees_cmd.register(app)


COMMANDS: dict[str, Registrar] = {
    "backtest": _backtest,
    "check-bias": _check_bias,
    "config": _config,
    "data": _data,
    "db": _db,
    "demo": _demo,
    "exchange": _exchange,
    "fees": _fees,
    "keys": _keys,
    "kill": _kill,
    "optimize": _optimize,
    "risk": _risk,
    "run": _run,
    "screen": _screen,
    "select": _select,
    "sim": _sim,
    "strategies": _strategies,
    "users": _users,
    "walkforward": _walkforward,
    "xray": _xray,
}


def build_app(only: str | None = None) -> typer.Typer:
    """Return the CLI with every command, or with just ``only`` when it names one."""
    built = typer.Typer(
        name="xraybot",
        help="xraybot: screen, backtest and trade crypto markets, for many users at once.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    built.callback()(root)
    for name, register in COMMANDS.items():
        if only is None or only == name:
            register(built)
    return built


_ROOT_OPTIONS_WITH_VALUE = ("--config", "-c")


def command_name(argv: Sequence[str]) -> str | None:
    """Return the command ``argv`` asks for, skipping the root options before it."""
    args = iter(argv)
    for arg in args:
        if arg in _ROOT_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"xraybot {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="XRAYBOT_CONFIG",
            help="TOML configuration file (XRAYBOT_* environment variables override it).",
            dir_okay=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Screen, backtest and trade crypto markets, for many users at once."""
    state = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    state.config_path = config
    ctx.obj = state


def exit_code_for(error: XraybotError) -> int:
    if isinstance(error, InvalidInputError):
        return 2
    if isinstance(error, TemporaryError):
        return 75
    return 1


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; never show a traceback or a secret for an expected error."""
    state = CliState()
    args = sys.argv[1:] if argv is None else argv
    name = command_name(args)
    cli = build_app(name if name in COMMANDS else None)
    try:
        # Standalone mode: Typer handles usage errors, --help and exits itself and raises
        # SystemExit; anything else propagates to here.
        cli(args=args, prog_name="xraybot", obj=state)
    except XraybotError as e:
        kind = "configuration error" if isinstance(e, ConfigError) else type(e).__name__
        message = state.redactor.redact_text(str(e))
        stderr().print(f"[red]{kind}:[/red] {message}", markup=True, highlight=False)
        sys.exit(exit_code_for(e))
    except KeyboardInterrupt:
        stderr().print("interrupted")
        sys.exit(130)


def __getattr__(name: str) -> typer.Typer:
    # ``app`` (every command) is built on first use, for tests and tools that inspect it.
    if name == "app":
        full = build_app()
        globals()["app"] = full
        return full
    raise AttributeError(name)
