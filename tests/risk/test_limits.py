"""risk.limits: hand-checked verdicts and rooms, and the reasons check_limits gives."""

from __future__ import annotations

import math

import pytest

from xraybot.model.errors import InvalidInputError
from xraybot.risk.limits import (
    LIMIT_BAD_INPUT,
    LIMIT_CLUSTER,
    LIMIT_MARGIN,
    LIMIT_MAX_OPEN,
    LIMIT_OK,
    LIMIT_SYMBOL,
    LIMIT_TOTAL,
    LimitSettings,
    OpenPosition,
    check_limits,
    limit_block,
    limit_reason_name,
    limit_room,
)

NAN = math.nan


def block(
    new: float,
    *,
    count: float = 0,
    max_open: float = NAN,
    symbol: float = 0.0,
    total: float = 0.0,
    equity: float = 1000.0,
    max_symbol: float = NAN,
    max_total: float = NAN,
    cluster: float = NAN,
    max_cluster: float = NAN,
    margin: float = NAN,
    leverage: float = 1.0,
) -> int:
    return limit_block(
        count, max_open, symbol, total, new, equity, max_symbol, max_total, cluster,
        max_cluster, margin, leverage,
    )  # fmt: skip


def room(
    *,
    count: float = 0,
    max_open: float = NAN,
    symbol: float = 0.0,
    total: float = 0.0,
    equity: float = 1000.0,
    max_symbol: float = NAN,
    max_total: float = NAN,
    cluster: float = NAN,
    max_cluster: float = NAN,
    margin: float = NAN,
    leverage: float = 1.0,
) -> float:
    return limit_room(
        count, max_open, symbol, total, equity, max_symbol, max_total, cluster, max_cluster,
        margin, leverage,
    )  # fmt: skip


def test_no_limit_set_allows_anything_and_leaves_unlimited_room() -> None:
    assert block(1e12) == LIMIT_OK
    assert room() == math.inf


def test_max_open_counts_new_symbols_only() -> None:
    assert block(10.0, count=2, max_open=3) == LIMIT_OK
    assert block(10.0, count=3, max_open=3) == LIMIT_MAX_OPEN
    assert room(count=3, max_open=3) == 0.0
    # Adding to a position already open opens no new one.
    assert block(10.0, count=3, max_open=3, symbol=50.0, total=50.0) == LIMIT_OK
    assert room(count=3, max_open=3, symbol=50.0, total=50.0) == math.inf


def test_symbol_exposure_is_a_multiple_of_equity() -> None:
    # 0.5 x 1000 = 500; 300 open on the symbol leaves 200.
    assert room(symbol=300.0, total=300.0, max_symbol=0.5) == 200.0
    assert block(200.0, symbol=300.0, total=300.0, max_symbol=0.5) == LIMIT_OK
    assert block(200.01, symbol=300.0, total=300.0, max_symbol=0.5) == LIMIT_SYMBOL


def test_total_exposure_and_cluster_exposure() -> None:
    assert room(total=1500.0, max_total=2.0) == 500.0
    assert block(501.0, total=1500.0, max_total=2.0) == LIMIT_TOTAL
    assert room(total=1500.0, cluster=800.0, max_cluster=1.0) == 200.0
    assert block(250.0, total=1500.0, cluster=800.0, max_cluster=1.0) == LIMIT_CLUSTER
    # NaN cluster notional: the symbol has no cluster, the limit does not apply.
    assert block(250.0, total=1500.0, cluster=NAN, max_cluster=1.0) == LIMIT_OK


def test_margin_reserve_counts_the_book_at_its_leverage() -> None:
    # 10x with a 2x reserve: equity 1000 carries 1000 * 10 / 2 = 5000 of notional.
    assert room(total=4000.0, margin=2.0, leverage=10.0) == 1000.0
    assert block(1000.0, total=4000.0, margin=2.0, leverage=10.0) == LIMIT_OK
    assert block(1001.0, total=4000.0, margin=2.0, leverage=10.0) == LIMIT_MARGIN
    # Spot (leverage 1), multiplier 1: no borrowing at all.
    assert room(total=600.0, margin=1.0) == 400.0


def test_the_first_broken_limit_is_reported_and_the_tightest_sets_the_room() -> None:
    kwargs = {"symbol": 100.0, "total": 1000.0, "cluster": 500.0}
    caps = {"max_symbol": 0.3, "max_total": 1.2, "max_cluster": 0.6}
    assert block(250.0, **kwargs, **caps) == LIMIT_SYMBOL
    assert room(**kwargs, **caps) == 100.0  # the cluster: 600 - 500


def test_a_full_cap_leaves_no_room() -> None:
    assert room(total=2000.0, max_total=2.0) == 0.0
    assert block(1e-9, total=2000.0, max_total=2.0) == LIMIT_TOTAL
    # Positions that grew past a cap block everything; the room never goes negative.
    assert room(total=2500.0, max_total=2.0) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"new": 0.0},
        {"new": -1.0},
        {"new": NAN},
        {"new": math.inf},
        {"new": 1.0, "equity": 0.0},
        {"new": 1.0, "equity": NAN},
        {"new": 1.0, "total": -5.0},
        {"new": 1.0, "symbol": NAN},
        {"new": 1.0, "cluster": -1.0},
        {"new": 1.0, "leverage": 0.5},
        {"new": 1.0, "margin": 0.0},
    ],
)
def test_bad_input_is_a_code_not_an_exception(kwargs: dict[str, float]) -> None:
    new = kwargs.pop("new")
    assert block(new, **kwargs) == LIMIT_BAD_INPUT
    if kwargs:  # a bad book, not just a bad entry: no room either
        assert room(**kwargs) == 0.0


