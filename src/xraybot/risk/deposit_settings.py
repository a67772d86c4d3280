"""The deposit calculator's settings (``risk.deposit``), one validated record.

Both questions, the minimum deposit and what a deposit allows, read the same settings; the
record checks each one once, on its own, and names the field that is wrong. What depends on
a market (a price for each, the leverage against its maximum, a stake's notional reaching
its smallest order) is checked against the markets by ``risk.deposit_markets.prepare``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from xraybot.model.errors import InvalidInputError
from xraybot.risk.amounts import to_decimal
from xraybot.risk.sizing import (
    MODE_NAMES,
    SIZE_FIXED,
    SIZE_FRACTION,
    SIZE_KELLY,
    SIZE_RISK,
    SIZE_VOL_TARGET,
    mode_code,
)

_OWNER = "DepositSettings"

# What each scaling mode reads besides the stake amount (the rule gives NaN without them).
_NEEDS: dict[int, tuple[str, ...]] = {
    SIZE_RISK: ("stop_distance",),
    SIZE_VOL_TARGET: ("volatility", "target_volatility"),
    SIZE_KELLY: ("win_rate", "payoff"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DepositSettings:
    """What the deposit calculator is asked about (see ``risk.deposit``).

    ``prices`` maps each symbol to its current price (minimum amounts are in base units or
    contracts); ``leverage`` applies to every market; ``fee_rate`` None takes each market's
    taker fee. ``stake_mode`` None sizes every position at its market's smallest order;
    otherwise it is a ``risk.sizing`` mode (name or code) with ``stake_amount`` (``fixed``:
    quote committed per position; ``fraction``: share of equity; ``risk``: share of equity
    lost at a stop ``stop_distance`` away, a fraction of the price), ``volatility`` /
    ``target_volatility`` (``vol_target``, per candle) or ``win_rate`` / ``payoff`` /
    ``kelly_cap`` (``kelly``). A bad field raises ``InvalidInputError`` naming it.
    """

    prices: Mapping[str, Decimal | float]
    max_open_positions: int
    margin_multiplier: float = 1.0
    leverage: int = 1
    fee_rate: Decimal | float | None = None
    stake_mode: str | int | None = None
    stake_amount: float | None = None
    stop_distance: float | None = None
    volatility: float | None = None
    target_volatility: float | None = None
    win_rate: float | None = None
    payoff: float | None = None
    kelly_cap: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.prices, Mapping):
            raise InvalidInputError(
                f"{_OWNER}.prices must map each symbol to its price; "
                f"found {type(self.prices).__name__}."
            )
        for symbol, price in self.prices.items():
            if not to_decimal(f"{_OWNER}.prices[{symbol!r}]", price) > 0:
                raise InvalidInputError(f"{_OWNER}.prices[{symbol!r}] must be > 0; found {price}.")
        # A copy the caller cannot change behind the record's back.
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))
        count = self.max_open_positions
        if isinstance(count, bool) or not (isinstance(count, int) and count >= 1):
            raise InvalidInputError(
                f"{_OWNER}.max_open_positions must be a whole number >= 1; found {count!r}."
            )
        if to_decimal(f"{_OWNER}.margin_multiplier", self.margin_multiplier) < 1:
            raise InvalidInputError(
                f"{_OWNER}.margin_multiplier must be >= 1 (the margin kept per unit of margin "
                f"needed); found {self.margin_multiplier!r}."
            )
        lev: object = self.leverage  # typed int, but a whole float works too
        if isinstance(lev, float) and lev.is_integer():
            lev = int(lev)
        if isinstance(lev, bool) or not isinstance(lev, int) or lev < 1:
            raise InvalidInputError(
                f"{_OWNER}.leverage must be a whole number >= 1; found {lev!r}."
            )
        if self.fee_rate is not None:
            to_decimal(f"{_OWNER}.fee_rate", self.fee_rate)
        for name in (
            "stake_amount", "stop_distance", "volatility", "target_volatility", "win_rate",
            "payoff", "kelly_cap",
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                to_decimal(f"{_OWNER}.{name}", value)
        self._check_stake()

    def _check_stake(self) -> None:
        if self.stake_mode is None:
            return
        try:
            code = mode_code(self.stake_mode)
        except InvalidInputError as e:
            raise InvalidInputError(f"{_OWNER}.stake_mode: {e}") from None
        name = MODE_NAMES[code]
        amount = self.stake_amount
        if code in (SIZE_FIXED, SIZE_FRACTION, SIZE_RISK) and not (
            amount is not None and amount > 0
        ):
            raise InvalidInputError(
                f"{_OWNER}.stake_amount must be > 0 for stake mode {name!r}; found {amount!r}."
            )
        for needed in _NEEDS.get(code, ()):
            if getattr(self, needed) is None:
                raise InvalidInputError(
                    f"{_OWNER}.{needed} is needed by stake mode {name!r}; found None."
                )

    @property
    def stake_code(self) -> int | None:
        """The ``risk.sizing`` code of ``stake_mode``, None for the smallest orders."""
        return None if self.stake_mode is None else mode_code(self.stake_mode)

    def stake_args(self) -> tuple[float, float, float, float, float, float, float]:
        """(amount, stop_distance, volatility, target, win_rate, payoff, kelly_cap), NaN = unset."""

        def nan_if_none(value: float | None) -> float:
            return math.nan if value is None else float(value)

        return (
            nan_if_none(self.stake_amount),
            nan_if_none(self.stop_distance),
            nan_if_none(self.volatility),
            nan_if_none(self.target_volatility),
            nan_if_none(self.win_rate),
            nan_if_none(self.payoff),
            float(self.kelly_cap),
        )
