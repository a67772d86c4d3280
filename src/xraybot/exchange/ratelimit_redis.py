"""The rate limiter across processes: the memory limiter's algorithm in one Redis Lua script.

Per (budget, scope) four keys under the prefix: ``…:done`` (completions, scored by time),
``…:inflight`` (scored by the deadline after which an unreported request counts as done),
``…:block`` (a 429's Retry-After) and ``…:claim`` (the waiter others must leave room
for). Every key has a TTL, so nothing outlives its window. Times are Redis's own clock,
so processes on different machines agree on them. See exchange/ratelimit.py for why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from xraybot.exchange.budgets import (
    DEFAULT_MARGIN,
    DEFAULT_MAX_INFLIGHT_S,
    Budget,
    Request,
    check_retry_after,
    merge_requests,
)
from xraybot.model.errors import TemporaryError

# KEYS: (done, inflight, block, claim) per budget. ARGV: mode, token, max_inflight_ms, then
# (capacity, window_ms, weight) per budget; "penalize" reads the Retry-After ms in ARGV[4].
# "admit" answers {wait_ms, needs_inflight}: {0, 0} means admitted.
_LUA = """
local mode, token, max_inflight = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 4
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local function ms(x) return string.format('%.3f', x) end
local function weight_of(m) return tonumber(string.match(m, '|([^|]*)$')) end
local function member(i) return token .. '|' .. i .. '|' .. ARGV[3 * i + 3] end
local function blocked_until(key) return tonumber(redis.call('GET', key) or '0') end

local function tidy(i)
  local done, inflight = KEYS[4 * i - 3], KEYS[4 * i - 2]
  local win = tonumber(ARGV[3 * i + 2])
  local lapsed = redis.call('ZRANGEBYSCORE', inflight, '-inf', ms(now), 'WITHSCORES')
  for j = 1, #lapsed, 2 do redis.call('ZADD', done, lapsed[j + 1], lapsed[j]) end
  if #lapsed > 0 then
    redis.call('ZREMRANGEBYSCORE', inflight, '-inf', ms(now))
    redis.call('PEXPIRE', done, math.ceil(win) + 1000)
  end
  redis.call('ZREMRANGEBYSCORE', done, '-inf', ms(now - win))
end

local function used(i)
  local total = 0
  for _, key in ipairs({KEYS[4 * i - 2], KEYS[4 * i - 3]}) do
    for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do total = total + weight_of(m) end
  end
  return total
end

if mode == 'penalize' then
  local retry = tonumber(ARGV[4])
  if now + retry > blocked_until(KEYS[3]) then
    redis.call('SET', KEYS[3], ms(now + retry), 'PX', math.ceil(retry) + 1000)
  end
  return {}
end
if mode == 'used' then
  tidy(1)
  if blocked_until(KEYS[3]) > now then return {ARGV[4]} end
  return {ms(used(1))}
end
if mode == 'complete' then
  for i = 1, n do
    if redis.call('ZREM', KEYS[4 * i - 2], member(i)) == 1 then
      redis.call('ZADD', KEYS[4 * i - 3], ms(now), member(i))
      redis.call('PEXPIRE', KEYS[4 * i - 3], math.ceil(tonumber(ARGV[3 * i + 2])) + 1000)
    end
  end
  return {}
end
if mode == 'withdraw' then
  for i = 1, n do
    local claim = redis.call('GET', KEYS[4 * i])
    if claim and string.match(claim, '^(.*)|') == token then redis.call('DEL', KEYS[4 * i]) end
  end
  return {}
end

-- admit
local longest, needs_inflight = 0, 0
local waits = {}
for i = 1, n do
  tidy(i)
  local cap, win = tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local w = tonumber(ARGV[3 * i + 3])
  local wait = 0
  local blocked = blocked_until(KEYS[4 * i - 1])
  if blocked > now then
    wait = blocked - now
  else
    local total = used(i) + w
    local claim = redis.call('GET', KEYS[4 * i])
    if claim and string.match(claim, '^(.*)|') ~= token then total = total + weight_of(claim) end
    if total > cap + 1e-9 then
      wait = -1
      local rows = redis.call('ZRANGE', KEYS[4 * i - 3], 0, -1, 'WITHSCORES')
      for j = 1, #rows, 2 do
        total = total - weight_of(rows[j])
        if total <= cap + 1e-9 then
          wait = tonumber(rows[j + 1]) + win - now
          break
        end
      end
    end
  end
  waits[i] = wait
  if wait < 0 then needs_inflight = 1 elseif wait > longest then longest = wait end
