"""Injected latency and faults: what a flaky exchange does to its clients.

Per request, with the configured probabilities (drawn from a generator seeded by
``--seed``, so a run can be repeated) or queued once through the admin API:

- ``timeout``: hang until the client gives up (then answer nothing) or until
  ``fault_hang_ms`` has passed (then HTTP 504);
- ``error5xx``: HTTP 503 with a plain-text body, no JSON code;
- ``disconnect``: close the connection without a response;
- ``lost_response``: on order creation only, place the order, then close the connection,
  so the client must look the order up by its client order id;
- ``partial_fill``: drawn per fill by the trading desks, not here.

Admin routes (``/_sim/...``) are never delayed or faulted.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xraybot.sim.config import FAULT_KINDS, FaultRates

ORDER_CREATE_PATHS = frozenset({"/api/v3/order", "/api/v1/private/order/create"})
REQUEST_FAULTS = ("timeout", "error5xx", "disconnect")


class FaultInjector:
    """Decides which fault, if any, hits the next request or fill."""

    def __init__(self, rates: FaultRates, seed: int) -> None:
        self.rates = rates
        self._seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - reproducible dice, not secrets
        self._once: Counter[str] = Counter()

    def reset(self, rates: FaultRates) -> None:
        """Go back to ``rates`` and a freshly seeded generator; forget queued faults."""
        self.rates = rates
        self._rng = random.Random(self._seed)  # noqa: S311
        self._once.clear()

    def queue_once(self, kind: str) -> None:
        """Make the next request (or order, or fill) that ``kind`` applies to suffer it."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}; found {kind!r}")
        self._once[kind] += 1

    def pending(self) -> dict[str, int]:
        """Return the queued one-shot faults by kind."""
        return {kind: n for kind, n in self._once.items() if n > 0}

    def draw(self, kind: str) -> bool:
        """Return whether ``kind`` strikes now (a queued one-shot first, then the dice)."""
        if self._once[kind] > 0:
            self._once[kind] -= 1
            return True
        rate: float = getattr(self.rates, kind)
        return rate > 0 and self._rng.random() < rate

    def request_fault(self) -> str | None:
        """Return the request-level fault striking the next request, if any."""
        for kind in REQUEST_FAULTS:
            if self.draw(kind):
                return kind
        return None


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection without an HTTP response."""
    # uvicorn's receive() is a method of its request cycle, which owns the transport;
    # ASGI itself has no way to say "hang up".
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
        for _ in range(100):  # let connection_lost() run, so uvicorn sends no 500 of its own
            if getattr(cycle, "disconnected", True):
                return
            await asyncio.sleep(0)
        return
    # Another server: promise a body, send none; the server then closes mid-response.
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
    )


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _swallow(message: Message) -> None:
    del message  # the response of a "lost" order: computed, never delivered


class FaultMiddleware:
    """ASGI middleware applying latency and the request-level faults."""

    def __init__(
        self, app: ASGIApp, injector: FaultInjector, *, latency_ms: int, hang_ms: int
    ) -> None:
        self.app = app
        self.injector = injector
        self.latency_ms = latency_ms
        self.hang_ms = hang_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        fault = self.injector.request_fault()
        if fault == "timeout":
            await self._hang(receive, send)
        elif fault == "error5xx":
            await _plain(send, 503, "Service Unavailable")
        elif fault == "disconnect":
            await drop_connection(receive, send)
        elif self._is_order_create(scope) and self.injector.draw("lost_response"):
            await self.app(scope, receive, _swallow)
            await drop_connection(receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _is_order_create(scope: Scope) -> bool:
        return scope["method"] == "POST" and scope["path"] in ORDER_CREATE_PATHS

    async def _hang(self, receive: Receive, send: Send) -> None:
        try:
            await asyncio.wait_for(_wait_for_disconnect(receive), self.hang_ms / 1000)
        except TimeoutError:
            await _plain(send, 504, "Gateway Time-out")


def describe(injector: FaultInjector) -> dict[str, Any]:
    """Return the injector's state for the admin API."""
    return {"rates": injector.rates.model_dump(), "pending": injector.pending()}
