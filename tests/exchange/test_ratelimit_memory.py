"""MemoryRateLimiter on a virtual clock: an event loop whose time jumps to the next timer."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.ratelimit import max_alive_weight
from xraybot.exchange.ratelimit import Budget, MemoryRateLimiter
from xraybot.model.errors import InvalidInputError

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """Never blocks: instead of waiting `timeout` seconds it moves the loop's clock."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list[Any]:
        events: list[Any] = super().select(0)
        if not events and timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is scheduled")
        if not events and timeout:
            self.loop.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time: sleeping a minute takes no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        selector = _JumpingSelector()
        selector.loop = self
        super().__init__(selector)

    def time(self) -> float:
        return self.now


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def now() -> float:
    return asyncio.get_running_loop().time()


def max_window_weight(admitted: Sequence[tuple[float, float]], window_s: float) -> float:
    """Return the largest weight admitted in any window (t - window_s, t]."""
    times = sorted(admitted)
    best = 0.0
    for end, _ in times:
        # A hair of tolerance: slot times are sums of floats (t = earlier + window).
        best = max(best, sum(w for t, w in times if end - window_s + 1e-6 < t <= end))
    return best


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(1, 40),
    window_s=st.sampled_from([0.5, 1.0, 2.0, 10.0]),
    jobs=st.lists(
        st.lists(
            st.tuples(st.integers(0, 40), st.booleans(), st.floats(0, 3), st.floats(0, 4)),
            max_size=12,
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_no_window_ever_holds_more_than_the_capacity(
    capacity: int, window_s: float, jobs: list[list[tuple[int, bool, float, float]]]
) -> None:
    """Many tasks, two budgets, random weights, pauses and answer times: never over capacity."""
    budgets = [Budget("a", capacity, window_s), Budget("b", capacity * 2, window_s)]
    held: dict[str, list[tuple[float, float, float]]] = {"a": [], "b": []}

    async def worker(
        limiter: MemoryRateLimiter, steps: list[tuple[int, bool, float, float]]
    ) -> None:
        for weight, both, pause, answer_s in steps:
            w = float(min(weight, capacity))
            wanted = [(budgets[0], w, "public")] + ([(budgets[1], w, "public")] if both else [])
            async with limiter.hold(wanted):
                admitted = now()
                await asyncio.sleep(answer_s)  # the request is in flight
            for budget, taken, _ in wanted:
                held[budget.key].append((admitted, now(), taken))
            await asyncio.sleep(pause)

    async def main() -> None:
        limiter = MemoryRateLimiter(margin=0.0)  # the exact limit, no safety stretch
        await asyncio.gather(*(worker(limiter, steps) for steps in jobs))

    run_virtual(main())
    assert max_alive_weight(held["a"], window_s) <= capacity
    assert max_alive_weight(held["b"], window_s) <= capacity * 2
    # Arrivals anywhere between admission and answer stay within every window too.
    admissions = [(a, w) for a, _, w in held["a"]]
    answers = [(done, w) for _, done, w in held["a"]]
    assert max_window_weight(admissions, window_s) <= capacity
    assert max_window_weight(answers, window_s) <= capacity


def test_a_request_in_flight_counts_until_a_window_after_its_answer() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter(margin=0.0)
        budget = Budget("k", 1, 1.0)
        start = now()

        async def slow() -> None:
            async with limiter.hold([(budget, 1, "public")]):
                await asyncio.sleep(5)

        task = asyncio.create_task(slow())
        await asyncio.sleep(0)
        await limiter.acquire(budget, 1, "public")
        await task
        return now() - start

    assert run_virtual(main()) == pytest.approx(6.0)


def test_a_request_never_reported_done_counts_until_its_deadline() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter(margin=0.0, max_inflight_s=3)
        budget = Budget("k", 1, 1.0)
        start = now()
        forgotten = limiter.hold([(budget, 1, "public")])
        await forgotten.__aenter__()  # not reported done before the next caller is in
        await limiter.acquire(budget, 1, "public")
        waited = now() - start
        await forgotten.__aexit__(None, None, None)
        return waited

    assert run_virtual(main()) == pytest.approx(4.0)


def test_throughput_is_the_full_capacity_per_window() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter(margin=0.0)
        budget = Budget("k", 10, 1.0)
        start = now()
        await asyncio.gather(*(limiter.acquire(budget, 1, "public") for _ in range(200)))
        return now() - start

    # 10 at once, then 10 more as each window ends: the 200th goes at the 19th second.
    assert run_virtual(main()) == pytest.approx(19.0)


def test_the_margin_stretches_the_window() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter(margin=0.03)
        budget = Budget("k", 10, 1.0)
        start = now()
        await asyncio.gather(*(limiter.acquire(budget, 1, "public") for _ in range(30)))
        return now() - start

    assert run_virtual(main()) == pytest.approx(2 * 1.03)


def test_scopes_are_counted_apart() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter()
        budget = Budget("k", 5, 10.0, per_key=True)
        start = now()
        for scope in ("key:a", "key:b", "public"):
            await limiter.acquire(budget, 5, scope)
        return now() - start

    assert run_virtual(main()) == 0.0


def test_a_heavy_caller_is_not_starved_by_light_ones() -> None:
    """FIFO: once a weight-10 call waits, later weight-1 calls queue behind it."""

    async def main() -> tuple[float, list[tuple[float, float]]]:
        limiter = MemoryRateLimiter(margin=0.0)
        budget = Budget("k", 10, 1.0)
        later: list[tuple[float, float]] = []  # (asked, admitted) of calls after the heavy one
        heavy_asked = asyncio.Event()

        async def light() -> None:
            for _ in range(40):
                asked = now()
                await limiter.acquire(budget, 1, "public")
                if heavy_asked.is_set():
                    later.append((asked, now()))
                await asyncio.sleep(0.01)

        async def heavy() -> float:
            await asyncio.sleep(0.35)
            heavy_asked.set()
            await limiter.acquire(budget, 10, "public")
            return now()

        heavy_task = asyncio.create_task(heavy())
        await asyncio.gather(heavy_task, *(light() for _ in range(5)))
        return heavy_task.result(), later

    heavy_at, later = run_virtual(main())
    assert heavy_at <= 1000.0 + 0.35 + 2 * 1.0  # within two windows of asking
    assert all(admitted >= heavy_at for asked, admitted in later if asked > 1000.35)


def test_a_429_blocks_the_budget_for_retry_after() -> None:
    async def main() -> tuple[float, float, float]:
        limiter = MemoryRateLimiter(margin=0.0)
        budget = Budget("k", 10, 1.0)
        other = Budget("other", 10, 1.0)
        await limiter.acquire(budget, 1, "public")
        await limiter.penalize(budget, "public", 7.5)
        start = now()
        await limiter.acquire(other, 1, "public")  # other budgets are untouched
        unrelated = now() - start
        await limiter.acquire(budget, 1, "key:x")  # and so are other scopes
        await limiter.acquire(budget, 1, "public")
        return unrelated, now() - start, await limiter.headroom(budget, "public")

    unrelated, blocked, headroom = run_virtual(main())
    assert unrelated == 0.0
    assert blocked == pytest.approx(7.5)
    assert headroom == 9.0


def test_a_slot_granted_before_a_429_waits_out_the_block() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter(margin=0.0)
        budget = Budget("k", 1, 1.0)
        await limiter.acquire(budget, 1, "public")
        queued = asyncio.create_task(limiter.acquire(budget, 1, "public"))  # room at +1 s
        await asyncio.sleep(0.5)
        await limiter.penalize(budget, "public", 3.0)  # blocked until +3.5 s
        start = now() - 0.5
        await queued
        return now() - start

    assert run_virtual(main()) == pytest.approx(3.5)


def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    async def main() -> float:
        limiter = MemoryRateLimiter(margin=0.0)
        budget = Budget("k", 1, 1.0)
        start = now()
        await limiter.acquire(budget, 1, "public")
        second = asyncio.create_task(limiter.acquire(budget, 1, "public"))  # next: at +1
        third = asyncio.create_task(limiter.acquire(budget, 1, "public"))  # then: at +2
        await asyncio.sleep(0.1)
        second.cancel()
        await third  # next in line takes the cancelled caller's turn
        await limiter.acquire(budget, 1, "public")
        return now() - start

    assert run_virtual(main()) == pytest.approx(2.0)


@pytest.mark.parametrize("weight", [11.0, -1.0, float("nan"), float("inf")])
def test_impossible_weights_are_refused(weight: float) -> None:
    async def main() -> None:
        await MemoryRateLimiter().acquire(Budget("k", 10, 1.0), weight, "public")

    with pytest.raises(InvalidInputError, match="weight"):
        run_virtual(main())


def test_two_requests_on_one_budget_count_together() -> None:
    async def main() -> None:
        budget = Budget("k", 10, 1.0)
        await MemoryRateLimiter().acquire_many([(budget, 6, "public"), (budget, 6, "public")])

    with pytest.raises(InvalidInputError, match=r"12 is more than budget 'k' allows"):
        run_virtual(main())


def test_bad_penalties_and_budgets_are_refused() -> None:
    async def main() -> None:
        await MemoryRateLimiter().penalize(Budget("k", 10, 1.0), "public", -1)

    with pytest.raises(InvalidInputError, match="retry_after_s"):
        run_virtual(main())
    with pytest.raises(InvalidInputError, match="capacity must be a positive number; found 0"):
        Budget("k", 0, 1.0)
