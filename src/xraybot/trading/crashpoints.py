"""Crash points: named places where a crash test may kill the process with SIGKILL.

``XRAYBOT_CRASH_AT=name:n`` kills the process at the n-th time ``crash_point(name)`` is
reached (n defaults to 1). Unset, a crash point costs one string comparison: the variable
is read once, at import (``arm`` re-arms a process forked after that).
The points mark the moments a crash is most dangerous:

- ``after_intent``: the intent is journaled, the order not sent yet;
- ``after_send``: the exchange has the order, its answer is not recorded yet;
- ``after_fill``: an execution is known, not yet written to the journal;
- ``during_reconcile``: a reconciliation plan is partly executed.

It lives in ``trading`` (not ``runtime``) so the order manager and reconciliation, which
sit below the runtime in the layers, can call it.
"""

from __future__ import annotations

import os
import signal

from xraybot.model.errors import InvalidInputError

ENV = "XRAYBOT_CRASH_AT"
POINTS = frozenset({"after_intent", "after_send", "after_fill", "during_reconcile"})


def _parse(spec: str | None) -> tuple[str | None, int]:
    if not spec:
        return None, 0
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise InvalidInputError(
            f"{ENV} names an unknown crash point; found {name!r}. "
            f"Use one of {', '.join(sorted(POINTS))}, optionally with ':<hit count>'."
        )
    hits = int(count) if count.isdigit() else (1 if not count else 0)
    if hits < 1:
        raise InvalidInputError(f"{ENV}'s hit count must be at least 1; found {count!r}.")
    return name, hits


_target, _remaining = _parse(os.environ.get(ENV))


def arm(spec: str | None) -> None:
    """Re-arm from ``spec`` (the ``XRAYBOT_CRASH_AT`` syntax; None disarms)."""
    global _target, _remaining
    _target, _remaining = _parse(spec)


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL when ``XRAYBOT_CRASH_AT`` says this hit is the one."""
    global _remaining
    if name != _target:
        return
    _remaining -= 1
    if _remaining == 0:
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["ENV", "POINTS", "arm", "crash_point"]
