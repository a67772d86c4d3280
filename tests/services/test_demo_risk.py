"""The demo's risk step against the demo's own simulator: real markets, candles and rules."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from tests.support.sim import serve_sim
from xraybot.cli.demo import print_risk
from xraybot.risk.leverage import BOUND_LIQUIDATION
from xraybot.risk.profile import load_risk_profile, risk_profile_from
from xraybot.services.demo import running_simulator
from xraybot.services.demo_risk import (
    DEMO_EQUITY,
    DEMO_RISK_SYMBOLS,
    DEMO_RISK_TABLE,
    DemoRisk,
    demo_profile,
    leverage_story,
    risk_tour,
)
from xraybot.sim.config import RateLimits, SimConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "risk.toml"


@pytest.fixture(scope="module")
def risk() -> Iterator[DemoRisk]:
    # The simulator `xraybot demo` runs (as tests/cli/test_cli.py's demo test starts it).
    with running_simulator(port=0, symbols=40, seed=0) as (url, _listed):
        yield asyncio.run(risk_tour(url))


@pytest.fixture(scope="module")
def unlimited_sim() -> Iterator[str]:
    """Rate limits off: each tour loads the markets afresh (contract/detail: once per 5 s)."""
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=30) as url:
        yield url


def test_each_perpetual_gets_a_leverage_a_size_and_a_liquidation_beyond_the_stop(
    risk: DemoRisk,
) -> None:
    assert [row.symbol for row in risk.rows] == list(DEMO_RISK_SYMBOLS)
    assert risk.equity == DEMO_EQUITY
    assert risk.profile.market == "swap"
    cap = risk.profile.leverage.max
    assert cap > 1
    for row in risk.rows:
        e = row.explanation
        assert e is not None, row.refusal
        assert e.market.symbol == f"{row.symbol}:USDT"
        assert e.market.kind.value == "swap"
        lev = e.leverage
        assert lev is not None
        assert 1 <= e.leverage_value == lev.value <= min(cap, e.market.max_leverage)
        assert lev.ok
        # Long: liquidation < stop < price, the liquidation at least the buffer beyond the stop.
        stop = e.entry.stop_price
        assert stop is not None
        assert lev.liquidation_price is not None
        assert lev.liquidation_price < stop < e.entry.price
        assert lev.stop_to_liquidation is not None
        assert lev.stop_to_liquidation >= lev.buffer * e.entry.price * (1 - 1e-9) > 0
        assert e.protections.allowed
        assert e.deposit is not None
        assert e.deposit.minimum_deposit > 0
        if e.allowed:
            assert e.amount > 0
            assert e.notional > 0
            assert e.sizing.margin > 0
            assert e.notional >= e.sizing.min_order_notional
            # Within the limits (or shrunk to their room): 1x equity on one symbol.
            assert e.limits is not None
            assert float(e.notional) <= DEMO_RISK_TABLE["limits"]["max_symbol_exposure"] * (
                DEMO_EQUITY
            )
            # The risk mode: the loss at the stop stays within 1 % of equity.
            assert e.entry.stop_distance is not None
            assert float(e.notional) * e.entry.stop_distance <= 0.01 * DEMO_EQUITY
        else:
            assert e.verdict
            assert e.amount == 0
    assert any(row.allowed for row in risk.rows)
    assert 0 <= risk.waited_s <= risk.elapsed_s


def test_the_why_line_names_each_leverage_and_what_bound_it(risk: DemoRisk) -> None:
    why = risk.why
    assert why == leverage_story(risk.rows)
    assert "1 / (stop + buffer + 0.50% maintenance margin)" in why
    for row in risk.rows:
        e = row.explanation
        assert e is not None
        assert e.leverage is not None
        d = e.leverage
        assert f"{e.market.base} {d.stop_distance:.2%}" in why
        assert f"→ {d.value}x" in why
        if d.bound_by != BOUND_LIQUIDATION:
            assert f"the rule allows {d.rule_leverage:.0f}x" in why


def test_the_json_holds_every_rule_and_the_table_one_row_per_symbol(risk: DemoRisk) -> None:
    data = json.loads(json.dumps(risk.as_dict(), allow_nan=False))
    assert data["exchange"] == "sim"
    assert data["profile"]["leverage"]["max"] == DEMO_RISK_TABLE["leverage"]["max"]
    assert data["why_leverages_differ"] == risk.why
    for row, shown in zip(risk.rows, data["rows"], strict=True):
        explanation = shown["explanation"]
        assert shown["symbol"] == f"{row.symbol}:USDT"
        assert explanation["leverage"]["value"] >= 1
        assert {"sizing", "limits", "protections", "deposit", "entry"} <= set(explanation)
    console = Console(record=True, width=220)
    print_risk(risk, console)
    text = console.export_text()
    for row in risk.rows:
        e = row.explanation
        assert e is not None
        line = re.compile(rf"{re.escape(row.symbol)}\s*│.*│\s*{e.leverage_value}x ")
        assert line.search(text), text
    assert "why the leverages differ: leverage = 1 / (stop" in text


def test_a_profile_that_can_never_trade_is_a_named_refusal(unlimited_sim: str) -> None:
    too_small = asyncio.run(risk_tour(unlimited_sim, ("BTC/USDT",), equity=1.0))
    (row,) = too_small.rows
    assert row.explanation is None
    assert not row.allowed
    assert row.refusal is not None
    assert "deposit" in row.refusal
    assert "never trade" in row.refusal
    inside_fee = risk_profile_from(
        DEMO_RISK_TABLE | {"exits": {"stop_loss_pct": 0.0003}}, where="test"
    )
    tight = asyncio.run(risk_tour(unlimited_sim, ("SOL/USDT",), profile=inside_fee))
    (row,) = tight.rows
    assert row.refusal is not None
    assert "risk.exits.stop_loss_pct" in row.refusal
    assert tight.why.startswith("no leverage was chosen")
    assert json.loads(json.dumps(tight.as_dict()))["rows"][0]["refusal"] == row.refusal


def test_the_step_waits_out_the_market_listings_rate_limit() -> None:
    # The X-ray loads the markets just before; the simulator then answers 510 with Retry-After.
    limits = RateLimits(contract_detail_window_ms=1_000)
    with serve_sim(SimConfig(match_interval_ms=0, rate_limits=limits), n_symbols=20) as url:
        first = asyncio.run(risk_tour(url, ("ETH/USDT",)))
        second = asyncio.run(risk_tour(url, ("ETH/USDT",)))
    assert first.waited_s == 0
    assert second.waited_s > 0
    assert second.rows[0].explanation is not None


def test_the_demo_profile_sizes_levers_and_stops_as_the_example_file() -> None:
    profile = demo_profile()
    example = load_risk_profile(EXAMPLE)
    assert profile.market == example.market == "swap"
    assert profile.sizing == example.sizing
    assert profile.leverage == example.leverage
    assert profile.margin_multiplier == example.margin_multiplier
    assert profile.exits.stop_loss_pct == example.exits.stop_loss_pct
    assert profile.exits.stop_loss_atr == example.exits.stop_loss_atr
