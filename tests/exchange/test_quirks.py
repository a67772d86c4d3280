"""quirks.py and config.py: per-exchange records, ccxt client configs, operator settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt.async_support
import ccxt.pro
import pytest
from pydantic import ValidationError

from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.quirks import (
    MEXC,
    SIM,
    ccxt_config,
    client_class,
    quirks_for,
    sim_urls,
)
from xraybot.model.errors import InvalidInputError
from xraybot.model.signals import Side


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_mexc_quirks_hold_what_the_research_found() -> None:
    mexc = quirks_for("mexc")
    assert mexc is MEXC
    assert not mexc.trust_ccxt_active
    assert mexc.spot_status_active == {"1"}
    assert mexc.swap_state_active == {"0"}
    assert not mexc.create_order_returns_status
    assert mexc.swap_amount_in_contracts
    assert mexc.swap_orders_may_be_closed
    assert "-2013" in mexc.order_not_found_codes
    assert mexc.swap_side_codes["2"] is Side.BUY
    assert mexc.swap_side_codes["4"] is Side.SELL
    assert mexc.max_ohlcv("spot") == 500
    assert mexc.max_ohlcv("swap") == 2000
    assert len(mexc.leverage_param_sets) == 2
    assert mexc.swap_plan_orders  # swap stops rest as plan orders; spot has none


def test_sim_speaks_mexc_but_polls_and_uses_the_sim_url() -> None:
    sim = quirks_for("sim")
    assert sim is SIM
    assert sim.ccxt_class == "mexc"
    assert sim.uses_sim_url
    assert not sim.supports_watch_ohlcv
    assert not sim.supports_watch_ticker
    assert sim.order_not_found_codes == MEXC.order_not_found_codes
    assert sim.swap_plan_orders


def test_other_ccxt_exchanges_get_a_generic_record_from_ccxts_capabilities() -> None:
    binance = quirks_for("binance")
    assert binance.ccxt_class == "binance"
    assert binance.trust_ccxt_active
    assert binance.supports_watch_ohlcv  # ccxt.pro binance has watchOHLCV
    assert binance.leverage_param_sets == ({},)
    assert not binance.swap_plan_orders  # stops watched locally until its triggers are spoken


@pytest.mark.parametrize("bad", ["nosuchex", "MEXC", "", "mexc "])
def test_unknown_exchange_is_refused_naming_it_and_some_valid_ones(bad: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        quirks_for(bad)
    assert repr(bad) in str(caught.value)
    assert "mexc" in str(caught.value)
    assert "sim" in str(caught.value)


def test_sim_config_points_every_ccxt_url_at_the_simulator() -> None:
    config = ccxt_config("sim", sim_url="http://127.0.0.1:9911", api_key="k", secret="s")
    client = ccxt.async_support.mexc(config)
    urls = list(_strings(client.urls["api"]))
    assert urls
    assert all(u.startswith(("http://127.0.0.1:9911", "ws://127.0.0.1:9911")) for u in urls)
    assert client.urls["api"]["contract"]["private"] == "http://127.0.0.1:9911/api/v1/private"
    assert client.apiKey == "k"
    assert client.secret == "s"
    assert client.enableRateLimit is False
    pro = ccxt.pro.mexc(config)
    assert pro.urls["api"]["ws"]["swap"] == "ws://127.0.0.1:9911/edge"


def test_real_exchange_config_keeps_ccxts_urls_and_only_given_keys() -> None:
    config = ccxt_config("mexc", timeout_ms=2500, enable_ccxt_throttle=True)
    assert config == {"enableRateLimit": True, "timeout": 2500}


def test_sim_urls_refuse_a_url_that_is_not_http() -> None:
    with pytest.raises(InvalidInputError, match="found 'ftp://x'"):
        sim_urls("ftp://x")
    assert sim_urls("https://sim.local/")["ws"]["spot"] == "wss://sim.local/ws"


def test_client_class_picks_pro_only_for_websockets() -> None:
    assert client_class("mexc") is ccxt.async_support.mexc
    assert client_class("mexc", websockets=True) is ccxt.pro.mexc
    assert client_class("sim", websockets=True) is ccxt.async_support.mexc


# -- ExchangeConfig -----------------------------------------------------------------------


def test_exchange_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XRAYBOT_SIM_URL", raising=False)
    config = ExchangeConfig()
    assert config.exchange == "sim"
    assert config.sim_url == "http://127.0.0.1:8800"
    assert config.rate_limit
    assert not config.use_websockets
    assert config.timeout_ms == 10_000
    assert config.max_private_clients == 256


def test_exchange_config_reads_the_sim_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XRAYBOT_SIM_URL", "http://127.0.0.1:9000/")
    assert ExchangeConfig().sim_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    "changes",
    [
        {"exchange": "nosuchex"},
        {"exchange": "Binance"},
        {"sim_url": "127.0.0.1:8800"},
        {"timeout_ms": 0},
        {"markets_ttl_s": 0},
        {"max_private_clients": 0},
        {"unknown_key": 1},
    ],
)
def test_exchange_config_refuses_bad_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExchangeConfig(**changes)


def test_exchange_config_is_frozen() -> None:
    config = ExchangeConfig(exchange="mexc")
    with pytest.raises(ValidationError):
        config.exchange = "binance"  # type: ignore[misc]
