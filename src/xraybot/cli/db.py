"""``xraybot db …``: bring the journal's schema up to date."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.state import state_of
from xraybot.storage import migrate

app = typer.Typer(help="Manage the journal database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Alembic revision to upgrade to.")] = "head",
    json_path: JsonPath = None,
) -> None:
    """Create or migrate the database named by storage.database_url (SQLite by default)."""
    config = state_of(ctx).context().config
    url = config.storage.sqlalchemy_url()
    shown = make_url(url).render_as_string(hide_password=True)
    before = migrate.current_revision(url)
    after = migrate.upgrade(url, revision)
    if json_path is not None:
        write_json(json_path, {"database": shown, "before": before, "revision": after})
    change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    stdout().print(f"[green]ok[/green] {shown}: {change} revision {after}.")
