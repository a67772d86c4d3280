"""Retry policy for exchange calls: temporary failures only, exponential backoff with jitter."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity import retry_if_exception as retry_if

from xraybot.model.errors import (
    InvalidInputError,
    OrderStatusUnknownError,
    RateLimitError,
    TemporaryError,
)

T = TypeVar("T")


def _retryable(error: BaseException, max_wait_s: float) -> bool:
    if not isinstance(error, TemporaryError):
        return False
    # Resending an order whose answer was lost could place it twice: the caller looks it
    # up by client order id instead.
    if isinstance(error, OrderStatusUnknownError):
        return False
    # A ban longer than we may wait is the caller's to schedule, not ours to sleep through.
    wait = error.retry_after_s if isinstance(error, RateLimitError) else None
    return wait is None or wait <= max_wait_s


class _Backoff:
    """Retry-After when the exchange gave one, else exponential backoff with full jitter."""

    def __init__(self, max_wait_s: float) -> None:
        self._max_wait_s = max_wait_s
        self._exponential = wait_exponential(multiplier=0.5, max=max_wait_s)
        self._jitter = wait_random(0, 0.25)
        self._spread = wait_random(0, 0.5)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RateLimitError) and error.retry_after_s is not None:
            return min(self._max_wait_s, error.retry_after_s + self._jitter(state))
        return min(self._max_wait_s, self._exponential(state) + self._spread(state))


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    max_wait_s: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await `call()`, retrying model TemporaryErrors with backoff; re-raise the rest at once.

    RateLimitError waits its ``retry_after_s`` (a little jitter added) when it has one;
    OrderStatusUnknownError is never retried, and neither is a Retry-After longer than
    ``max_wait_s``. After `attempts` tries the last error is raised as it was.
    """
    if attempts < 1:
        raise InvalidInputError(f"attempts must be at least 1; found {attempts!r}.")
    if not (math.isfinite(max_wait_s) and max_wait_s >= 0):
        raise InvalidInputError(f"max_wait_s must be a number >= 0; found {max_wait_s!r}.")
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_Backoff(max_wait_s),
        retry=retry_if(lambda error: _retryable(error, max_wait_s)),
        sleep=sleep,
        reraise=True,
    )

    # tenacity awaits only coroutine functions: a lambda's coroutine would come back raw.
    async def attempt() -> T:
        return await call()

    result: T = await retrying(attempt)
    return result


__all__ = ["with_retries"]
