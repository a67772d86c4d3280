"""Rate budgets: which limits one ccxt request counts against, and with what weight.

MEXC (and ``sim``, which speaks MEXC) publishes its limits per endpoint
(../shared/research/mexc-ccxt.md §6):

- spot v3: each endpoint has its own 500 weight per 10 s, counted per IP for public
  endpoints and per account for signed ones; ``POST order`` and ``POST batchOrders`` count
  against both. Weights are MEXC's, not ccxt's (ccxt charges exchangeInfo 25, MEXC 10).
- contract v1: 20 requests per 2 s per endpoint; ``detail`` 1 per 5 s;
  ``order/batch_query`` 5 per 2 s; ``order/submit_batch`` 1 per 2 s.

Any other exchange gets one budget per exchange built from ccxt's ``rateLimit`` (ms per
cost unit) and the cost ccxt gives the endpoint, i.e. the pace ccxt's own throttle keeps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xraybot.model.errors import InvalidInputError

MEXC_LIKE = frozenset({"mexc", "sim"})
# Limiter defaults shared by the memory and Redis limiters (see exchange/ratelimit.py).
DEFAULT_MARGIN = 0.02  # windows are stretched by this fraction
DEFAULT_MAX_INFLIGHT_S = 120.0  # a request never reported done counts as done by then
EPSILON = 1e-9
SPOT_CAPACITY = 500.0
SPOT_WINDOW_S = 10.0
CONTRACT_CAPACITY = 20.0
CONTRACT_WINDOW_S = 2.0
# MEXC's documented per-endpoint request caps that differ from the family default:
# (capacity, window_s), counted in requests.
_CONTRACT_SPECIAL: Mapping[str, tuple[float, float]] = {
    "detail": (1.0, 5.0),
    "order/batch_query": (5.0, 2.0),
    "order/submit_batch": (1.0, 2.0),
}
# MEXC spot weights by (HTTP method, ccxt path). Endpoints missing here use ccxt's cost,
# which for MEXC's private endpoints equals the documented weight.
_SPOT_WEIGHTS: Mapping[tuple[str, str], float] = {
    ("GET", "ping"): 1,
    ("GET", "time"): 1,
    ("GET", "defaultSymbols"): 1,
    ("GET", "exchangeInfo"): 10,
    ("GET", "depth"): 1,
    ("GET", "trades"): 5,
    ("GET", "historicalTrades"): 1,
    ("GET", "aggTrades"): 1,
    ("GET", "klines"): 1,
    ("GET", "avgPrice"): 1,
    ("GET", "ticker/bookTicker"): 1,
    ("POST", "order"): 1,
    ("POST", "order/test"): 1,
    ("POST", "batchOrders"): 1,
    ("DELETE", "order"): 1,
    ("DELETE", "openOrders"): 1,
    ("GET", "order"): 2,
    ("GET", "openOrders"): 3,
    ("GET", "allOrders"): 10,
    ("GET", "account"): 10,
    ("GET", "myTrades"): 10,
    ("GET", "tradeFee"): 20,
    ("GET", "capital/config/getall"): 10,
}
# Weight with a `symbol` parameter, weight for all symbols.
_SPOT_PER_SYMBOL: Mapping[tuple[str, str], tuple[float, float]] = {
    ("GET", "ticker/24hr"): (1, 40),
    ("GET", "ticker/price"): (1, 2),
}
_SPOT_IP_AND_ACCOUNT = frozenset({("POST", "order"), ("POST", "batchOrders")})
# Documented "2 times/s" on top of the weight budget.
_SPOT_TWICE_PER_SECOND = frozenset({("GET", "account"), ("POST", "batchOrders")})


@dataclass(frozen=True, slots=True)
class Budget:
    """A limit: at most ``capacity`` weight in any ``window_s`` seconds, per scope.

    ``per_key`` says how the exchange counts it: per API key (scope: a hash of the key)
    or per IP (scope ``"public"``, shared by every user of this deployment).
    """

    key: str
    capacity: float
    window_s: float
    per_key: bool = False

    def __post_init__(self) -> None:
        for name, value in (("capacity", self.capacity), ("window_s", self.window_s)):
            if not (math.isfinite(value) and value > 0):
                raise InvalidInputError(
                    f"budget {self.key!r}: {name} must be a positive number; found {value!r}."
                )


def budgets_for_request(
    exchange_id: str,
    api: str | Sequence[str],
    path: str,
    method: str,
    cost: float,
    rate_limit_ms: float,
    signed: bool,
    params: Mapping[str, Any] | None = None,
) -> list[tuple[Budget, float]]:
    """Return every budget one ccxt request (``fetch2`` arguments) counts against, with weights."""
    method = method.upper()
    parts = (api,) if isinstance(api, str) else tuple(api)
    if exchange_id in MEXC_LIKE and parts and parts[0] in ("spot", "spot2", "broker"):
        return _mexc_spot(exchange_id, parts[0], path, method, cost, signed, params or {})
    if exchange_id in MEXC_LIKE and parts and parts[0] == "contract":
        return _mexc_contract(exchange_id, path, method, signed)
    return [_ccxt_budget(exchange_id, cost, rate_limit_ms, signed)]


def _mexc_spot(
    exchange_id: str,
    section: str,
    path: str,
    method: str,
    cost: float,
    signed: bool,
    params: Mapping[str, Any],
) -> list[tuple[Budget, float]]:
    endpoint = (method, path)
    if endpoint in _SPOT_PER_SYMBOL:
        one, every = _SPOT_PER_SYMBOL[endpoint]
        weight = one if params.get("symbol") else every
    else:
        weight = _SPOT_WEIGHTS.get(endpoint, max(cost, 1.0)) if section == "spot" else cost
    prefix = "/api/v3/" if section == "spot" else f"/{section}/"
    key = f"{exchange_id}:{section}:{method} {prefix}{path}"
    budgets = [(Budget(key, SPOT_CAPACITY, SPOT_WINDOW_S, per_key=signed), float(weight))]
    if signed and endpoint in _SPOT_IP_AND_ACCOUNT:
        budgets.append((Budget(key, SPOT_CAPACITY, SPOT_WINDOW_S, per_key=False), float(weight)))
    if signed and endpoint in _SPOT_TWICE_PER_SECOND:
        budgets.append((Budget(key + " (per second)", 2.0, 1.0, per_key=True), 1.0))
    return budgets


def _mexc_contract(
    exchange_id: str, path: str, method: str, signed: bool
) -> list[tuple[Budget, float]]:
    capacity, window_s = _CONTRACT_SPECIAL.get(path, (CONTRACT_CAPACITY, CONTRACT_WINDOW_S))
    key = f"{exchange_id}:contract:{method} {path}"
    return [(Budget(key, capacity, window_s, per_key=signed), 1.0)]


def _ccxt_budget(
    exchange_id: str, cost: float, rate_limit_ms: float, signed: bool
) -> tuple[Budget, float]:
    if not (math.isfinite(rate_limit_ms) and rate_limit_ms > 0):
        raise InvalidInputError(
            f"{exchange_id}: ccxt rateLimit must be a positive number of milliseconds per "
            f"cost unit; found {rate_limit_ms!r}. Leave ccxt's default in place."
        )
    # ccxt's throttle refills 1000/rateLimit cost units per second; a one-second window
    # keeps that pace without allowing bursts ccxt itself would never send.
    capacity = max(1.0, 1000.0 / rate_limit_ms)
    budget = Budget(f"{exchange_id}:ccxt", capacity, 1.0, per_key=signed)
    # A call dearer than a whole window still has to pass: it takes the window alone.
    return budget, min(max(cost, 0.0), capacity)


Request = tuple[Budget, float, str]  # what a limiter is asked: (budget, weight, scope)


def merge_requests(requests: Sequence[Request]) -> list[Request]:
    """Validate weights, add up requests on the same (budget, scope), sort by key."""
    merged: dict[tuple[str, str], Request] = {}
    for budget, weight, scope in requests:
        if not (math.isfinite(weight) and weight >= 0):
            raise InvalidInputError(
                f"request weight must be a finite number >= 0; found {weight!r} for budget "
                f"{budget.key!r}."
            )
        previous = merged.get((budget.key, scope))
        total = weight + (previous[1] if previous else 0.0)
        merged[(budget.key, scope)] = (budget, total, scope)
    for budget, weight, _scope in merged.values():
        if weight > budget.capacity * (1 + EPSILON):
            raise InvalidInputError(
                f"request weight {weight:g} is more than budget {budget.key!r} allows in a "
                f"whole window ({budget.capacity:g} per {budget.window_s:g} s), so it could "
                "never be sent; split the request or correct the weight."
            )
    # One global order for taking the per-log locks: no two callers wait on each other.
    return [merged[key] for key in sorted(merged)]


def check_retry_after(retry_after_s: float) -> None:
    """Refuse a Retry-After that is negative or not a number."""
    if not (math.isfinite(retry_after_s) and retry_after_s >= 0):
        raise InvalidInputError(
            f"retry_after_s must be a finite number of seconds >= 0; found {retry_after_s!r}."
        )


__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MAX_INFLIGHT_S",
    "MEXC_LIKE",
    "Budget",
    "Request",
    "budgets_for_request",
    "check_retry_after",
    "merge_requests",
]
