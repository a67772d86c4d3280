"""Operator settings for the exchange layer: which exchange, where the simulator is, limits."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Defined here, not in quirks.py: reading the configuration must not import ccxt (0.5 s of
# every command's start); ccxt is imported only to check an exchange id someone set.
SIM_EXCHANGE_ID = "sim"
DEFAULT_SIM_URL = "http://127.0.0.1:8800"

SIM_URL_ENV = "XRAYBOT_SIM_URL"
_EXCHANGE_ID = re.compile(r"[a-z][a-z0-9]*")


def default_sim_url() -> str:
    """Return ``$XRAYBOT_SIM_URL``, or the simulator's default address."""
    return os.environ.get(SIM_URL_ENV) or DEFAULT_SIM_URL


class ExchangeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange: str = Field(
        default="sim",
        description="ccxt exchange id (mexc, binance, ...) or 'sim' for the local simulator.",
    )
    sim_url: str = Field(
        default_factory=default_sim_url,
        validate_default=True,  # the environment's value is checked like any other
        description=f"Base URL of the local simulator (default ${SIM_URL_ENV} or "
        f"{DEFAULT_SIM_URL}).",
    )
    timeout_ms: int = Field(default=10_000, ge=100, le=120_000)
    markets_ttl_s: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    max_private_clients: int = Field(default=256, ge=1, le=100_000)
    rate_limit: bool = Field(
        default=True, description="Pace requests with xraybot's limiter (ccxt's own is off)."
    )
    use_websockets: bool = Field(
        default=False,
        description="Stream tickers/candles over ccxt.pro websockets where the exchange has "
        "them; otherwise poll.",
    )

    @field_validator("exchange")
    @classmethod
    def _exchange_id(cls, value: str) -> str:
        import ccxt

        if not _EXCHANGE_ID.fullmatch(value) or (
            value != SIM_EXCHANGE_ID and value not in ccxt.exchanges
        ):
            raise ValueError(
                f"a ccxt exchange id in lower case such as mexc, binance or sim (found {value!r})"
            )
        return value

    @field_validator("sim_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"an http:// URL such as http://127.0.0.1:8800 (found {value!r})")
        return value.rstrip("/")
