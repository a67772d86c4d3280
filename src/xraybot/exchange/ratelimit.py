"""Weight-aware rate limiting: in one process (memory) or across processes (Redis).

Algorithm: a *sliding-window log with in-flight tracking*, per (budget, scope). A request
is admitted when the weight of the requests still in flight plus the weight of those that
completed within the last window W, plus its own, fits the capacity; it is then in flight
until the caller reports completion (``hold``), and counts for W after that.

Why a log and not a token bucket or GCRA: those admit a full bucket plus the refill inside
one window, up to twice the capacity in some W seconds, while MEXC counts "500 weight per
10 s" over windows. The log bounds *every* window, so it satisfies the exchange whether it
counts in fixed or sliding windows. Why completion times: the exchange counts a request
when it *arrives*, somewhere between our admission and the response. Counting each request
from admission until W after its response covers every possible arrival time (each window
at the exchange holds only requests that were in our count together), however late a
busy event loop actually sends them; no guess of network or scheduling delay is needed.
``margin`` (2%) stretches W a little against coarse server clocks.

Fairness: callers of one (budget, scope) queue first-in first-out (an asyncio lock per log
is the queue; only its head waits for capacity, sleeping until the earliest moment it can
fit, or until an in-flight request completes). Across processes (Redis) the head of each
process *claims* the capacity it waits for: others may only use what is left beyond the
claim, so a heavy request is never starved by a stream of light ones.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from xraybot.exchange.budgets import (
    DEFAULT_MARGIN,
    DEFAULT_MAX_INFLIGHT_S,
    EPSILON,
    Budget,
    Request,
    budgets_for_request,
    check_retry_after,
    merge_requests,
)
from xraybot.exchange.limited_client import limited_client_class
from xraybot.exchange.ratelimit_redis import RedisRateLimiter
from xraybot.exchange.retry import with_retries

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class RateLimiter(Protocol):
    """Admits weighted requests within budgets, per scope ("public" or an API key hash)."""

    async def acquire(self, budget: Budget, weight: float, scope: str) -> None:
        """Wait until `weight` fits in `budget` for `scope`, then take it (counted from now)."""
        ...

    async def acquire_many(self, requests: Sequence[Request]) -> None:
        """Wait until every (budget, weight, scope) fits at one moment, then take them all."""
        ...

    def hold(self, requests: Sequence[Request]) -> AbstractAsyncContextManager[None]:
        """Admit `requests` on entry; they are in flight until the block exits."""
        ...

    async def penalize(self, budget: Budget, scope: str, retry_after_s: float) -> None:
        """Block the budget for `scope` after the exchange answered 429 (Retry-After)."""
        ...

    async def headroom(self, budget: Budget, scope: str) -> float:
        """Return the weight `budget` could admit right now for `scope`."""
        ...

    async def aclose(self) -> None:
        """Release connections held by the limiter."""
        ...


@dataclass(slots=True, eq=False)
class _Log:
    """One (budget, scope): completions in time order, requests in flight, any 429 block."""

    done: list[tuple[float, float]] = field(default_factory=list)  # (completed at, weight)
    inflight: dict[object, tuple[float, float]] = field(default_factory=dict)  # weight, deadline
    blocked_until: float = -math.inf
    queue: asyncio.Lock = field(default_factory=asyncio.Lock)
    completed: asyncio.Event = field(default_factory=asyncio.Event)

    def wait_s(self, now: float, window_s: float, capacity: float, weight: float) -> float | None:
        """Return 0 if `weight` fits now, else seconds until it may; None: in-flight first."""
        for token, (w, deadline) in list(self.inflight.items()):
            if deadline <= now:  # never reported: count it as done at its deadline
                del self.inflight[token]
                bisect.insort(self.done, (deadline, w))
        cut = bisect.bisect_right(self.done, (now - window_s, math.inf))
        del self.done[:cut]
        if self.blocked_until > now:
            return self.blocked_until - now
        total = sum(w for w, _ in self.inflight.values()) + sum(w for _, w in self.done)
        if total + weight <= capacity + EPSILON:
            return 0.0
        for completed_at, w in self.done:
            total -= w
            if total + weight <= capacity + EPSILON:
                return completed_at + window_s - now
        return None

    def next_deadline(self) -> float:
        return min((deadline for _, deadline in self.inflight.values()), default=math.inf)


class MemoryRateLimiter:
    """The limiter for one process (asyncio); see the module docstring for the algorithm."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        margin: float = DEFAULT_MARGIN,
        max_inflight_s: float = DEFAULT_MAX_INFLIGHT_S,
    ) -> None:
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._sleep = sleep
        self._margin = margin
        self._max_inflight_s = max_inflight_s
        self._logs: dict[tuple[str, str], _Log] = {}

    def _log(self, budget: Budget, scope: str) -> _Log:
        return self._logs.setdefault((budget.key, scope), _Log())

    def _window(self, budget: Budget) -> float:
        return budget.window_s * (1 + self._margin)

    async def acquire(self, budget: Budget, weight: float, scope: str) -> None:
        """Wait until `weight` fits in `budget` for `scope`, then take it (counted from now)."""
        await self.acquire_many([(budget, weight, scope)])

    async def acquire_many(self, requests: Sequence[Request]) -> None:
        """Wait until every (budget, weight, scope) fits at one moment, then take them all."""
        async with self.hold(requests):
            pass

    @asynccontextmanager
    async def hold(self, requests: Sequence[Request]) -> AsyncIterator[None]:
        """Admit `requests` on entry; they are in flight until the block exits."""
        wanted = [(self._log(b, s), b, w) for b, w, s in merge_requests(requests)]
        token = object()
        async with AsyncExitStack() as queues:
            for log, _, _ in wanted:
                await queues.enter_async_context(log.queue)
            await self._wait_for_room(wanted)
            deadline = self._clock() + self._max_inflight_s
            for log, _, weight in wanted:
                log.inflight[token] = (weight, deadline)
        try:
            yield
        finally:
            now = self._clock()
            for log, _, weight in wanted:
                if log.inflight.pop(token, None) is not None:
                    bisect.insort(log.done, (now, weight))
                log.completed.set()

    async def _wait_for_room(self, wanted: list[tuple[_Log, Budget, float]]) -> None:
        while True:
            now = self._clock()
            waits = [log.wait_s(now, self._window(b), b.capacity, w) for log, b, w in wanted]
            known = [wait for wait in waits if wait is not None]
            if len(known) == len(waits) and max(known, default=0.0) <= 0:
                return
            if len(known) == len(waits):
                await self._sleep(max(known))
                continue
            # Room depends on a request in flight: wake when one completes (or expires).
            pending = [log for (log, _, _), wait in zip(wanted, waits, strict=True) if wait is None]
            timeout = min(log.next_deadline() for log in pending) - now
            for log in pending:
                log.completed.clear()
            waiters = [asyncio.ensure_future(log.completed.wait()) for log in pending]
            try:
                await asyncio.wait([*waiters], timeout=max(timeout, 0.0))
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def penalize(self, budget: Budget, scope: str, retry_after_s: float) -> None:
        """Block the budget for `scope` after the exchange answered 429 (Retry-After)."""
        check_retry_after(retry_after_s)
        log = self._log(budget, scope)
        log.blocked_until = max(log.blocked_until, self._clock() + retry_after_s)

    async def headroom(self, budget: Budget, scope: str) -> float:
        """Return the weight `budget` could admit right now for `scope`."""
        log = self._log(budget, scope)
        now = self._clock()
        if log.wait_s(now, self._window(budget), budget.capacity, 0.0) != 0.0:
            return 0.0
        used = sum(w for w, _ in log.inflight.values()) + sum(w for _, w in log.done)
        return max(0.0, budget.capacity - used)

    async def aclose(self) -> None:
        """Forget every log."""
        self._logs.clear()


__all__ = [
    "DEFAULT_MARGIN",
    "Budget",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Request",
    "budgets_for_request",
    "check_retry_after",
    "limited_client_class",
    "merge_requests",
    "with_retries",
]
