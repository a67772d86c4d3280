"""What a backtest is asked to do and what it returns, as plain data.

``BacktestSettings`` holds the account and execution assumptions (stake, fees, slippage,
leverage, funding, the risk layer: ``backtest.risk_results``); ``TradeRecords`` is a columnar
list of closed trades (partial closes are trades of their own); ``BacktestResult`` adds the
per-candle equity and exposure curves and what the risk layer did.
Exit reasons use the codes of ``matching.rules`` (``exit_reason_name`` labels them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xraybot.backtest.risk_results import RiskReport, RiskSettings
from xraybot.matching.rules import exit_reason_name
from xraybot.model.candles import FloatArray, IntArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules

Int8Array = npt.NDArray[np.int8]

StakeMode = Literal["all", "fraction", "fixed"]
MarketKind = Literal["spot", "swap"]
Directions = Literal["long", "short", "both"]


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """Account and execution assumptions; defaults are the reference strategy's.

    ``stake``: ``all`` invests all free equity (``qty = equity / (price * (1 + fee))``),
    ``fraction`` invests ``stake_amount`` x equity, ``fixed`` invests ``stake_amount`` of
    quote currency. Slippage moves every fill against the trader by ``slippage_bps`` plus
    ``slippage_atr`` x NATR of the signal candle (volatility-scaled). ``leverage`` > 1 and
    shorts need ``market="swap"``; funding is charged every ``funding_interval_ms`` at
    ``funding_rate`` on the position's notional. ``exits`` replaces the strategy's own exit
    rules when given. ``max_open_trades`` bounds a multi-symbol portfolio sharing capital.

    ``risk`` sizes entries through the risk layer (``RiskSettings``); ``risk_rules`` switches
    its protections and limits on, so the backtest shows what the live bot would have been
    allowed to do. Both off (the default), entries are sized by the stake alone.
    """

    equity: float = 10_000.0
    fee_rate: float = 0.001
    slippage_bps: float = 0.0
    slippage_atr: float = 0.0
    stake: StakeMode = "all"
    stake_amount: float = 1.0
    market: MarketKind = "spot"
    directions: Directions = "long"
    leverage: float = 1.0
    maintenance_margin_rate: float = 0.005
    funding_rate: float = 0.0
    funding_interval_ms: int = 8 * 3_600_000
    max_open_trades: int = 1
    exits: ExitRules | None = None
    risk: RiskSettings | None = None
    risk_rules: bool = False

    def __post_init__(self) -> None:
        owner = "BacktestSettings"

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise InvalidInputError(f"{owner}: {message}")

        need(
            math.isfinite(self.equity) and self.equity > 0,
            f"equity must be > 0; found {self.equity!r}.",
        )
        need(
            0 <= self.fee_rate < 0.1,
            f"fee_rate must be in [0, 0.1) (0.001 = 0.1 %); found {self.fee_rate!r}.",
        )
        need(
            0 <= self.slippage_bps < 1000,
            f"slippage_bps must be in [0, 1000); found {self.slippage_bps!r}.",
        )
        need(
            0 <= self.slippage_atr < 10,
            f"slippage_atr must be in [0, 10); found {self.slippage_atr!r}.",
        )
        need(
            self.stake in ("all", "fraction", "fixed"),
            f"stake must be all, fraction or fixed; found {self.stake!r}.",
        )
        if self.stake == "fraction":
            need(
                0 < self.stake_amount <= 1,
                f"a fraction stake must be in (0, 1]; found {self.stake_amount!r}.",
            )
        if self.stake == "fixed":
            need(
                self.stake_amount > 0,
                f"a fixed stake must be > 0 quote; found {self.stake_amount!r}.",
            )
        need(
            self.market in ("spot", "swap"), f"market must be spot or swap; found {self.market!r}."
        )
        need(
            self.directions in ("long", "short", "both"),
            f"directions must be long, short or both; found {self.directions!r}.",
        )
        need(self.leverage >= 1, f"leverage must be >= 1; found {self.leverage!r}.")
        if self.market == "spot":
            need(
                self.leverage == 1,
                f"spot trades without leverage; found leverage {self.leverage!r} "
                "(use market='swap').",
            )
            need(
                self.directions == "long",
                f"spot cannot sell short; found directions {self.directions!r} "
                "(use market='swap').",
            )
            need(
                self.funding_rate == 0,
                "spot pays no funding; set funding_rate only with market='swap'.",
            )
        need(
            0 <= self.maintenance_margin_rate < 1 / self.leverage,
            "maintenance_margin_rate must be in [0, 1/leverage); "
            f"found {self.maintenance_margin_rate!r}.",
        )
        need(
            self.funding_interval_ms > 0,
            f"funding_interval_ms must be > 0; found {self.funding_interval_ms!r}.",
        )
        need(
            self.max_open_trades >= 1,
            f"max_open_trades must be >= 1; found {self.max_open_trades!r}.",
        )
        if self.risk is not None and self.risk.auto_leverage:
            need(
                self.market == "swap",
                "auto_leverage picks a leverage per trade, which spot does not have; "
                "use market='swap' (leverage is then the cap).",
            )

    @property
    def risk_layer(self) -> RiskSettings | None:
        """The risk settings the kernel applies: None when neither sizing nor rules are on."""
        if self.risk_rules:
            return self.risk if self.risk is not None else RiskSettings()
        risk = self.risk
        if risk is not None and (
            risk.sizing != "stake" or risk.auto_leverage or risk.min_notional > 0
        ):
            return risk
        return None


@dataclass(frozen=True, slots=True)
class TradeRecords:
    """Closed trades, one row each, columnar. ``direction`` is +1 long / -1 short;
    ``fee`` is both sides' fees, ``funding`` the funding received (negative when paid);
    ``pnl`` is net of fees and funding."""

    entry_ts: IntArray
    exit_ts: IntArray
    direction: Int8Array
    entry_price: FloatArray
    exit_price: FloatArray
    amount: FloatArray
    fee: FloatArray
    funding: FloatArray
    pnl: FloatArray
    exit_reason: Int8Array
    entry_index: IntArray
    exit_index: IntArray

    def __len__(self) -> int:
        return int(self.entry_ts.shape[0])

    @classmethod
    def empty(cls) -> TradeRecords:
        i64 = np.empty(0, dtype=np.int64)
        f64 = np.empty(0, dtype=np.float64)
        i8 = np.empty(0, dtype=np.int8)
        return cls(i64, i64, i8, f64, f64, f64, f64, f64, f64, i8, i64, i64)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Rows for ``--json``: times in ms, ``side`` long/short, named exit reasons."""
        rows = []
        for i in range(len(self)):
            rows.append(
                {
                    "entry_ts": int(self.entry_ts[i]),
                    "exit_ts": int(self.exit_ts[i]),
                    "side": "long" if self.direction[i] > 0 else "short",
                    "entry_price": float(self.entry_price[i]),
                    "exit_price": float(self.exit_price[i]),
                    "amount": float(self.amount[i]),
                    "fee": float(self.fee[i]),
                    "funding": float(self.funding[i]),
                    "pnl": float(self.pnl[i]),
                    "exit_reason": exit_reason_name(int(self.exit_reason[i])),
                }
            )
        return rows


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """One symbol's backtest: trades plus equity and exposure at every candle's close.

    ``exposure[t]`` is the open positions' notional at the close of t divided by equity.
    ``risk`` is what the risk layer did (None when it was off).
    """

    exchange: str
    symbol: str
    timeframe: str
    strategy: str
    params: Mapping[str, Any]
    settings: BacktestSettings
    ts_ms: IntArray
    equity: FloatArray
    exposure: FloatArray
    trades: TradeRecords
    close: FloatArray = field(default_factory=lambda: np.empty(0, dtype=np.float64))
    risk: RiskReport | None = None

    @property
    def candles(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def blocked(self) -> dict[str, int]:
        """Entries the risk layer skipped, per reason; empty when it was off."""
        return {} if self.risk is None else self.risk.blocked()
