"""``xraybot kill``: pull or clear the operators' kill switch, for one user or for everyone.

The switch lives in the journal's database, so it works while ``xraybot run`` is running in
another process: on its next candle a killed user's resting orders are canceled, their
positions market-closed and no new entry is made until the switch is cleared.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.state import state_of

if TYPE_CHECKING:
    from xraybot.storage.config import StorageConfig
    from xraybot.storage.kill_switch import KillSwitches


def register(root: typer.Typer) -> None:
    root.command("kill")(kill)


def kill(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user (default: every user).")
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why; logged by the runtime.")
    ] = "operator kill switch",
    clear: Annotated[
        bool, typer.Option("--clear", help="Release the switch instead: trading resumes.")
    ] = False,
    json_path: JsonPath = None,
) -> None:
    """Stop trading now: close positions and block new entries (--clear releases)."""
    config = state_of(ctx).context().config
    changed, switches = asyncio.run(_apply(config.storage, user, reason, clear))
    who = f"user {user}" if user is not None else "every user"
    console = stdout()
    if clear:
        state = "cleared" if changed else "was not set"
        console.print(f"kill switch for {who} {state}.", markup=False)
    else:
        console.print(f"kill switch pulled for {who}: {reason}", markup=False)
    if switches.global_reason is not None:
        console.print(f"in force: every user ({switches.global_reason})", markup=False)
    for user_id, why in sorted(switches.users.items()):
        console.print(f"in force: {user_id} ({why})", markup=False)
    if json_path is not None:
        write_json(
            json_path,
            {
                "action": "clear" if clear else "pull",
                "user": user,
                "changed": changed,
                "global": switches.global_reason,
                "users": dict(sorted(switches.users.items())),
            },
        )


async def _apply(
    storage: StorageConfig, user: str | None, reason: str, clear: bool
) -> tuple[bool, KillSwitches]:
    from xraybot.runtime.clock import wall_ms
    from xraybot.storage.db import create_engine
    from xraybot.storage.kill_switch import SqlKillSwitch

    engine = create_engine(storage)
    try:
        switch = SqlKillSwitch(engine)
        if clear:
            changed = await switch.clear(user)
        else:
            await switch.pull(user, reason, wall_ms())
            changed = True
        return changed, await switch.read()
    finally:
        await engine.dispose()