end
if longest == 0 and needs_inflight == 0 then
  for i = 1, n do
    local inflight = KEYS[4 * i - 2]
    redis.call('ZADD', inflight, ms(now + max_inflight), member(i))
    redis.call('PEXPIRE', inflight, math.ceil(max_inflight) + 1000)
    local claim = redis.call('GET', KEYS[4 * i])
    if claim and string.match(claim, '^(.*)|') == token then redis.call('DEL', KEYS[4 * i]) end
  end
  return {'0', '0'}
end
for i = 1, n do
  if waits[i] ~= 0 then
    local ttl = math.ceil(math.max(longest, 0)) + 2000
    local claim = redis.call('GET', KEYS[4 * i])
    local holder = claim and string.match(claim, '^(.*)|')
    if holder == token then
      redis.call('PEXPIRE', KEYS[4 * i], ttl)
    elseif not claim or token < holder then
      -- Tokens start with the time their request began waiting: the oldest waiter holds
      -- the claim, so a stream of light requests cannot keep a heavy one out forever.
      redis.call('SET', KEYS[4 * i], token .. '|' .. ARGV[3 * i + 3], 'PX', ttl)
    end
  end
end
return {ms(longest), tostring(needs_inflight)}
"""


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.hostname}{port}"))


class RedisRateLimiter:
    """The limiter shared by every process using the same Redis and key prefix."""

    def __init__(
        self,
        url: str,
        key_prefix: str = "xraybot:ratelimit:",
        *,
        margin: float = DEFAULT_MARGIN,
        max_inflight_s: float = DEFAULT_MAX_INFLIGHT_S,
        poll_s: float = 0.05,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = url
        self._prefix = key_prefix
        self._margin = margin
        self._max_inflight_ms = max_inflight_s * 1000
        self._poll_s = poll_s
        self._sleep = sleep
        self._client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._script = self._client.register_script(_LUA)
        self._queues: dict[tuple[str, str], asyncio.Lock] = {}

    def _keys(self, budget: Budget, scope: str) -> list[str]:
        base = f"{self._prefix}{budget.key}|{scope}:"
        return [base + name for name in ("done", "inflight", "block", "claim")]

    def _call(self, mode: str, token: str, wanted: Sequence[Request]) -> list[list[str]]:
        keys: list[str] = []
        args = [mode, token, repr(self._max_inflight_ms)]
        for budget, weight, scope in wanted:
            keys += self._keys(budget, scope)
            window_ms = budget.window_s * (1 + self._margin) * 1000
            args += [repr(budget.capacity), repr(window_ms), repr(weight)]
        return [keys, args]

    async def _run(self, keys: list[str], args: list[str]) -> list[float]:
        try:
            reply = await self._script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            raise TemporaryError(
                f"the rate limiter cannot reach Redis at {_masked(self._url)} "
                f"({type(e).__name__}: {e}); no exchange request is sent without it. Start "
                "Redis or fix its URL, or use the in-process limiter for a single process."
            ) from e
        return [float(item) for item in reply]

    async def _quietly(self, mode: str, token: str, wanted: Sequence[Request]) -> None:
        # Best effort: if Redis is gone, the claim's TTL and the in-flight deadline end them.
        with contextlib.suppress(TemporaryError, asyncio.CancelledError):
            await self._run(*self._call(mode, token, wanted))

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
        wanted = merge_requests(requests)
        # Sortable by when this request began waiting (wall clock, ms), unique by the uuid.
        token = f"{int(time.time() * 1000):015d}-{uuid.uuid4().hex}"
        async with AsyncExitStack() as queues:
            # Only the head of this process's queue asks Redis; the rest wait their turn.
            for budget, _, scope in wanted:
                queue = self._queues.setdefault((budget.key, scope), asyncio.Lock())
                await queues.enter_async_context(queue)
            try:
                while True:
                    wait_ms, needs_inflight = await self._run(*self._call("admit", token, wanted))
                    if wait_ms == 0 and not needs_inflight:
                        break
                    await self._sleep(max(wait_ms / 1000, self._poll_s if needs_inflight else 0))
            except BaseException:
                await self._quietly("withdraw", token, wanted)
                raise
        try:
            yield
        finally:
            await self._quietly("complete", token, wanted)

    async def penalize(self, budget: Budget, scope: str, retry_after_s: float) -> None:
        """Block the budget for `scope` after the exchange answered 429 (Retry-After)."""
        check_retry_after(retry_after_s)
        await self._run(
            self._keys(budget, scope), ["penalize", "", "0", repr(retry_after_s * 1000)]
        )

    async def headroom(self, budget: Budget, scope: str) -> float:
        """Return the weight `budget` could admit right now for `scope`."""
        (used,) = await self._run(*self._call("used", "", [(budget, 0.0, scope)]))
        return max(0.0, budget.capacity - used)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


__all__ = ["RedisRateLimiter"]
