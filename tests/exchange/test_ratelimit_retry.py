"""with_retries: temporary failures are retried with backoff, everything else at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from xraybot.exchange.ratelimit import with_retries
from xraybot.model.errors import (
    ExchangeUnavailableError,
    InvalidInputError,
    InvalidOrderError,
    OrderStatusUnknownError,
    RateLimitError,
    TemporaryError,
)


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def failing(
    *errors: BaseException, result: str = "ok"
) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """Return a call that raises `errors` one per call, then returns `result`; and its counter."""
    calls = [0]

    async def call() -> str:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return result

    return call, calls


async def test_temporary_errors_are_retried_with_growing_waits() -> None:
    sleep = FakeSleep()
    call, calls = failing(*(ExchangeUnavailableError("down") for _ in range(3)))
    assert await with_retries(call, attempts=4, sleep=sleep) == "ok"
    assert calls[0] == 4
    assert len(sleep.waits) == 3
    # Exponential from 0.5 s (0.5, 1, 2) plus up to 0.5 s of jitter each.
    for wait, base in zip(sleep.waits, (0.5, 1.0, 2.0), strict=True):
        assert base <= wait <= base + 0.5


async def test_waits_never_exceed_max_wait() -> None:
    sleep = FakeSleep()
    call, _ = failing(*(TemporaryError("again") for _ in range(7)))
    await with_retries(call, attempts=8, max_wait_s=3, sleep=sleep)
    assert max(sleep.waits) <= 3


async def test_retry_after_is_honoured() -> None:
    sleep = FakeSleep()
    call, calls = failing(RateLimitError("429", retry_after_s=7.0))
    assert await with_retries(call, sleep=sleep) == "ok"
    assert calls[0] == 2
    assert 7.0 <= sleep.waits[0] <= 7.25


async def test_a_ban_longer_than_max_wait_is_raised_at_once() -> None:
    sleep = FakeSleep()
    ban = RateLimitError("418 banned", retry_after_s=600)
    call, calls = failing(ban)
    with pytest.raises(RateLimitError) as caught:
        await with_retries(call, max_wait_s=30, sleep=sleep)
    assert caught.value is ban
    assert (calls[0], sleep.waits) == (1, [])


@pytest.mark.parametrize(
    "error",
    [
        InvalidOrderError("below the minimum notional"),
        OrderStatusUnknownError("answer lost", client_order_id="xb1"),
        ValueError("a bug"),
    ],
)
async def test_other_errors_are_raised_at_once(error: Exception) -> None:
    sleep = FakeSleep()
    call, calls = failing(error)
    with pytest.raises(type(error)) as caught:
        await with_retries(call, sleep=sleep)
    assert caught.value is error
    assert (calls[0], sleep.waits) == (1, [])


async def test_the_last_error_is_raised_when_attempts_run_out() -> None:
    errors = [ExchangeUnavailableError(f"down {i}") for i in range(3)]
    call, calls = failing(*errors)
    with pytest.raises(ExchangeUnavailableError, match="down 2"):
        await with_retries(call, attempts=3, sleep=FakeSleep())
    assert calls[0] == 3


async def test_bad_settings_are_refused() -> None:
    call, _ = failing()
    with pytest.raises(InvalidInputError, match="attempts must be at least 1; found 0"):
        await with_retries(call, attempts=0)
    with pytest.raises(InvalidInputError, match="max_wait_s"):
        await with_retries(call, max_wait_s=-1)


async def test_a_plain_callable_returning_a_coroutine_is_awaited_and_retried() -> None:
    # tenacity awaits only coroutine functions; a lambda's coroutine must not come back raw.
    call, calls = failing(ExchangeUnavailableError("down"))
    assert await with_retries(lambda: call(), attempts=2, sleep=FakeSleep()) == "ok"
    assert calls[0] == 2
