"""The simulator's settings: one frozen model, built by ``xraybot sim`` or by tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from xraybot.model.errors import ConfigError

FAULT_KINDS = ("timeout", "error5xx", "disconnect", "lost_response", "partial_fill")


class FaultRates(BaseModel):
    """Per-request probabilities of each injected fault (0 = never, 1 = always)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: float = Field(default=0.0, ge=0.0, le=1.0)
    error5xx: float = Field(default=0.0, ge=0.0, le=1.0)
    disconnect: float = Field(default=0.0, ge=0.0, le=1.0)
    lost_response: float = Field(default=0.0, ge=0.0, le=1.0)
    partial_fill: float = Field(default=0.0, ge=0.0, le=1.0)

    @classmethod
    def parse(cls, spec: str) -> FaultRates:
        """Parse ``"timeout=0.02,error5xx=0.02,partial_fill=0.2"`` (an empty spec means none)."""
        values: dict[str, float] = {}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, number = item.partition("=")
            name = name.strip()
            if not sep or name not in FAULT_KINDS:
                raise ConfigError(
                    f"a fault spec item must be KIND=PROBABILITY with KIND one of "
                    f"{', '.join(FAULT_KINDS)}; found {item!r}."
                )
            try:
                probability = float(number)
            except ValueError:
                probability = -1.0
            if not 0.0 <= probability <= 1.0:
                raise ConfigError(
                    f"fault probability for {name} must be a number from 0 to 1; "
                    f"found {number.strip()!r}."
                )
            values[name] = probability
        return cls(**values)

    def spec(self) -> str:
        """Return the spec string that parses back to these rates."""
        return ",".join(f"{kind}={getattr(self, kind)}" for kind in FAULT_KINDS)


class RateLimits(BaseModel):
    """MEXC's published REST limits, enforced with sliding windows (HTTP 429 on breach)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    spot_weight: int = Field(default=500, ge=1)  # per endpoint, per IP (public) or key
    spot_window_ms: int = Field(default=10_000, ge=1)
    contract_requests: int = Field(default=20, ge=1)  # per endpoint, per IP or key
    contract_window_ms: int = Field(default=2_000, ge=1)
    contract_detail_requests: int = Field(default=1, ge=1)
    contract_detail_window_ms: int = Field(default=5_000, ge=1)


class SimConfig(BaseModel):
    """Everything ``xraybot sim`` can be told; the market data source is passed separately."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(default=8800, ge=0, le=65535)  # 0: the kernel picks a free port
    latency_ms: int = Field(default=0, ge=0)
    faults: FaultRates = FaultRates()
    fault_hang_ms: int = Field(
        default=15_000, ge=0, description="How long a 'timeout' fault hangs before a 504."
    )
    partial_fill_ratio: Decimal = Field(default=Decimal("0.5"), gt=0, lt=1)
    seed: int = 0
    rate_limits: RateLimits = RateLimits()
    slippage_rate: Decimal = Field(default=Decimal("0.0005"), ge=0, lt=1)
    match_interval_ms: int = Field(
        default=250, ge=0, description="Wall-clock period of the resting-order check; 0: off."
    )
    demo_api_key: str = Field(default="sim-demo-key", min_length=1)
    demo_secret: SecretStr = SecretStr("sim-demo-secret")
    demo_balances: dict[str, Decimal] = Field(default_factory=lambda: {"USDT": Decimal(100_000)})
    demo_swap_balance: Decimal = Field(default=Decimal(100_000), ge=0)  # USDT, futures wallet
    default_leverage: int = Field(default=20, ge=1)
    maintenance_margin_rate: Decimal = Field(default=Decimal("0.004"), ge=0, lt=1)

    @field_validator("faults", mode="before")
    @classmethod
    def _faults_from_spec(cls, value: Any) -> Any:
        return FaultRates.parse(value) if isinstance(value, str) else value

    @field_validator("demo_balances")
    @classmethod
    def _non_negative_balances(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for asset, amount in value.items():
            if amount < 0:
                raise ValueError(f"balance of {asset} must be >= 0 (it was {amount})")
        return value
