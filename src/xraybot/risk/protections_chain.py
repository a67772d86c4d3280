"""The protection chain for one account: the scalar core with symbol names, reasons and times.

``ProtectionChain`` owns a state array and a params vector and calls the plain functions of
``risk.protections`` — the rules the backtest kernel compiles — so a live decision and a
backtest decision come from one rule. Its own job is naming: ``check`` reads the explain block
the core leaves behind and gives every protection's verdict (``blocked``, ``clear`` or ``off``)
with the numbers and the time the pause ends, like the screener's filters do.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from xraybot.matching.rules import EXIT_REASON_CODES
from xraybot.model.errors import InvalidInputError
from xraybot.risk import protections as core
from xraybot.risk.protections_settings import ProtectionSettings

BLOCKED, CLEAR, OFF = "blocked", "clear", "off"
KillScope = Literal["global", "account"]
_KILL_SCOPES = {"global": core.KILL_GLOBAL, "account": core.KILL_ACCOUNT}
_REPORTED = (
    core.BLOCK_KILL_SWITCH,
    core.BLOCK_DRAWDOWN,
    core.BLOCK_DAILY_LOSS,
    core.BLOCK_STOPLOSS_GUARD,
    core.BLOCK_LOW_PROFIT,
    core.BLOCK_COOLDOWN,
)


def fmt_time(ts_ms: float) -> str:
    """Return an epoch-ms time as ``2024-03-01 12:00 UTC`` (seconds only when not zero)."""
    when = datetime.fromtimestamp(ts_ms / 1000.0, tz=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC" if when.second else "%Y-%m-%d %H:%M UTC")


def fmt_duration(ms: float) -> str:
    """Return a duration as ``1d 6h``, ``30m``, ``45s`` or ``500ms``."""
    if ms < 1000:
        return f"{ms:g}ms"
    parts = []
    rest = round(ms / 1000)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"


def _until(until: float, *, forever: str) -> str:
    return forever if until == math.inf else f"until {fmt_time(until)}"


@dataclass(frozen=True, slots=True)
class ProtectionReason:
    """One protection's verdict on one entry, with the numbers behind it."""

    protection: str
    verdict: str  # BLOCKED, CLEAR or OFF
    detail: str
    until_ms: float | None = None  # when a pause ends; inf: until revived or reset

    def to_dict(self) -> dict[str, Any]:
        until = self.until_ms
        return {
            "protection": self.protection,
            "verdict": self.verdict,
            "detail": self.detail,
            "until_ms": None if until is None or until == math.inf else until,
            "until": None if until is None else _until(until, forever="until revived or reset"),
        }


