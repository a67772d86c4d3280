"""``xraybot keys rotate``: re-wrap every user's data key under a new master key."""

from __future__ import annotations

import typer

from xraybot.cli.output import JsonPath, stdout, write_json

app = typer.Typer(help="The operator's master key.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")


@app.command("rotate")
def rotate(ctx: typer.Context, json_path: JsonPath = None) -> None:
    """Re-wrap every user's data key under users.master_key, without downtime.

    \b
    Procedure:
      1. xraybot config new-master-key  -> NEW (store it like the old one).
      2. Everywhere xraybot runs, set users.master_key = NEW and
         users.previous_master_key = OLD (XRAYBOT_USERS__PREVIOUS_MASTER_KEY), and
         restart: with both keys every process reads every user's keys.
      3. xraybot keys rotate: re-wraps the data keys still under OLD; the encrypted API
         keys are not touched. Interrupted? Run it again: it resumes where it stopped.
      4. When it reports 0 remaining, remove users.previous_master_key and destroy OLD.
    """
    from xraybot.cli.users_cmd import run_service

    report = run_service(ctx, lambda service: service.rotate())
    if json_path is not None:
        write_json(json_path, report.as_dict())
    out = stdout()
    out.print(
        f"re-wrapped {len(report.rewrapped)} data key(s) under master key "
        f"{report.master_key_id}; {report.already_current} already were."
    )
    if report.remaining:
        out.print(
            f"[yellow]{report.remaining} data key(s) changed meanwhile[/yellow]; "
            "run `xraybot keys rotate` again."
        )
        raise typer.Exit(1)
    out.print(
        "[green]ok[/green] every data key is under the new master key; "
        "remove users.previous_master_key."
    )
