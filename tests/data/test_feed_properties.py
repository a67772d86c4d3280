"""Random exchange behaviour (outages, lag, skipped and corrected candles, a skewed clock)
never makes the feed hand out a forming candle, repeat one, or end with holes it could fill.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.feed import MINUTE, FakeExchange, FakeTime, final_row
from xraybot.data.feed import CandleFeed, EventKind, FeedEvent, FeedSettings

PATIENCE_MS = 30_000
WINDOW = 8
ACTIONS = ("wait", "down", "up", "lag", "skip", "correct")

steps = st.lists(
    st.tuples(st.integers(500, 100_000), st.sampled_from(ACTIONS), st.integers(0, 8_000)),
    min_size=1,
    max_size=14,
)


async def scenario(skew_ms: int, plan: list[tuple[int, str, int]]) -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    exchange.skew_ms = skew_ms
    corrected_values: set[float] = set()
    handed_out: set[int] = set()

    async def check(event: FeedEvent) -> None:
        if event.kind is EventKind.SNAPSHOT:
            handed_out.update(event.window.ts_ms.tolist())
            return
        data_time = exchange.data_time()
        for i, ts in enumerate(event.closed.ts_ms.tolist()):
            assert ts not in handed_out, f"candle {ts} handed out twice"
            handed_out.add(ts)
            # Closed on the exchange: its data moved past it, or its clock is patience past it.
            assert ts + MINUTE <= data_time or ts + MINUTE + PATIENCE_MS <= exchange.now_ms()
            close = float(event.closed.close[i])
            assert close == final_row(ts, MINUTE)[3] or close in corrected_values
        for ts in event.corrected.ts_ms.tolist():
            assert ts in handed_out

    feed = CandleFeed(
        exchange,
        settings=FeedSettings(window=WINDOW, late_patience_s=PATIENCE_MS / 1000),
        clock=time.clock,
        sleep=time.sleep,
    )
    feed.subscribe([("BTC/USDT", "1m")], callback=check)
    async with feed:
        for advance, action, amount in plan:
            await time.advance(advance)
            forming = exchange.data_time() // MINUTE * MINUTE
            if action == "down":
                exchange.down = True
            elif action == "up":
                exchange.down = False
            elif action == "lag":
                exchange.lag_ms = amount
            elif action == "skip":
                exchange.skipped.add(forming + MINUTE)  # a minute yet to come, without trades
            elif action == "correct" and forming - MINUTE not in exchange.skipped:
                value = 900.0 + len(corrected_values)
                corrected_values.add(value)
                exchange.corrections[forming - MINUTE] = value
        exchange.down, exchange.lag_ms = False, 0
        await time.advance(3 * MINUTE)
        # Past the next close by more than the patience (a skipped minute may follow it).
        close = (exchange.now_ms() // MINUTE + 1) * MINUTE
        await time.advance_to(close + PATIENCE_MS + 5_000 - skew_ms)
        window = await feed.window("BTC/USDT", "1m")
        assert window is not None
        truth = exchange._rows("BTC/USDT", "1m", None, None, 40)
        closed = truth.between(None, exchange.now_ms() // MINUTE * MINUTE)
        exchange_close = dict(zip(closed.ts_ms.tolist(), closed.close.tolist(), strict=True))
        held = dict(zip(window.ts_ms.tolist(), window.close.tolist(), strict=True))
        # What is held is what the exchange now says (corrections included) ...
        assert all(exchange_close.get(ts) == value for ts, value in held.items())
        # ... and nothing the exchange has in the last WINDOW minutes is missing.
        recent = exchange.now_ms() // MINUTE * MINUTE - WINDOW * MINUTE
        assert {ts for ts in exchange_close if ts >= recent} <= set(held)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(skew_ms=st.integers(-20_000, 20_000), plan=steps)
def test_random_exchange_behaviour_never_breaks_the_rules(
    skew_ms: int, plan: list[tuple[int, str, int]]
) -> None:
    asyncio.run(scenario(skew_ms, plan))