@dataclass(frozen=True, slots=True)
class ProtectionDecision:
    """Whether ``symbol`` may open a position at ``ts_ms``, and every protection's reason."""

    symbol: str
    ts_ms: int
    allowed: bool
    blocked_by: str | None  # the first protection that blocks, in checking order
    until_ms: float | None  # the end of the longest pause that blocks; inf: until revived/reset
    reasons: tuple[ProtectionReason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "ts_ms": self.ts_ms,
            "time": fmt_time(self.ts_ms),
            "allowed": self.allowed,
            "blocked_by": self.blocked_by,
            "until_ms": None if self.until_ms in (None, math.inf) else self.until_ms,
            "until": None
            if self.until_ms is None
            else _until(self.until_ms, forever="until revived or reset"),
            "reasons": [reason.to_dict() for reason in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class ScaleReason:
    """One factor of the size multiplier: its value in (0, 1] and what it measured."""

    factor: str
    value: float
    detail: str


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    """The dynamic-risk multiplier for the next entry (1.0 when off) and each factor's reason."""

    scale: float
    reasons: tuple[ScaleReason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "reasons": [
                {"factor": r.factor, "value": r.value, "detail": r.detail} for r in self.reasons
            ],
        }


class ProtectionChain:
    """One account's protections over ``symbols``, fed with exits and equity marks."""

    def __init__(self, settings: ProtectionSettings, symbols: Sequence[str]) -> None:
        self.settings = settings
        self.symbols = tuple(symbols)
        self._index = {symbol: i for i, symbol in enumerate(self.symbols)}
        if len(self._index) != len(self.symbols):
            repeated = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
            raise InvalidInputError(
                f"ProtectionChain symbols must be unique; found {', '.join(repeated)} twice."
            )
        self.params = settings.params()
        self.state = core.protection_state(len(self.symbols), settings.history())
        core.configure(self.state, self.params)

    def add_symbols(self, symbols: Sequence[str]) -> None:
        """Follow more symbols (a screener picked them); what was recorded is kept.

        A symbol's block sits after the account's and the symbols' before it, so appending
        blocks leaves every recorded exit, equity mark and pause where the core reads it.
        """
        new = [s for s in dict.fromkeys(symbols) if s not in self._index]
        if not new:
            return
        history = int(self.state[core.S_HISTORY])
        fresh = core.protection_state(len(new), history)
        blocks = fresh[core.symbol_base(len(new), history, 0) :]
        self.state = np.concatenate([self.state, blocks])
        self.state[core.S_N_SYMBOLS] = len(self.symbols) + len(new)
        for symbol in new:
            self._index[symbol] = len(self.symbols)
            self.symbols += (symbol,)

    # -- events ----------------------------------------------------------------------------

    def record_exit(
        self, symbol: str, ts_ms: int, pnl: float, reason: int | str, equity_after: float
    ) -> None:
        """Record a closed trade; ``reason`` is an ``EXIT_*`` code or name (``"stop_loss"``)."""
        if isinstance(reason, str):
            if reason not in EXIT_REASON_CODES:
                known = ", ".join(EXIT_REASON_CODES)
                raise InvalidInputError(f"Unknown exit reason {reason!r}; known: {known}.")
            reason = EXIT_REASON_CODES[reason]
        core.record_exit(self.state, self._symbol(symbol), ts_ms, pnl, reason, equity_after)

    def record_equity(self, ts_ms: int, equity: float) -> None:
        """Record the account's marked-to-market equity at ``ts_ms``."""
        core.record_equity(self.state, ts_ms, equity)

    def kill(self, scope: KillScope = "account", ts_ms: int | None = None) -> None:
        """Set the kill switch: no new entry on any symbol until ``revive(scope)``."""
        when = time.time() * 1000.0 if ts_ms is None else ts_ms
        core.set_kill_switch(self.state, self._scope(scope), True, when)

    def revive(self, scope: KillScope = "account") -> None:
        """Clear the ``scope`` kill switch (the other one, if set, still blocks)."""
        core.set_kill_switch(self.state, self._scope(scope), False, math.nan)

    def reset_drawdown(self) -> None:
        """End a drawdown pause and measure drawdowns from the last equity mark on."""
        core.reset_drawdown(self.state)

    # -- decisions -------------------------------------------------------------------------

    def check(self, symbol: str, ts_ms: int) -> ProtectionDecision:
        """Return whether ``symbol`` may open a position at ``ts_ms``, with every reason."""
        if not math.isfinite(ts_ms):
            raise InvalidInputError(f"check needs a finite time in epoch ms; found {ts_ms!r}.")
        code = core.entry_block(self.state, self._symbol(symbol), ts_ms, self.params)
        reasons = tuple(self._reason(c, symbol, float(ts_ms)) for c in _REPORTED)
        blocking = [r.until_ms for r in reasons if r.verdict == BLOCKED and r.until_ms is not None]
        return ProtectionDecision(
            symbol=symbol,
            ts_ms=ts_ms,
            allowed=code == core.BLOCK_NONE,
            blocked_by=None if code == core.BLOCK_NONE else core.block_name(code),
            until_ms=max(blocking) if blocking else None,
            reasons=reasons,
        )

    def scale(self, volatility_ratio: float = math.nan) -> ScaleDecision:
        """Return the size multiplier now; ``volatility_ratio`` is current / long-run vol."""
        value = float(core.risk_scale(self.state, self.params, volatility_ratio))
        s, p = self.state, self.params
        floor = p[core.P_SCALE_FLOOR]
        if not 0.0 < floor <= 1.0:
            return ScaleDecision(value, (ScaleReason("dynamic_risk", 1.0, OFF),))
        win, trades = s[core.E_WIN_RATE], p[core.P_SCALE_WIN_TRADES]
        if math.isnan(trades):
            win_detail = OFF
        elif math.isnan(win):
            have = int(s[core.S_TRADES_FILLED])
            win_detail = f"{have} of the {int(trades)} trades measured so far: full size"
        else:
            win_detail = f"win rate {_pct(win)} over the last {int(trades)} trades" + _ramp(
                p[core.P_SCALE_WIN_FULL], p[core.P_SCALE_WIN_FLOOR], _pct, ">=", "<="
            )
        drawdown = s[core.E_DRAWDOWN]
        if math.isnan(p[core.P_SCALE_DD_FULL]):
            dd_detail = OFF
        elif math.isnan(drawdown):
            dd_detail = "no equity recorded yet: full size"
        else:
            dd_detail = f"drawdown {_pct(drawdown)} below the peak" + _ramp(
                p[core.P_SCALE_DD_FULL], p[core.P_SCALE_DD_FLOOR], _pct, "<=", ">="
            )
        if math.isnan(p[core.P_SCALE_VOL_FULL]):
            vol_detail = OFF
        elif math.isnan(volatility_ratio):
            vol_detail = "volatility ratio unknown: full size"
        else:
            vol_detail = f"volatility {volatility_ratio:.3g}x its average" + _ramp(
                p[core.P_SCALE_VOL_FULL], p[core.P_SCALE_VOL_FLOOR], "{:.3g}x".format, "<=", ">="
            )
        factors: tuple[ScaleReason, ...] = (
            ScaleReason("win_rate", float(s[core.E_WIN_FACTOR]), win_detail),
            ScaleReason("drawdown", float(s[core.E_DRAWDOWN_FACTOR]), dd_detail),
            ScaleReason("volatility", float(s[core.E_VOL_FACTOR]), vol_detail),
        )
        product = math.prod(f.value for f in factors)
        if product < floor:
            floor_detail = f"product {product:.3g} raised to the floor {floor:g}"
            factors += (ScaleReason("floor", float(floor), floor_detail),)
        return ScaleDecision(value, factors)

    # -- helpers ---------------------------------------------------------------------------

    def _symbol(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            known = ", ".join(self.symbols) or "none"
            raise InvalidInputError(
                f"{symbol!r} is not a symbol of this protection chain; known: {known}."
            ) from None

    def _base(self, symbol: str) -> int:
        history = int(self.state[core.S_HISTORY])
        return core.symbol_base(len(self.symbols), history, self._symbol(symbol))

    @staticmethod
    def _scope(scope: str) -> int:
        if scope not in _KILL_SCOPES:
            raise InvalidInputError(
                f'Kill switch scope must be "global" or "account"; found {scope!r}.'
            )
        return _KILL_SCOPES[scope]

    def _reason(self, code: int, symbol: str, ts: float) -> ProtectionReason:
        s, p = self.state, self.params
        name = core.block_name(code)
        until = float(s[core.E_UNTIL + code])
        value = float(s[core.E_VALUE + code])
        blocked = until > ts
        if code == core.BLOCK_KILL_SWITCH:
            if not blocked:
                return ProtectionReason(name, CLEAR, "not set")
            scope = "global" if s[core.S_KILL_GLOBAL] else "account"
            detail = f"{scope} kill switch set at {fmt_time(value)}: no new entry until revived"
            return ProtectionReason(name, BLOCKED, detail, math.inf)
        if code == core.BLOCK_DRAWDOWN:
            limit = p[core.P_DD_MAX]
            if math.isnan(limit):
                return ProtectionReason(name, OFF, OFF)
            pause = p[core.P_DD_PAUSE_MS]
            rule = "until reset" if not pause < math.inf else f"for {fmt_duration(pause)}"
            if blocked:
                trip = fmt_time(s[core.S_DD_TRIP_TS])
                detail = (
                    f"drawdown {_pct(value)} from the peak at {trip} reached the {_pct(limit)} "
                    f"limit; paused {_until(until, forever='until reset')}"
                )
                return ProtectionReason(name, BLOCKED, detail, until)
            now = "no equity recorded yet" if math.isnan(value) else f"drawdown {_pct(value)}"
            detail = f"{now}; a {_pct(limit)} drawdown pauses entries {rule}"
            return ProtectionReason(name, CLEAR, detail)
        if code == core.BLOCK_DAILY_LOSS:
            limit = p[core.P_DAILY_LOSS_MAX]
            if math.isnan(limit):
                return ProtectionReason(name, OFF, OFF)
            if math.isnan(value):
                return ProtectionReason(name, CLEAR, "no equity recorded yet")
            if ts >= s[core.S_DAY_START] + core.DAY_MS:
                return ProtectionReason(name, CLEAR, "no equity mark yet this UTC day")
            opening = s[core.S_DAY_EQUITY]
            loss = f"the day's loss reached {_pct(value)} of the {opening:,.2f} it opened with"
            if blocked:
                detail = f"{loss} (limit {_pct(limit)}); paused until {fmt_time(until)}"
                return ProtectionReason(name, BLOCKED, detail, until)
            return ProtectionReason(name, CLEAR, f"{loss}; the limit is {_pct(limit)}")
        if code == core.BLOCK_STOPLOSS_GUARD:
            count = p[core.P_SL_GUARD_COUNT]
            if math.isnan(count):
                return ProtectionReason(name, OFF, OFF)
            account = p[core.P_SL_GUARD_SCOPE] == core.SCOPE_ACCOUNT
            where = "across the account" if account else f"on {symbol}"
            window = fmt_duration(p[core.P_SL_GUARD_WINDOW_MS])
            rule = f"{int(count)} stop-losses within {window} {where}"
            if blocked:
                detail = f"{rule}, the last at {fmt_time(value)}; paused until {fmt_time(until)}"
                return ProtectionReason(name, BLOCKED, detail, until)
            pause = fmt_duration(p[core.P_SL_GUARD_PAUSE_MS])
            return ProtectionReason(name, CLEAR, f"no pause; {rule} pause for {pause}")
        if code == core.BLOCK_LOW_PROFIT:
            trades = p[core.P_LOW_PROFIT_TRADES]
            if math.isnan(trades):
                return ProtectionReason(name, OFF, OFF)
            least = _pct(p[core.P_LOW_PROFIT_MIN])
            if blocked:
                trip = fmt_time(s[self._base(symbol) + core.Y_LOW_TRIP_TS])
                detail = (
                    f"the last {int(trades)} trades on {symbol} returned {_pct(value)} together "
                    f"(under {least}) by {trip}; locked until {fmt_time(until)}"
                )
                return ProtectionReason(name, BLOCKED, detail, until)
            pause = fmt_duration(p[core.P_LOW_PROFIT_PAUSE_MS])
            detail = f"no lock; {int(trades)} trades returning under {least} lock for {pause}"
            return ProtectionReason(name, CLEAR, detail)
        cooldown = p[core.P_COOLDOWN_MS]
        if math.isnan(cooldown):
            return ProtectionReason(name, OFF, OFF)
        if blocked:
            detail = f"stop-loss at {fmt_time(value)}; cooling down until {fmt_time(until)}"
            return ProtectionReason(name, BLOCKED, detail, until)
        last = "no stop-loss yet" if value == -math.inf else f"last stop-loss {fmt_time(value)}"
        detail = f"{last}; a stop-loss pauses the symbol for {fmt_duration(cooldown)}"
        return ProtectionReason(name, CLEAR, detail)


def _ramp(full: float, floor: float, fmt: Any, better: str, worse: str) -> str:
    return f" (full size {better} {fmt(full)}, the floor {worse} {fmt(floor)})"
