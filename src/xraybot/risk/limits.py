"""Portfolio limits: open positions, exposure per symbol, per cluster and in total, margin.

Exposure limits are multiples of equity: ``max_total_exposure = 2.0`` lets the open notional
reach twice the equity. The margin multiplier ``m`` is a reserve: the account keeps ``m``
times the margin its positions need, ``(total notional) / leverage * m <= equity`` (leverage
1 on spot, where the whole notional is margin). Clusters are the X-ray's correlation clusters
(``xray.clusters``, symbol -> cluster id): a cluster limit stops five coins that move as one
from being five times the same bet. The maximum daily loss is a protection
(``risk.protections``), not a limit: it depends on the day's history, these only on the book.

Below the scalar rules, in the numba-compilable subset like ``risk.exits`` (``risk.kernel``
compiles them unchanged for the backtest loop), and ``check_limits``, the Python API with the
numbers behind each verdict for ``xraybot risk explain`` and the live engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xraybot.model.errors import InvalidInputError

LIMIT_OK = 0
LIMIT_MAX_OPEN = 1
LIMIT_SYMBOL = 2
LIMIT_TOTAL = 3
LIMIT_CLUSTER = 4
LIMIT_MARGIN = 5
LIMIT_BAD_INPUT = 6

_LIMIT_NAMES = {
    LIMIT_OK: "ok",
    LIMIT_MAX_OPEN: "max_open_positions",
    LIMIT_SYMBOL: "max_symbol_exposure",
    LIMIT_TOTAL: "max_total_exposure",
    LIMIT_CLUSTER: "max_cluster_exposure",
    LIMIT_MARGIN: "margin_multiplier",
    LIMIT_BAD_INPUT: "bad_input",
}


def limit_reason_name(code: int) -> str:
    """Return the setting a ``LIMIT_*`` code names (``"ok"`` for ``LIMIT_OK``)."""
    return _LIMIT_NAMES.get(code, f"unknown limit {code}")


# -- scalar rules ------------------------------------------------------------------------
# numba-compilable like ``risk.exits``: floats in, an int code or a float out, NaN switches a
# limit off, no min/max. Each exposure limit caps an amount already ``used`` at ``cap``; its
# room is the largest float ``x`` with ``used + x <= cap`` in float arithmetic, and an entry
# passes when ``new <= room``. Both questions, "may this entry open?" (``limit_block``) and
# "how much may open?" (``limit_room``), are answered by the one walk over the caps in
# ``limit_walk``, so a cap added there binds both; ``risk.kernel`` compiles the walk and binds
# it into both compiled forms. So ``limit_room`` is exactly the largest notional
# ``limit_block`` accepts, and an accepted entry never takes a sum past its cap, rounding
# included.

_CAPS = (LIMIT_SYMBOL, LIMIT_TOTAL, LIMIT_CLUSTER, LIMIT_MARGIN)


def limit_walk(
    open_count: float,
    max_open: float,
    symbol_notional: float,
    total_notional: float,
    new_notional: float,
    equity: float,
    max_symbol_exposure: float,
    max_total_exposure: float,
    cluster_notional: float,
    max_cluster_exposure: float,
    margin_multiplier: float,
    leverage: float,
) -> tuple[int, float]:
    """Return (the first limit that refuses ``new_notional``, the room every limit leaves).

    The arguments are ``limit_block``'s. The code is ``LIMIT_OK`` when ``new_notional`` fits
    the room; the room is 0.0 for none, inf for no cap. ``new_notional`` is not validated
    here (``limit_room`` has none to pass); a bad book gives ``(LIMIT_BAD_INPUT, 0.0)`` and a
    full ``max_open`` ``(LIMIT_MAX_OPEN, 0.0)``.
    """
    if not (float(open_count) >= 0.0 and equity > 0.0 and equity < math.inf):
        return LIMIT_BAD_INPUT, 0.0
    if not (symbol_notional >= 0.0 and symbol_notional < math.inf):
        return LIMIT_BAD_INPUT, 0.0
    if not (total_notional >= 0.0 and total_notional < math.inf):
        return LIMIT_BAD_INPUT, 0.0
    if not (leverage >= 1.0 and leverage < math.inf):
        return LIMIT_BAD_INPUT, 0.0
    if cluster_notional < 0.0 or cluster_notional == math.inf:
        return LIMIT_BAD_INPUT, 0.0  # NaN passes: no cluster
    if not (margin_multiplier > 0.0 or math.isnan(margin_multiplier)):
        return LIMIT_BAD_INPUT, 0.0
    if symbol_notional == 0.0 and float(open_count) + 1.0 > float(max_open):
        return LIMIT_MAX_OPEN, 0.0
    code = LIMIT_OK
    best = math.inf
    for k in range(4):
        if k == 0:
            used = symbol_notional
            cap = equity * max_symbol_exposure
        elif k == 1:
            used = total_notional
            cap = equity * max_total_exposure
        elif k == 2:
            used = cluster_notional
            cap = equity * max_cluster_exposure
        else:
            used = total_notional
            cap = equity * leverage / margin_multiplier
        if math.isnan(cap) or math.isnan(used):
            continue
        room = cap - used
        if not room > 0.0:
            room = 0.0
        elif room < math.inf:
            # cap - used is rounded: step down to the last float whose sum with used fits.
            while room > 0.0 and used + room > cap:
                room = float(np.nextafter(room, -math.inf))
        # The first cap the entry overflows names the refusal; the walk goes on for the room.
        if code == LIMIT_OK and (room == 0.0 or new_notional > room):
            code = _CAPS[k]
        if room < best:
            best = room
    return code, best


def limit_block(
    open_count: float,
    max_open: float,
    symbol_notional: float,
    total_notional: float,
    new_notional: float,
    equity: float,
    max_symbol_exposure: float,
    max_total_exposure: float,
    cluster_notional: float,
    max_cluster_exposure: float,
    margin_multiplier: float,
    leverage: float = 1.0,
) -> int:
    """Return ``LIMIT_OK`` when adding ``new_notional`` keeps every limit, else the first broken.

    Notionals are absolute quote values; ``cluster_notional`` is the open notional of the
    symbol's cluster (its own when it has none), NaN to skip the cluster limit. A NaN limit
    is off. The new position counts against ``max_open`` only when the symbol holds nothing
    yet. ``leverage`` (>= 1) is the one the margin reserve is counted at. ``LIMIT_BAD_INPUT``
    when ``new_notional`` is not > 0, equity not finite and > 0, a notional negative or NaN,
    the leverage below 1 or the multiplier not > 0.
    """
    if not (new_notional > 0.0 and new_notional < math.inf):
        return LIMIT_BAD_INPUT
    code, _room = limit_walk(
        open_count, max_open, symbol_notional, total_notional, new_notional, equity,
        max_symbol_exposure, max_total_exposure, cluster_notional, max_cluster_exposure,
        margin_multiplier, leverage,
    )  # fmt: skip
    return code


def limit_room(
    open_count: float,
    max_open: float,
    symbol_notional: float,
    total_notional: float,
    equity: float,
    max_symbol_exposure: float,
    max_total_exposure: float,
    cluster_notional: float,
    max_cluster_exposure: float,
    margin_multiplier: float,
    leverage: float = 1.0,
) -> float:
    """Return the largest new notional ``limit_block`` accepts: 0.0 for none, inf for no cap.

    The arguments are ``limit_block``'s without ``new_notional``; sizing shrinks an order to
    this room instead of dropping it.
    """
    _code, room = limit_walk(
        open_count, max_open, symbol_notional, total_notional, 0.0, equity,
        max_symbol_exposure, max_total_exposure, cluster_notional, max_cluster_exposure,
        margin_multiplier, leverage,
    )  # fmt: skip
    return room


# -- Python API --------------------------------------------------------------------------


def _optional(owner: str, name: str, value: float | None, *, lower: float) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and value >= lower):
        raise InvalidInputError(f"{owner}.{name} must be >= {lower:g}; found {value!r}.")


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """The limits of one account; ``None`` switches a limit off.

    Exposures are multiples of equity (0.5 = half the equity in notional); the margin
    multiplier is the reserve kept per unit of margin (1.5 keeps half as much again).
    """

    max_open_positions: int | None = None
    max_symbol_exposure: float | None = None
    max_total_exposure: float | None = None
    max_cluster_exposure: float | None = None
    margin_multiplier: float | None = None

    def __post_init__(self) -> None:
        owner = "LimitSettings"
        if self.max_open_positions is not None and self.max_open_positions < 1:
            raise InvalidInputError(
                f"{owner}.max_open_positions must be >= 1; found {self.max_open_positions}."
            )
        for name in ("max_symbol_exposure", "max_total_exposure", "max_cluster_exposure"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0.0):
                raise InvalidInputError(
                    f"{owner}.{name} must be > 0 (a multiple of equity); found {value!r}."
                )
        _optional(owner, "margin_multiplier", self.margin_multiplier, lower=1.0)

    def vector(self) -> tuple[float, float, float, float, float]:
        """Return (max_open, max_symbol, max_total, max_cluster, margin_multiplier), NaN = off."""

        def nan_if_none(value: float | None) -> float:
            return math.nan if value is None else float(value)

        return (
            nan_if_none(self.max_open_positions),
            nan_if_none(self.max_symbol_exposure),
            nan_if_none(self.max_total_exposure),
            nan_if_none(self.max_cluster_exposure),
            nan_if_none(self.margin_multiplier),
        )


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """What the limits need of an open position: its symbol, notional and leverage."""

    symbol: str
    notional: float  # absolute quote value at the current price
    leverage: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.notional) and self.notional >= 0.0):
            raise InvalidInputError(
                f"OpenPosition({self.symbol!r}).notional must be a finite number >= 0; "
                f"found {self.notional!r}."
            )
        if not (math.isfinite(self.leverage) and self.leverage >= 1.0):
            raise InvalidInputError(
                f"OpenPosition({self.symbol!r}).leverage must be >= 1; found {self.leverage!r}."
            )


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """One limit measured against the entry: what is used, the cap, and the verdict."""

    name: str  # the setting: max_open_positions, max_symbol_exposure, ...
    used: float  # positions or notional before the entry
    after: float  # ... after it
    cap: float  # inf when off
    room: float  # largest new notional this limit alone allows (positions: 0 or inf)
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "used": _finite(self.used),
            "after": _finite(self.after),
            "cap": _finite(self.cap),
            "room": _finite(self.room),
            "passed": self.passed,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """Whether the entry may open, why, and the largest notional that would."""

    allowed: bool
    code: int  # LIMIT_* of the first broken limit (limit_block's verdict)
    reasons: tuple[str, ...]
    room: float  # limit_room: the largest new notional every limit allows (inf: no cap)
    checks: tuple[LimitCheck, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "code": self.code,
            "blocked_by": None if self.allowed else limit_reason_name(self.code),
            "reasons": list(self.reasons),
            "room": _finite(self.room),
            "checks": [c.to_dict() for c in self.checks],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _money(value: float) -> str:
    return "unlimited" if math.isinf(value) else f"{value:,.2f}"


def _verdict(passed: bool, room: float) -> str:
    return "ok" if passed else f"blocked, room {_money(room)}"


def check_limits(
    settings: LimitSettings,
    *,
    symbol: str,
    new_notional: float,
    equity: float,
    positions: Sequence[OpenPosition] = (),
    clusters: Mapping[str, int] | None = None,
    leverage: float = 1.0,
) -> LimitDecision:
    """Check an entry of ``new_notional`` on ``symbol`` against every limit, with the numbers.

    ``positions`` are the open positions (several on one symbol add up); ``clusters`` is the
    X-ray's symbol -> cluster id map (``Clustering.labels``), where a symbol it does not list
    is a cluster of its own. ``leverage`` is the entry's; the margin reserve counts the whole
    book at the lowest leverage among it and the entry, so the reserve is never understated.
    The verdict is ``limit_block``'s and the room ``limit_room``'s; each check is the same
    rule with only its own limit switched on.
    """
    if not (math.isfinite(equity) and equity > 0.0):
        raise InvalidInputError(f"equity must be a finite number > 0; found {equity!r}.")
    if not (math.isfinite(new_notional) and new_notional > 0.0):
        raise InvalidInputError(
            f"the entry's notional must be a finite number > 0; found {new_notional!r}."
        )
    if not (math.isfinite(leverage) and leverage >= 1.0):
        raise InvalidInputError(f"leverage must be >= 1; found {leverage!r}.")
    labels = clusters or {}
    held = sorted({p.symbol for p in positions if p.notional > 0.0})
    symbol_notional = math.fsum(p.notional for p in positions if p.symbol == symbol)
    total_notional = math.fsum(p.notional for p in positions)
    cluster_id = labels.get(symbol)
    if cluster_id is None:
        cluster_notional, cluster_label = symbol_notional, f"{symbol} (no cluster)"
    else:
        cluster_notional = math.fsum(
            p.notional for p in positions if labels.get(p.symbol) == cluster_id
        )
        cluster_label = f"cluster {cluster_id}"
    book_leverage = min([leverage, *(p.leverage for p in positions if p.notional > 0.0)])
    limits = settings.vector()

    def scalar(keep: int | None) -> tuple[int, float]:
        on = [v if keep is None or i == keep else math.nan for i, v in enumerate(limits)]
        before = (float(len(held)), on[0], symbol_notional, total_notional)
        after = (equity, on[1], on[2], cluster_notional, on[3], on[4], book_leverage)
        code = limit_block(*before, new_notional, *after)
        return code, limit_room(*before, *after)

    code, room = scalar(None)
    isolated = [scalar(i) for i in range(len(limits))]
    count = len(held)
    holds = symbol in held
    open_ok = isolated[0][0] == LIMIT_OK
    if settings.max_open_positions is None:
        open_reason = f"open positions: {count} (no maximum)"
    elif holds:
        open_reason = (
            f"open positions: {count} of max_open_positions {settings.max_open_positions}; "
            f"the entry adds to the open {symbol} position"
        )
    else:
        open_reason = (
            f"open positions: {count} + 1 = {count + 1} vs max_open_positions "
            f"{settings.max_open_positions}: {'ok' if open_ok else 'blocked, all taken'}"
        )
    checks = [
        LimitCheck(
            name="max_open_positions",
            used=float(count),
            after=float(count if holds else count + 1),
            cap=limits[0] if settings.max_open_positions is not None else math.inf,
            room=isolated[0][1],
            passed=open_ok,
            reason=open_reason,
        )
    ]
    exposures = (
        (1, "max_symbol_exposure", f"{symbol} exposure", symbol_notional),
        (2, "max_total_exposure", "total exposure", total_notional),
        (3, "max_cluster_exposure", f"{cluster_label} exposure", cluster_notional),
    )
    for index, name, label, used in exposures:
        multiple = limits[index]
        passed = isolated[index][0] == LIMIT_OK
        after = used + new_notional
        head = f"{label}: {_money(used)} + {_money(new_notional)} = {_money(after)}"
        if math.isnan(multiple):
            reason, cap = f"{head} (no maximum)", math.inf
        else:
            cap = equity * multiple
            reason = (
                f"{head} vs {name} {multiple:g} x equity {_money(equity)} = {_money(cap)}: "
                f"{_verdict(passed, isolated[index][1])}"
            )
        checks.append(LimitCheck(name, used, after, cap, isolated[index][1], passed, reason))
    after_total = total_notional + new_notional
    margin = after_total / book_leverage
    multiplier = limits[4]
    margin_ok = isolated[4][0] == LIMIT_OK
    if math.isnan(multiplier):
        margin_reason = f"margin: {_money(margin)} at {book_leverage:g}x (no reserve set)"
        margin_cap = math.inf
    else:
        margin_cap = equity * book_leverage / multiplier
        margin_reason = (
            f"margin: {_money(after_total)} / {book_leverage:g}x = {_money(margin)}, x "
            f"margin_multiplier {multiplier:g} = {_money(margin * multiplier)} vs equity "
            f"{_money(equity)}: {_verdict(margin_ok, isolated[4][1])}"
        )
    checks.append(
        LimitCheck(
            "margin_multiplier", total_notional, after_total, margin_cap, isolated[4][1],
            margin_ok, margin_reason,
        )
    )  # fmt: skip
    failed = tuple(c.reason for c in checks if not c.passed)
    reasons = failed or tuple(c.reason for c in checks)
    return LimitDecision(
        allowed=code == LIMIT_OK, code=code, reasons=reasons, room=room, checks=tuple(checks)
    )
