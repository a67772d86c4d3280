"""``xraybot users …``: the user registry. Secrets come from a prompt or stdin, never argv."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.state import state_of

if TYPE_CHECKING:
    from xraybot.services.users import UserService, UserView

app = typer.Typer(help="Users: settings and encrypted exchange keys.", no_args_is_help=True)
_T = TypeVar("_T")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users")


def run_service(ctx: typer.Context, work: Callable[[UserService], Awaitable[_T]]) -> _T:
    """Run ``work`` with a UserService over the configured journal, then close the engine."""
    from xraybot.services.users import UserService, keyring_from
    from xraybot.storage.db import create_engine
    from xraybot.storage.users import SqlUserRepository

    context = state_of(ctx).context()
    config = context.config
    keyring = None
    if config.users.resolved_master_key() is not None:
        keyring = keyring_from(config.users, context.redactor)

    async def go() -> _T:
        engine = create_engine(config.storage)
        try:
            service = UserService(SqlUserRepository(engine), context.redactor, keyring)
            return await work(service)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def print_view(view: UserView) -> None:
    data = view.as_dict()
    settings = data.pop("settings")
    console = stdout()
    for key, value in data.items():
        console.print(f"{key}: {value if value is not None else '-'}", markup=False)
    for key, value in settings.items():
        console.print(f"settings.{key}: {value}", markup=False)


def _read_secret(secret_stdin: bool) -> str:
    if secret_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("API secret", hide_input=True)
    return value


@app.command("add")
def add(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="Short id: a-z, 0-9, '_' or '-'.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Exchange API key (prompted when keys are wanted).")
    ] = None,
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the API secret from stdin's first line.")
    ] = False,
    no_keys: Annotated[
        bool, typer.Option("--no-keys", help="Add a paper user without exchange keys.")
    ] = False,
    setting: Annotated[
        list[str] | None,
        typer.Option("--set", help="Setting KEY=VALUE, e.g. market=spot (repeatable)."),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Add a user; their keys are checked with a signed balance call before being stored."""
    from xraybot.services.users import exchange_check
    from xraybot.users.credentials import ApiCredentials
    from xraybot.users.settings import UserSettings, with_changes

    settings = with_changes(UserSettings(), list(setting or []), where="--set")
    credentials = None
    if not no_keys:
        key = api_key or typer.prompt("API key")
        credentials = ApiCredentials(key, _read_secret(secret_stdin))
    config = state_of(ctx).context().config

    async def work(service: UserService) -> UserView:
        return await service.add(
            user_id, name or user_id, settings, credentials, exchange_check(config.exchange)
        )

    with stdout().status(f"checking the keys of {user_id} with {settings.exchange} …"):
        view = run_service(ctx, work)
    if json_path is not None:
        write_json(json_path, view.as_dict())
    stdout().print(f"[green]ok[/green] added {user_id} (api key {view.key_mask or 'none'}).")


@app.command("list")
def list_users(ctx: typer.Context, json_path: JsonPath = None) -> None:
    """List users with mode, exchange and masked API key."""
    from rich.table import Table

    views = run_service(ctx, lambda service: service.views())
    if json_path is not None:
        write_json(json_path, [v.as_dict() for v in views])
    table = Table(title=f"{len(views)} user(s)")
    for column in ("user", "name", "active", "mode", "exchange", "market", "api key"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.profile.user_id,
            v.profile.name,
            "yes" if v.profile.active else "no",
            v.profile.mode.value,
            v.profile.exchange,
            v.settings.market,
            v.key_mask or "-",
        )
    stdout().print(table)


@app.command("show")
def show(
    ctx: typer.Context, user_id: Annotated[str, typer.Argument()], json_path: JsonPath = None
) -> None:
    """Show one user's settings and masked API key."""
    view = run_service(ctx, lambda service: service.view(user_id))
    if json_path is not None:
        write_json(json_path, view.as_dict())
    print_view(view)


@app.command("set")
def set_settings(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument()],
    assignments: Annotated[
        list[str], typer.Argument(help="KEY=VALUE, e.g. mode=live strategy.params.period=14")
    ],
    json_path: JsonPath = None,
) -> None:
    """Change settings; values are JSON when they parse (["BTC/USDT"], 0.2), text otherwise."""
    from xraybot.users.settings import with_changes

    async def work(service: UserService) -> UserView:
        current = await service.view(user_id)
        changed = with_changes(current.settings, assignments, where=f"settings of {user_id}")
        return await service.set(user_id, changed)

    view = run_service(ctx, work)
    if json_path is not None:
        write_json(json_path, view.as_dict())
    print_view(view)


def _active(ctx: typer.Context, user_id: str, active: bool) -> dict[str, Any]:
    view = run_service(ctx, lambda service: service.set_active(user_id, active))
    return view.as_dict()


@app.command("disable")
def disable(ctx: typer.Context, user_id: Annotated[str, typer.Argument()]) -> None:
    """Stop trading for a user (settings and keys are kept; `enable` restores)."""
    _active(ctx, user_id, False)
    stdout().print(f"[green]ok[/green] {user_id} disabled.")


@app.command("enable")
def enable(ctx: typer.Context, user_id: Annotated[str, typer.Argument()]) -> None:
    """Let a disabled user trade again."""
    _active(ctx, user_id, True)
    stdout().print(f"[green]ok[/green] {user_id} enabled.")


@app.command("remove")
def remove(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument()],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user with their settings and keys; their journal (orders, trades) stays."""
    if not yes:
        typer.confirm(f"Remove {user_id} and their keys?", abort=True)
    run_service(ctx, lambda service: service.remove(user_id))
    stdout().print(f"[green]ok[/green] {user_id} removed.")
