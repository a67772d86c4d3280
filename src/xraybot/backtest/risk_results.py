"""The risk layer of a backtest as plain data: what it is asked to do, and what it did.

``RiskSettings`` is ``BacktestSettings.risk``: how entries are sized (the stake, a risk per
trade from the stop distance, a volatility target, capped Kelly from the closed trades so
far), whether each trade picks its own leverage, and the protections and limits, which run
only while ``BacktestSettings.risk_rules`` is on. ``RiskReport`` is what a run returns: every
entry the layer refused or shrank (``blocked()`` counts them per reason), and how it sized
the ones it let through. No numba here: ``backtest.kernel_risk`` is the compiled side.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from xraybot.backtest.kernel_layout import (
    KIND_LIMIT,
    KIND_PROTECTION,
    KIND_SHRUNK,
    KIND_SIZING,
    SIZING_BELOW_MIN,
    SIZING_NOTHING,
)
from xraybot.model.candles import FloatArray, IntArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.limits import LimitSettings, limit_reason_name
from xraybot.risk.protections import block_name

if TYPE_CHECKING:
    from xraybot.risk.protections_settings import ProtectionSettings

Int8Array = npt.NDArray[np.int8]
SizingMode = Literal["stake", "risk", "vol_target", "kelly"]

KIND_NAMES = {
    KIND_PROTECTION: "protection",
    KIND_LIMIT: "limit",
    KIND_SIZING: "sizing",
    KIND_SHRUNK: "shrunk",
}
SIZING_NAMES = {SIZING_NOTHING: "no_size", SIZING_BELOW_MIN: "below_min_notional"}


def _no_protections() -> ProtectionSettings:
    # pydantic is imported on first use, not with every command line that names settings.
    from xraybot.risk.protections_settings import ProtectionSettings

    return ProtectionSettings()


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """How the risk layer sizes, protects and limits a backtest's entries.

    ``sizing``: ``stake`` sizes as ``BacktestSettings.stake`` says; ``risk`` loses
    ``risk_per_trade`` x equity at the exit rules' stop (fees included; needs a stop);
    ``vol_target`` opens ``equity x target_volatility / volatility`` (both per candle, the
    volatility being ATR/close over ``volatility_period`` candles); ``kelly`` commits the
    Kelly share of equity from the closed trades' win rate and payoff, capped at
    ``kelly_cap``, once ``kelly_min_trades`` trades have closed (the stake sizes until then).
    Every mode is capped by the free cash (``risk.sizing.stake_notional``).

    ``auto_leverage`` (swap): each trade takes the highest leverage, capped by
    ``BacktestSettings.leverage``, whose liquidation lies beyond its stop by
    ``leverage_safety`` x the stop distance (``risk.leverage.leverage_for``); no stop, 1x.

    With ``BacktestSettings.risk_rules`` on: the ``protections`` (cooldown, stop-loss guard,
    drawdown breaker, low-profit lock, daily loss, dynamic risk; ``risk.protections``) may
    block an entry, and the kill switch trips at ``kill_at_ms``; the ``limits``
    (``risk.limits``; their ``max_open_positions`` and ``BacktestSettings.max_open_trades``
    both bind) refuse an entry, or with ``shrink_to_limits`` shrink it to the room left.
    ``clusters`` groups symbols whose exposure the cluster limit adds up (a symbol in no
    group is a cluster of its own). Entries below ``min_notional`` (quote) are skipped.
    """

    sizing: SizingMode = "stake"
    risk_per_trade: float = 0.01
    target_volatility: float = 0.01
    volatility_period: int = 14
    kelly_cap: float = 0.25
    kelly_min_trades: int = 20
    auto_leverage: bool = False
    leverage_safety: float = 0.5
    min_notional: float = 0.0
    protections: ProtectionSettings = field(default_factory=_no_protections)
    limits: LimitSettings = field(default_factory=LimitSettings)
    clusters: tuple[tuple[str, ...], ...] = ()
    shrink_to_limits: bool = True
    kill_at_ms: int | None = None

    def __post_init__(self) -> None:
        owner = "RiskSettings"

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise InvalidInputError(f"{owner}: {message}")

        need(
            self.sizing in ("stake", "risk", "vol_target", "kelly"),
            f"sizing must be stake, risk, vol_target or kelly; found {self.sizing!r}.",
        )
        need(
            0 < self.risk_per_trade <= 0.5,
            "risk_per_trade must be in (0, 0.5] (0.01 = lose 1 % of equity at the stop); "
            f"found {self.risk_per_trade!r}.",
        )
        need(
            0 < self.target_volatility < 1,
            "target_volatility must be in (0, 1) (0.01 = 1 % a candle); "
            f"found {self.target_volatility!r}.",
        )
        need(
            2 <= self.volatility_period <= 500,
            f"volatility_period must be in [2, 500] candles; found {self.volatility_period!r}.",
        )
        need(0 < self.kelly_cap <= 1, f"kelly_cap must be in (0, 1]; found {self.kelly_cap!r}.")
        need(
            self.kelly_min_trades >= 1,
            f"kelly_min_trades must be >= 1; found {self.kelly_min_trades!r}.",
        )
        need(
            math.isfinite(self.leverage_safety) and 0 <= self.leverage_safety <= 10,
            f"leverage_safety must be in [0, 10]; found {self.leverage_safety!r}.",
        )
        need(
            math.isfinite(self.min_notional) and self.min_notional >= 0,
            f"min_notional must be >= 0 quote; found {self.min_notional!r}.",
        )
        seen: dict[str, int] = {}
        for index, group in enumerate(self.clusters):
            for symbol in group:
                need(
                    symbol not in seen,
                    f"clusters must not share a symbol; found {symbol} in groups "
                    f"{seen.get(symbol)} and {index}.",
                )
                seen[symbol] = index

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, nested settings included."""
        document: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        document["protections"] = self.protections.model_dump(mode="json")
        document["limits"] = asdict(self.limits)
        document["clusters"] = [list(group) for group in self.clusters]
        return document

    def cluster_of(self, symbols: tuple[str, ...] | list[str]) -> IntArray:
        """Each symbol's cluster index, -1 for a symbol in no group."""
        index = {s: i for i, group in enumerate(self.clusters) for s in group}
        return np.array([index.get(s, -1) for s in symbols], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class RiskEvents:
    """Entries the risk layer refused or shrank, one row each, columnar.

    ``ts_ms`` is the open the entry was due at, ``symbol`` an index into the report's
    symbols, ``kind`` a ``KIND_*`` code and ``code`` the reason within it (a
    ``risk.protections`` BLOCK_*, a ``risk.limits`` LIMIT_* or a sizing code; for ``shrunk``
    the limit whose room the entry was cut to — that entry did open).
    """

    ts_ms: IntArray
    symbol: IntArray
    kind: Int8Array
    code: Int8Array

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @classmethod
    def empty(cls) -> RiskEvents:
        i64 = np.empty(0, dtype=np.int64)
        i8 = np.empty(0, dtype=np.int8)
        return cls(i64, i64, i8, i8)

    def reasons(self) -> list[str]:
        return [reason_name(int(k), int(c)) for k, c in zip(self.kind, self.code, strict=True)]

    def select(self, mask: npt.NDArray[np.bool_]) -> RiskEvents:
        return RiskEvents(self.ts_ms[mask], self.symbol[mask], self.kind[mask], self.code[mask])


@dataclass(frozen=True, slots=True)
class SizedEntries:
    """How the risk layer sized each position it opened, one row each, columnar.

    ``equity`` and ``cash`` are what the sizing and limits were judged on (equity marked at
    the last closes, the free cash), ``open_notional`` and ``cluster_notional`` the open
    positions' notional before the entry (all of them; those of the symbol's cluster, a
    symbol in no cluster being one of its own),
    ``notional``/``cost`` what it opened and committed, ``scale`` the dynamic risk factor.
    """

    ts_ms: IntArray
    symbol: IntArray
    equity: FloatArray
    cash: FloatArray
    open_notional: FloatArray
    cluster_notional: FloatArray
    notional: FloatArray
    cost: FloatArray
    leverage: FloatArray
    scale: FloatArray

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @classmethod
    def empty(cls) -> SizedEntries:
        i64 = np.empty(0, dtype=np.int64)
        f64 = np.empty(0, dtype=np.float64)
        return cls(i64, i64, f64, f64, f64, f64, f64, f64, f64, f64)

    def select(self, mask: npt.NDArray[np.bool_]) -> SizedEntries:
        return SizedEntries(
            *(getattr(self, name)[mask] for name in SizedEntries.__dataclass_fields__)
        )


@dataclass(frozen=True, slots=True)
class RiskReport:
    """What the risk layer did in one backtest (one symbol, or a shared account)."""

    symbols: tuple[str, ...]
    rules: bool  # protections and limits were on
    events: RiskEvents
    entries: SizedEntries

    def blocked(self) -> dict[str, int]:
        """Entries skipped, per reason (``cooldown``, ``max_open_positions``, ``no_size``...)."""
        kinds = self.events.kind
        skipped = self.events.select(kinds != KIND_SHRUNK)
        return dict(sorted(Counter(skipped.reasons()).items()))

    def shrunk(self) -> dict[str, int]:
        """Entries cut to the room a limit left, per limit."""
        cut = self.events.select(self.events.kind == KIND_SHRUNK)
        return dict(sorted(Counter(cut.reasons()).items()))

    def for_symbol(self, index: int) -> RiskReport:
        """The part of a shared account's report that concerns symbol ``index``."""
        return RiskReport(
            (self.symbols[index],),
            self.rules,
            _reindexed(self.events.select(self.events.symbol == index)),
            _reindexed(self.entries.select(self.entries.symbol == index)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts per reason, and every refused or shrunk entry."""
        reasons = self.events.reasons()
        return {
            "rules": self.rules,
            "blocked": self.blocked(),
            "shrunk": self.shrunk(),
            "entries_sized": len(self.entries),
            "events": [
                {
                    "ts": int(self.events.ts_ms[i]),
                    "symbol": self.symbols[int(self.events.symbol[i])],
                    "kind": KIND_NAMES.get(int(self.events.kind[i]), "unknown"),
                    "reason": reasons[i],
                }
                for i in range(len(self.events))
            ],
        }


def _reindexed(rows: Any) -> Any:
    # A one-symbol view numbers its only symbol 0.
    return type(rows)(
        *(
            np.zeros_like(values) if name == "symbol" else values
            for name, values in ((n, getattr(rows, n)) for n in type(rows).__dataclass_fields__)
        )
    )


def reason_name(kind: int, code: int) -> str:
    """The name of a risk event's reason: the protection, the limit or the sizing outcome."""
    if kind == KIND_PROTECTION:
        return block_name(code)
    if kind in (KIND_LIMIT, KIND_SHRUNK):
        return limit_reason_name(code)
    if kind == KIND_SIZING:
        return SIZING_NAMES.get(code, f"sizing_{code}")
    return f"unknown_{kind}_{code}"
