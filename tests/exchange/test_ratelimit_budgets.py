"""budgets_for_request: MEXC's published limits per endpoint, ccxt's pace for the rest."""

from __future__ import annotations

import ccxt.async_support
import pytest

from xraybot.exchange import budgets as budgets_module
from xraybot.exchange.budgets import Budget, budgets_for_request
from xraybot.model.errors import InvalidInputError

SPOT_PUBLIC = ["spot", "public"]
SPOT_PRIVATE = ["spot", "private"]


def only(result: list[tuple[Budget, float]]) -> tuple[Budget, float]:
    assert len(result) == 1
    return result[0]


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        ("klines", {"symbol": "BTCUSDT", "interval": "1m"}, 1),
        ("depth", {"symbol": "BTCUSDT"}, 1),
        ("exchangeInfo", {}, 10),  # ccxt charges 25; MEXC's weight is 10
        ("ticker/24hr", {"symbol": "BTCUSDT"}, 1),
        ("ticker/24hr", {}, 40),
        ("ticker/price", {}, 2),
        ("trades", {"symbol": "BTCUSDT"}, 5),
    ],
)
def test_spot_public_endpoints_have_their_own_ip_budget(
    path: str, params: dict[str, str], weight: float
) -> None:
    budget, taken = only(
        budgets_for_request("mexc", SPOT_PUBLIC, path, "GET", 99, 50, False, params)
    )
    assert budget == Budget(f"mexc:spot:GET /api/v3/{path}", 500, 10.0, per_key=False)
    assert taken == weight


@pytest.mark.parametrize(
    ("method", "path", "weight"),
    [
        ("GET", "order", 2),
        ("GET", "openOrders", 3),
        ("GET", "allOrders", 10),
        ("GET", "myTrades", 10),
        ("GET", "capital/config/getall", 10),
        ("DELETE", "order", 1),
    ],
)
def test_signed_spot_endpoints_count_per_key(method: str, path: str, weight: float) -> None:
    budget, taken = only(budgets_for_request("mexc", SPOT_PRIVATE, path, method, 1, 50, True))
    assert budget.key == f"mexc:spot:{method} /api/v3/{path}"
    assert budget.per_key
    assert (budget.capacity, budget.window_s, taken) == (500, 10.0, weight)


def test_placing_an_order_counts_per_key_and_per_ip() -> None:
    result = budgets_for_request("mexc", SPOT_PRIVATE, "order", "POST", 1, 50, True)
    assert [(b.key, b.per_key, w) for b, w in result] == [
        ("mexc:spot:POST /api/v3/order", True, 1.0),
        ("mexc:spot:POST /api/v3/order", False, 1.0),
    ]


def test_the_account_endpoint_is_also_capped_at_two_per_second() -> None:
    result = budgets_for_request("mexc", SPOT_PRIVATE, "account", "get", 10, 50, True)
    assert [(b.capacity, b.window_s, w) for b, w in result] == [(500, 10.0, 10.0), (2, 1.0, 1.0)]
    assert all(b.per_key for b, _ in result)


def test_unlisted_spot_endpoints_fall_back_to_ccxts_cost() -> None:
    budget, taken = only(budgets_for_request("mexc", SPOT_PRIVATE, "uid", "GET", 7, 50, True))
    assert (budget.key, taken) == ("mexc:spot:GET /api/v3/uid", 7.0)


@pytest.mark.parametrize(
    ("access", "path", "capacity", "window_s"),
    [
        ("public", "kline/{symbol}", 20, 2.0),
        ("public", "ticker", 20, 2.0),
        ("public", "detail", 1, 5.0),
        ("private", "position/open_positions", 20, 2.0),
        ("private", "order/batch_query", 5, 2.0),
        ("private", "order/submit_batch", 1, 2.0),
    ],
)
def test_contract_endpoints_count_requests(
    access: str, path: str, capacity: float, window_s: float
) -> None:
    signed = access == "private"
    budget, taken = only(
        budgets_for_request("mexc", ["contract", access], path, "GET", 2, 50, signed)
    )
    assert budget == Budget(f"mexc:contract:GET {path}", capacity, window_s, per_key=signed)
    assert taken == 1.0


def test_the_simulator_has_mexcs_limits_under_its_own_name() -> None:
    budget, taken = only(budgets_for_request("sim", SPOT_PUBLIC, "klines", "GET", 1, 50, False))
    assert (budget.key, budget.capacity, taken) == ("sim:spot:GET /api/v3/klines", 500, 1.0)


def test_other_exchanges_keep_ccxts_pace() -> None:
    budget, taken = only(budgets_for_request("binance", "public", "klines", "GET", 2, 50, False))
    assert budget == Budget("binance:ccxt", 20.0, 1.0, per_key=False)
    assert taken == 2.0
    # A call dearer than a whole second of budget still passes, taking the window alone.
    budget, taken = only(budgets_for_request("kraken", ["private"], "x", "POST", 9, 3000, True))
    assert (budget.capacity, budget.per_key, taken) == (1.0, True, 1.0)


@pytest.mark.parametrize("rate_limit_ms", [0, -5, float("nan")])
def test_a_broken_rate_limit_is_refused(rate_limit_ms: float) -> None:
    with pytest.raises(InvalidInputError, match="rateLimit must be a positive number"):
        budgets_for_request("binance", "public", "x", "GET", 1, rate_limit_ms, False)


def test_every_weighted_endpoint_is_one_ccxt_calls() -> None:
    """A typo in the weight table would silently fall back to ccxt's cost."""
    api = ccxt.async_support.mexc().api["spot"]
    named = {
        (method.upper(), path)
        for access in ("public", "private")
        for method, paths in api[access].items()
        for path in paths
    }
    table = set(budgets_module._SPOT_WEIGHTS) | set(budgets_module._SPOT_PER_SYMBOL)
    assert table - named == set()
    contract = ccxt.async_support.mexc().api["contract"]
    contract_paths = {p for a in contract.values() for paths in a.values() for p in paths}
    assert set(budgets_module._CONTRACT_SPECIAL) <= contract_paths
