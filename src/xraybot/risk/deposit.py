"""Deposit calculator: the deposit a configuration needs, and what a deposit allows.

A position is worth opening only at or above its market's smallest order (``min_amount``,
``min_cost``, one amount tick; ``sizing.minimum_order``). The account keeps the margin
reserve of ``risk.limits``: ``open notional / leverage * margin_multiplier <= equity``, and
pays each entry fee out of its cash. So ``max_open_positions`` concurrent positions need

- with no stake mode (the smallest orders): the sum, over the markets with the largest
  minimums, of ``min_notional * (margin_multiplier / leverage + fee)``;
- with a ``fixed`` stake: the same sum over the stake's notional (a market whose minimum the
  stake cannot reach is reported, with the stake that would);
- with a stake that scales with equity (``fraction``, ``all``, ``risk``, ``vol_target``,
  ``kelly``): the deposit at which the last of the positions (equity net of the earlier
  positions' fees) still reaches the largest minimum; and the positions must fit the reserve
  at all, whatever the deposit.

The worst markets bind: a deposit must work whichever markets signal. Stakes go through
``sizing.stake_notional``, the same rule the backtest and the live engine size with.

Both questions take one ``DepositSettings`` (``risk.deposit_settings``): the prices, the
positions asked for, margin multiplier, leverage, fee and the stake mode with its inputs.
Settings that can never work raise InvalidInputError naming the setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market
from xraybot.risk.amounts import round_up, shown, to_decimal
from xraybot.risk.deposit_markets import (
    SMALLEST,
    DepositSetup,
    MarketRequirement,
    MarketRow,
    decimal_text,
    prepare,
)
from xraybot.risk.deposit_settings import DepositSettings
from xraybot.risk.sizing import SIZE_FIXED

__all__ = [
    "DepositAllowance",
    "DepositReport",
    "DepositSettings",
    "MarketRequirement",
    "check_deposit",
    "minimum_deposit",
    "what_deposit_allows",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DepositReport:
    """The minimum deposit for ``positions`` concurrent positions, and why.

    ``ok`` is False when some market can never be traded with this stake, or when the
    positions cannot fit the margin reserve whatever the deposit (``reasons`` says what to
    change). ``binding`` names the markets that set the minimum.
    """

    quote: str
    stake_mode: str
    positions: int
    margin_multiplier: float
    minimum_deposit: Decimal
    ok: bool
    binding: tuple[str, ...]
    unreachable: tuple[str, ...]
    markets: tuple[MarketRequirement, ...]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "quote": self.quote,
            "stake_mode": self.stake_mode,
            "positions": self.positions,
            "margin_multiplier": self.margin_multiplier,
            "minimum_deposit": decimal_text(self.minimum_deposit),
            "ok": self.ok,
            "binding": list(self.binding),
            "unreachable": list(self.unreachable),
            "markets": [row.to_dict() for row in self.markets],
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DepositAllowance:
    """What ``deposit`` allows: concurrent positions, tradable and too-small markets.

    ``positions`` holds whichever tradable markets signal; ``positions_best_case`` on the
    cheapest ones. Both are capped by ``max_open_positions``.
    """

    quote: str
    stake_mode: str
    deposit: Decimal
    max_open_positions: int
    positions: int
    positions_best_case: int
    tradable: tuple[str, ...]
    too_small: tuple[str, ...]
    minimum_deposit: Decimal
    markets: tuple[MarketRequirement, ...]
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.positions >= 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "quote": self.quote,
            "stake_mode": self.stake_mode,
            "deposit": decimal_text(self.deposit),
            "max_open_positions": self.max_open_positions,
            "positions": self.positions,
            "positions_best_case": self.positions_best_case,
            "ok": self.ok,
            "tradable": list(self.tradable),
            "too_small": list(self.too_small),
            "minimum_deposit": decimal_text(self.minimum_deposit),
            "markets": [row.to_dict() for row in self.markets],
            "reasons": list(self.reasons),
        }


# -- the two questions ------------------------------------------------------------------------


def minimum_deposit(markets: Sequence[Market], settings: DepositSettings) -> DepositReport:
    """Return the smallest deposit that holds ``settings.max_open_positions`` positions at once."""
    return _report(prepare(markets, settings))


def _reachable(setup: DepositSetup) -> list[MarketRow]:
    return [row for row in setup.rows if row.requirement.deposit_needed is not None]


def _tie_up(setup: DepositSetup, row: MarketRow) -> float:
    """What one position ties up: quote for fixed/minimum, a share of equity otherwise."""
    if setup.code == SMALLEST:
        return row.notional * row.reserve
    return row.stake * row.reserve


def _fitting(shares: list[float], limit: float) -> int:
    """How many of ``shares``, taken in order, fit under ``limit``."""
    total = 0.0
    for count, share in enumerate(shares):
        total += share
        if total > limit:
            return count
    return len(shares)


def _report(setup: DepositSetup) -> DepositReport:
    quote = setup.quote
    reachable = _reachable(setup)
    unreachable = tuple(
        row.requirement.symbol for row in setup.rows if row.requirement.deposit_needed is None
    )
    slots = min(setup.slots, len(reachable))
    reasons = [
        f"{slots} position(s) at once ({setup.slots} asked, {len(setup.rows)} market(s)); "
        f"stake: {setup.mode}; margin multiplier {setup.multiplier:g}"
    ]
    for row in setup.rows:
        req = row.requirement
        reasons.append(
            f"{req.symbol}: smallest order {req.min_order_amount} = {req.min_order_notional} "
            f"{quote} at {req.price}; margin {shown(req.margin)} x {setup.multiplier:g} + fee "
            f"{shown(req.entry_fee)} = {shown(req.reserve)} {quote}"
        )
    for row in setup.rows:
        if row.requirement.stake_needed is not None:
            reasons.append(
                f"{row.requirement.symbol}: the fixed stake reaches only {row.stake:.8g} "
                f"{quote} of notional, below its smallest order; a stake of at least "
                f"{row.requirement.stake_needed} {quote} would trade it"
            )
        elif row.requirement.deposit_needed is None:
            reasons.append(f"{row.requirement.symbol}: the stake asks for no position")
    ok = not unreachable and slots >= 1
    minimum = Decimal(0)
    binding: tuple[str, ...] = ()
    ties = sorted(reachable, key=lambda row: _tie_up(setup, row), reverse=True)
    if setup.code in (SMALLEST, SIZE_FIXED):
        top = ties[:slots]
        minimum = round_up(sum(_tie_up(setup, row) for row in top))
        binding = tuple(row.requirement.symbol for row in top)
        reasons.append(
            f"the {slots} market(s) that tie up the most ({', '.join(binding)}) need "
            f"{minimum} {quote} together"
        )
    elif reachable:
        worst = max(reachable, key=lambda row: row.requirement.deposit_needed or Decimal(0))
        minimum = worst.requirement.deposit_needed or Decimal(0)
        binding = (worst.requirement.symbol,)
        reasons.append(
            f"{worst.requirement.symbol} binds: its smallest order "
            f"{worst.requirement.min_order_notional} {quote} needs a deposit of {minimum} "
            f"{quote} for the stake to reach it in the last of {slots} slot(s)"
        )
        fit = _fitting([_tie_up(setup, row) for row in ties[:slots]], 1.0)
        if fit < slots:
            ok = False
            reasons.append(
                f"the stake ties up too much for {slots} positions under the margin "
                f"multiplier {setup.multiplier:g}: only {fit} fit whatever the deposit; lower "
                f"the stake, max_open_positions to {fit}, or the margin multiplier"
            )
    return DepositReport(
        quote=quote,
        stake_mode=setup.mode,
        positions=slots,
        margin_multiplier=setup.multiplier,
        minimum_deposit=minimum,
        ok=ok,
        binding=binding,
        unreachable=unreachable,
        markets=tuple(row.requirement for row in setup.rows),
        reasons=tuple(reasons),
    )


def what_deposit_allows(
    markets: Sequence[Market], deposit: Decimal | float, settings: DepositSettings
) -> DepositAllowance:
    """Return how many positions ``deposit`` holds at once and which markets it can trade."""
    amount = to_decimal("deposit", deposit)
    setup = prepare(markets, settings)
    max_open_positions = settings.max_open_positions
    report = _report(setup)
    cash = float(amount)
    quote = setup.quote

    def holds(row: MarketRow, slot: int) -> bool:
        """Whether ``row``'s position in slot ``slot`` (1-based) reaches its minimum."""
        if setup.code == SMALLEST:
            return True
        if setup.code == SIZE_FIXED:
            return row.stake >= row.notional
        return row.stake * cash * setup.drag ** (slot - 1) >= row.notional

    candidates = [row for row in _reachable(setup) if holds(row, 1)]
    tradable = [row for row in candidates if _tie_up(setup, row) <= _limit(setup, cash)]
    limit = _limit(setup, cash)
    most_first = sorted((_tie_up(setup, row) for row in tradable), reverse=True)
    worst = min(_fitting(most_first, limit), max_open_positions)
    while worst > 1 and not all(holds(row, worst) for row in tradable):
        worst -= 1
    best = min(_fitting(most_first[::-1], limit), max_open_positions)
    while best > 1 and sum(holds(row, best) for row in tradable) < best:
        best -= 1
    too_small = [row for row in setup.rows if row not in tradable]
    reasons = [
        f"{len(tradable)} of {len(setup.rows)} market(s) can take a position with {amount} {quote}",
        f"{worst} position(s) at once whichever markets signal, up to {best} on the "
        f"cheapest (max_open_positions {max_open_positions})",
    ]
    for row in too_small:
        req = row.requirement
        need = (
            f"a deposit of at least {req.deposit_needed} {quote}"
            if req.deposit_needed is not None
            else f"a fixed stake of at least {req.stake_needed} {quote}"
            if req.stake_needed is not None
            else "a different stake"
        )
        reasons.append(
            f"{req.symbol} is too small for {amount} {quote}: its smallest order is "
            f"{req.min_order_notional} {quote}; it needs {need}"
        )
    if worst < report.positions:
        reasons.append(
            f"{report.positions} position(s) at once need {report.minimum_deposit} {quote}"
        )
    return DepositAllowance(
        quote=quote,
        stake_mode=setup.mode,
        deposit=amount,
        max_open_positions=max_open_positions,
        positions=worst if tradable else 0,
        positions_best_case=best if tradable else 0,
        tradable=tuple(row.requirement.symbol for row in tradable),
        too_small=tuple(row.requirement.symbol for row in too_small),
        minimum_deposit=report.minimum_deposit,
        markets=report.markets,
        reasons=tuple(reasons),
    )


def _limit(setup: DepositSetup, cash: float) -> float:
    """What positions may tie up in all: the deposit, or all of equity (shares)."""
    return cash if setup.code in (SMALLEST, SIZE_FIXED) else 1.0


def check_deposit(
    markets: Sequence[Market], deposit: Decimal | float, settings: DepositSettings
) -> None:
    """Refuse a deposit that can open no position, naming the deposit that would.

    For loading a configuration.
    """
    allowance = what_deposit_allows(markets, deposit, settings)
    if allowance.ok:
        return
    needs = [row.deposit_needed for row in allowance.markets if row.deposit_needed is not None]
    smallest = f"{min(needs)} {allowance.quote}" if needs else "no deposit (change the stake)"
    raise InvalidInputError(
        f"deposit {allowance.deposit} {allowance.quote} can open no position: the cheapest "
        f"market needs {smallest}, and {allowance.minimum_deposit} {allowance.quote} holds "
        f"the configured positions at once; raise the deposit or change the stake."
    )
