"""Rate-limiter measurements shared by the memory and Redis tests."""

from __future__ import annotations

from collections.abc import Sequence


def max_alive_weight(held: Sequence[tuple[float, float, float]], window_s: float) -> float:
    """Return the most weight ever counted at once: admitted, and not yet a window past done.

    The exchange counts a request when it arrives, between our admission and the answer;
    every window it sees holds only requests alive together here, so this bounds them all.
    """
    best = 0.0
    for at, _, _ in held:
        alive = [w for a, done, w in held if a <= at < done + window_s - 1e-6]
        best = max(best, sum(alive))
    return best
