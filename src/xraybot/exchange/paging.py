"""OHLCV pagination: many bounded requests stitched into one ascending, duplicate-free series.

Exchanges cap the candles one request returns (MEXC through ccxt: 500 spot, 2000 swap).
:func:`collect_candles` walks ``[since, until)`` in windows of at most that many candles,
so a window never holds more than one answer can carry, whatever the exchange does with
an over-long range; holes in the history simply yield short or empty pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from xraybot.model.errors import InvalidInputError

Row = tuple[int, float, float, float, float, float]  # ts_ms, open, high, low, close, volume
# (since_ms or None for "latest", until_ms exclusive or None, max rows) -> rows
PageFetcher = Callable[[int | None, int | None, int], Awaitable[list[Row]]]


async def collect_candles(
    fetch_page: PageFetcher,
    *,
    timeframe_ms: int,
    per_call: int,
    since_ms: int | None,
    until_ms: int | None,
    limit: int | None,
    now_ms: Callable[[], Awaitable[int]],
) -> list[Row]:
    """Return rows with ``since_ms <= ts < until_ms``, ascending, each timestamp once.

    Without ``since_ms`` the result is the last ``limit`` (default: one page of) candles
    before ``until_ms`` (default: the exchange's now, the forming candle included). With
    ``since_ms`` and a ``limit`` it is the first ``limit`` candles from ``since_ms``.
    ``now_ms`` is awaited only when an end is needed and none was given.
    """
    if timeframe_ms <= 0 or per_call <= 0:
        raise InvalidInputError(
            f"timeframe_ms and per_call must be > 0; found {timeframe_ms} and {per_call}."
        )
    if limit is not None and limit <= 0:
        raise InvalidInputError(f"limit must be a positive number of candles; found {limit}.")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        return []
    keep_last: int | None = None
    if since_ms is None:
        keep_last = limit or per_call
        if until_ms is None and keep_last <= per_call:
            # The common live case: the latest candles, one request, no clock needed.
            return _ascending(await fetch_page(None, None, keep_last), None, None)[-keep_last:]
        end = until_ms if until_ms is not None else await now_ms() + 1
        since_ms = end - keep_last * timeframe_ms
    elif until_ms is None and limit is not None and limit <= per_call:
        return _ascending(await fetch_page(since_ms, None, per_call), since_ms, None)[:limit]
    else:
        end = until_ms if until_ms is not None else await now_ms() + 1

    found: dict[int, Row] = {}
    cursor = since_ms
    while cursor < end:
        window_end = min(end, cursor + per_call * timeframe_ms)
        answer = await fetch_page(cursor, window_end, per_call)
        page = [r for r in answer if cursor <= r[0] < window_end]
        for row in page:
            found[row[0]] = row
        # A full answer may stop short of the window's end: continue after its last candle.
        # Fullness is judged on the whole answer, which may repeat rows before the window.
        truncated = len(answer) >= per_call and page
        cursor = max(r[0] for r in page) + timeframe_ms if truncated else window_end
        if keep_last is None and limit is not None and len(found) >= limit:
            break
    rows = [found[ts] for ts in sorted(found)]
    if keep_last is not None:
        return rows[-keep_last:]
    return rows[:limit] if limit is not None else rows


def _ascending(rows: list[Row], since_ms: int | None, until_ms: int | None) -> list[Row]:
    found: dict[int, Row] = {}
    for row in rows:
        if (since_ms is None or row[0] >= since_ms) and (until_ms is None or row[0] < until_ms):
            found[row[0]] = row
    return [found[ts] for ts in sorted(found)]
