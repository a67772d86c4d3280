"""Per-invocation state shared by the command groups through Click's context object."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from xraybot.users.redaction import Redactor

if TYPE_CHECKING:
    from xraybot.runtime.context import AppContext


@dataclass
class CliState:
    config_path: Path | None = None
    redactor: Redactor = field(default_factory=Redactor)
    _context: AppContext | None = None

    def context(self) -> AppContext:
        """Load the configuration once per invocation (commands that need none never load it)."""
        if self._context is None:
            # Imported here: the configuration pulls in every package's settings (ccxt's
            # among them), which commands that need no configuration should not pay for.
            from xraybot.runtime.context import bootstrap

            self._context = bootstrap(self.config_path, self.redactor)
        return self._context


def state_of(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        # Invoked without main() (e.g. Typer's test runner): start from a clean state.
        obj = CliState()
        ctx.find_root().obj = obj
    return obj