def test_reason_names_are_the_settings() -> None:
    assert limit_reason_name(LIMIT_OK) == "ok"
    assert limit_reason_name(LIMIT_CLUSTER) == "max_cluster_exposure"
    assert limit_reason_name(LIMIT_MARGIN) == "margin_multiplier"
    assert "unknown" in limit_reason_name(99)


# -- check_limits ------------------------------------------------------------------------

BOOK = (
    OpenPosition("BTC/USDT", 1000.0, leverage=5.0),
    OpenPosition("ETH/USDT", 500.0, leverage=5.0),
)
CLUSTERS = {"BTC/USDT": 0, "ETH/USDT": 0, "SOL/USDT": 0, "DOGE/USDT": 1}


def test_check_limits_explains_each_limit_with_numbers() -> None:
    settings = LimitSettings(
        max_open_positions=3,
        max_symbol_exposure=0.5,
        max_total_exposure=2.0,
        max_cluster_exposure=1.0,
        margin_multiplier=1.5,
    )
    decision = check_limits(
        settings,
        symbol="SOL/USDT",
        new_notional=600.0,
        equity=1000.0,
        positions=BOOK,
        clusters=CLUSTERS,
        leverage=5.0,
    )
    assert not decision.allowed
    assert decision.code == LIMIT_SYMBOL
    assert decision.room == 0.0  # cluster 0 already holds 1500 of its 1000
    by_name = {c.name: c for c in decision.checks}
    assert by_name["max_open_positions"].passed
    assert not by_name["max_cluster_exposure"].passed
    assert by_name["max_cluster_exposure"].used == 1500.0
    assert by_name["max_total_exposure"].room == 500.0
    assert by_name["margin_multiplier"].passed
    assert any("2,100.00 vs max_total_exposure 2 x equity 1,000.00 = 2,000.00" in r
               for r in decision.reasons)  # fmt: skip
    assert all("ok" not in r.rsplit(":", 1)[-1] for r in decision.reasons)
    data = decision.to_dict()
    assert data["blocked_by"] == "max_symbol_exposure"
    assert data["room"] == 0.0


def test_check_limits_allows_an_entry_in_another_cluster() -> None:
    settings = LimitSettings(max_open_positions=3, max_cluster_exposure=1.0)
    decision = check_limits(
        settings, symbol="DOGE/USDT", new_notional=400.0, equity=1000.0, positions=BOOK,
        clusters=CLUSTERS,
    )  # fmt: skip
    assert decision.allowed
    assert decision.code == LIMIT_OK
    assert decision.room == 1000.0
    assert decision.to_dict()["blocked_by"] is None
    assert any("cluster 1 exposure" in r for r in decision.reasons)


def test_an_unclustered_symbol_is_its_own_cluster() -> None:
    settings = LimitSettings(max_cluster_exposure=0.2)
    decision = check_limits(
        settings, symbol="XYZ/USDT", new_notional=150.0, equity=1000.0, positions=BOOK,
        clusters=CLUSTERS,
    )  # fmt: skip
    assert decision.allowed
    assert decision.room == 200.0
    assert "XYZ/USDT (no cluster)" in decision.checks[3].reason


def test_margin_is_counted_at_the_lowest_leverage_of_the_book() -> None:
    settings = LimitSettings(margin_multiplier=1.0)
    book = (OpenPosition("BTC/USDT", 2000.0, leverage=2.0),)
    decision = check_limits(
        settings, symbol="ETH/USDT", new_notional=100.0, equity=1000.0, positions=book,
        leverage=10.0,
    )  # fmt: skip
    # At 2x, equity 1000 carries 2000 of notional: all taken.
    assert not decision.allowed
    assert decision.code == LIMIT_MARGIN
    assert decision.room == 0.0


def test_check_limits_refuses_nonsense() -> None:
    with pytest.raises(InvalidInputError, match="equity"):
        check_limits(LimitSettings(), symbol="A/B", new_notional=1.0, equity=0.0)
    with pytest.raises(InvalidInputError, match="notional"):
        check_limits(LimitSettings(), symbol="A/B", new_notional=-1.0, equity=10.0)
    with pytest.raises(InvalidInputError, match="max_open_positions"):
        LimitSettings(max_open_positions=0)
    with pytest.raises(InvalidInputError, match="margin_multiplier"):
        LimitSettings(margin_multiplier=0.5)
    with pytest.raises(InvalidInputError, match="notional"):
        OpenPosition("A/B", -1.0)


def test_the_room_survives_rounding() -> None:
    used, cap = 6972.771459016548, 16293.833412879378
    assert used + (cap - used) > cap  # the naive room would overshoot the cap
    r = room(total=used, equity=1.0, max_total=cap)
    assert r < cap - used
    assert used + r <= cap
    assert block(r, total=used, equity=1.0, max_total=cap) == LIMIT_OK
    assert block(cap - used, total=used, equity=1.0, max_total=cap) == LIMIT_TOTAL
