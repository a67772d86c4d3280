"""``xraybot risk explain``: the risk layer's decision for the next entry, with its numbers.

For one symbol it reads the market (ticks, minimums, fees, maximum leverage) and recent
closed candles, measures volatility (NATR) and the ATR the exits use, and asks each rule in
turn what the live engine would: the protections (a fresh state, or a user's chain fed from
their journal: ``services.risk_explain_user``),
the leverage (``risk.leverage``), the size (``risk.sizing``, scaled by dynamic risk), the
limits (``risk.limits``, on the book given, empty by default) and the deposit the
configuration needs on this market (``risk.deposit``). Before any of it the profile is
checked against the market and the equity (``risk.profile.validate_against``): a
configuration that can never trade is refused with what would work.

``explain_entry`` is the pure part (a market and candles in, the explanation out);
``explain_live`` fetches both through an exchange gateway, preferring stored candles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from xraybot.data.store import CandleStore
from xraybot.exchange.port import ExchangeGateway
from xraybot.indicators.talib_ import atr, natr
from xraybot.matching.rules import LONG
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, UnknownSymbolError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.deposit import DepositReport, DepositSettings, minimum_deposit
from xraybot.risk.exits import stop_level, target_level
from xraybot.risk.leverage import LeverageDecision, choose_leverage, direction_of
from xraybot.risk.limits import LimitDecision, OpenPosition, check_limits
from xraybot.risk.profile import RiskProfile, validate_against
from xraybot.risk.protections_chain import ProtectionChain, ProtectionDecision, ScaleDecision
from xraybot.risk.sizing import SizingDecision, size_position

RATIO_WINDOW = 100  # candles whose mean NATR is the "long average" of the volatility ratio


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryFacts:
    """What the market says about the next entry: price, volatility, stop and target."""

    price: float  # the last closed candle's close
    ts_ms: int  # its open time
    candles: int
    source: str  # "store" or "exchange"
    volatility: float | None  # NATR / 100: a fraction of the price per candle
    volatility_period: int
    volatility_ratio: float | None  # volatility / its mean over the last RATIO_WINDOW candles
    atr: float | None  # ATR over exits.atr_period, in price, when an exit uses ATR
    stop_price: float | None
    target_price: float | None

    @property
    def stop_distance(self) -> float | None:
        if self.stop_price is None:
            return None
        return abs(self.price - self.stop_price) / self.price

    def to_dict(self) -> dict[str, Any]:
        return {
            "price": self.price,
            "ts_ms": self.ts_ms,
            "candles": self.candles,
            "source": self.source,
            "volatility": self.volatility,
            "volatility_period": self.volatility_period,
            "volatility_ratio": self.volatility_ratio,
            "atr": self.atr,
            "stop_price": self.stop_price,
            "stop_distance": self.stop_distance,
            "target_price": self.target_price,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskExplanation:
    """Every rule's verdict on the next entry, and the order it would place."""

    exchange: str
    profile: RiskProfile
    market: Market
    timeframe: str
    direction: str
    equity: float
    entry: EntryFacts
    protections: ProtectionDecision
    scale: ScaleDecision
    leverage: LeverageDecision | None  # None without a stop: the rule needs one
    leverage_value: int
    sizing: SizingDecision
    limits: LimitDecision | None  # None when sizing opened nothing to check
    deposit: DepositReport | None
    allowed: bool
    amount: Decimal
    notional: Decimal
    verdict: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    user: str | None = None  # the registered user whose profile and book were used

    def to_dict(self) -> dict[str, Any]:
        m = self.market
        return {
            "exchange": self.exchange,
            "user": self.user,
            "symbol": m.symbol,
            "timeframe": self.timeframe,
            "direction": self.direction,
            "equity": self.equity,
            "profile": self.profile.model_dump(mode="json"),
            "market": {
                "symbol": m.symbol,
                "kind": m.kind.value,
                "quote": m.quote,
                "price_tick": str(m.price_tick),
                "amount_tick": str(m.amount_tick),
                "min_amount": str(m.min_amount),
                "min_cost": str(m.min_cost),
                "contract_size": str(m.contract_size),
                "taker_fee_rate": str(m.taker_fee_rate),
                "maker_fee_rate": str(m.maker_fee_rate),
                "max_leverage": m.max_leverage,
            },
            "entry": self.entry.to_dict(),
            "protections": self.protections.to_dict(),
            "dynamic_risk": self.scale.to_dict(),
            "leverage": {
                "value": self.leverage_value,
                "decision": None if self.leverage is None else self.leverage.to_dict(),
            },
            "sizing": self.sizing.to_dict(),
            "limits": None if self.limits is None else self.limits.to_dict(),
            "deposit": None if self.deposit is None else self.deposit.to_dict(),
            "allowed": self.allowed,
            "amount": format(self.amount, "f"),
            "notional": format(self.notional, "f"),
            "verdict": list(self.verdict),
            "notes": list(self.notes),
        }


# -- measuring ---------------------------------------------------------------------------


def candles_needed(profile: RiskProfile) -> int:
    """Return the fewest closed candles the volatility and ATR exits need."""
    period = profile.sizing.volatility_period
    if profile.exit_rules().uses_atr:
        period = max(period, profile.exits.atr_period)
    return period + 1


def _last(values: np.ndarray) -> float | None:
    value = float(values[-1]) if len(values) else math.nan
    return value if math.isfinite(value) else None


def measure_entry(
    profile: RiskProfile, candles: Candles, direction: int, *, source: str
) -> EntryFacts:
    """Return price, volatility, ATR, stop and target from closed ``candles``."""
    need = candles_needed(profile)
    if len(candles) < need:
        raise InvalidInputError(
            f"{candles.symbol}: {len(candles)} closed {candles.timeframe} candles found; the "
            f"volatility and ATR exits need at least {need}. Download more "
            "(xraybot data download) or use a shorter timeframe."
        )
    price = float(candles.close[-1])
    period = profile.sizing.volatility_period
    natr_pct = natr(candles.high, candles.low, candles.close, period)
    volatility = _last(natr_pct / 100.0)
    window = natr_pct[-RATIO_WINDOW:]
    window = window[np.isfinite(window)]
    ratio = None
    if volatility is not None and len(window) and float(window.mean()) > 0:
        ratio = volatility * 100.0 / float(window.mean())
    rules = profile.exit_rules()
    atr_value = None
    if rules.uses_atr:
        atr_value = _last(atr(candles.high, candles.low, candles.close, rules.atr_period))
    atr_in = math.nan if atr_value is None else atr_value

    def level(value: float | None) -> float:
        return math.nan if value is None else value

    stop = stop_level(
        direction, price, level(rules.stop_loss_pct), atr_in, level(rules.stop_loss_atr)
    )
    target = target_level(
        direction, price, level(rules.take_profit_pct), atr_in, level(rules.take_profit_atr)
    )
    return EntryFacts(
        price=price,
        ts_ms=int(candles.ts_ms[-1]),
        candles=len(candles),
        source=source,
        volatility=volatility,
        volatility_period=period,
        volatility_ratio=ratio,
        atr=atr_value,
        stop_price=stop if math.isfinite(stop) and stop > 0 else None,
        target_price=target if math.isfinite(target) and target > 0 else None,
    )


# -- deciding ----------------------------------------------------------------------------


def explain_entry(
    profile: RiskProfile,
    market: Market,
    candles: Candles,
    *,
    equity: float,
    direction: str = "long",
    now_ms: int,
    exchange: str = "",
    source: str = "exchange",
    positions: Sequence[OpenPosition] = (),
    clusters: Mapping[str, int] | None = None,
    chain: ProtectionChain | None = None,
) -> RiskExplanation:
    """Explain the next ``direction`` entry on ``market`` for an account of ``equity``.

    ``candles`` are closed candles of ``profile.timeframe``, oldest first. ``positions`` are
    the other open positions the limits count; ``chain`` the account's protection chain with
    its history (default: a fresh one). Raises ConfigError when the profile can never trade
    this market with this equity.
    """
    if not (math.isfinite(equity) and equity > 0):
        raise InvalidInputError(f"equity must be a number > 0; found {equity!r}.")
    code = direction_of(direction)
    side = "long" if code == LONG else "short"
    if market.kind is MarketKind.SPOT and code != LONG:
        raise InvalidInputError(
            f"{market.symbol} is a spot market: only long entries; use the swap market "
            f"{market.base}/{market.quote}:{market.quote} to short."
        )
    entry = measure_entry(profile, candles, code, source=source)
    validate_against(
        profile,
        market,
        equity,
        price=entry.price,
        stop_distance=entry.stop_distance,
        volatility=entry.volatility,
    )
    notes: list[str] = []
    if chain is None:
        chain = ProtectionChain(profile.protections, [market.symbol])
        notes.append("protections start from a fresh state: no trades or equity marks recorded yet")
    else:
        chain.add_symbols([market.symbol])
    protections = chain.check(market.symbol, now_ms)
    ratio = math.nan if entry.volatility_ratio is None else entry.volatility_ratio
    scale = chain.scale(ratio)
    leverage, lev = _leverage(profile, market, entry, side, notes)
    sizing = _size(profile, market, entry, equity, lev, scale.scale, notes)
    limits = None
    amount, notional = sizing.amount, sizing.notional
    if sizing.ok:
        limits = check_limits(
            profile.limit_settings(),
            symbol=market.symbol,
            new_notional=float(sizing.notional),
            equity=equity,
            positions=positions,
            clusters=clusters,
            leverage=float(lev),
        )
        if not limits.allowed:
            amount, notional = _shrink(market, sizing, limits, notes)
    deposit = _deposit(profile, market, entry, lev, notes)
    allowed, verdict = _verdict(
        protections, leverage, sizing, limits, amount, notional, market.quote
    )
    return RiskExplanation(
        exchange=exchange or market.exchange,
        profile=profile,
        market=market,
        timeframe=profile.timeframe,
        direction=side,
        equity=equity,
        entry=entry,
        protections=protections,
        scale=scale,
        leverage=leverage,
        leverage_value=lev,
        sizing=sizing,
        limits=limits,
        deposit=deposit,
        allowed=allowed,
        amount=amount if allowed else Decimal(0),
        notional=notional if allowed else Decimal(0),
        verdict=verdict,
        notes=tuple(notes),
    )


def _leverage(
    profile: RiskProfile, market: Market, entry: EntryFacts, side: str, notes: list[str]
) -> tuple[LeverageDecision | None, int]:
    if entry.stop_price is None:
        if market.kind is MarketKind.SWAP:
            notes.append(
                "no stop is set, and the leverage rule keeps the liquidation beyond the stop: "
                "1x; set exits.stop_loss_pct or exits.stop_loss_atr to allow more"
            )
        return None, 1
    decision = choose_leverage(
        market,
        direction=side,
        entry_price=entry.price,
        stop_price=entry.stop_price,
        volatility=entry.volatility,
        maintenance_margin_rate=profile.leverage.maintenance_margin_rate,
        safety=profile.leverage.safety,
        user_cap=float(profile.leverage.max),
    )
    return decision, decision.value


def _size(
    profile: RiskProfile,
    market: Market,
    entry: EntryFacts,
    equity: float,
    leverage: int,
    scale: float,
    notes: list[str],
) -> SizingDecision:
    sizing = profile.sizing
    amount, target = sizing.amount, sizing.target_volatility
    if scale < 1.0:
        # Dynamic risk scales what the mode stakes: the amount, or the volatility target.
        if sizing.mode in ("fixed", "fraction", "risk"):
            amount *= scale
        elif sizing.mode == "vol_target" and target is not None:
            target *= scale
        notes.append(f"dynamic risk scales the {sizing.mode} stake by {scale:.3f}")
    return size_position(
        market,
        mode=sizing.mode,
        equity=equity,
        free_cash=equity,
        price=entry.price,
        stop_price=entry.stop_price,
        volatility=entry.volatility,
        target_volatility=target,
        amount=amount,
        win_rate=sizing.win_rate,
        payoff=sizing.payoff,
        kelly_cap=sizing.kelly_cap,
        leverage=leverage,
    )


def _shrink(
    market: Market, sizing: SizingDecision, limits: LimitDecision, notes: list[str]
) -> tuple[Decimal, Decimal]:
    """Shrink the order to the limits' room, if that still meets the smallest order."""
    if not (limits.room > 0 and math.isfinite(limits.room)):
        return Decimal(0), Decimal(0)
    unit = sizing.price * market.contract_size
    amount = market.round_amount(Decimal(repr(limits.room)) / unit)
    notional = market.notional(amount, sizing.price)
    while amount > 0 and float(notional) > limits.room:  # decimal vs float at the edge
        amount -= market.amount_tick
        notional = market.notional(amount, sizing.price)
    if amount < sizing.min_order_amount or notional < sizing.min_order_notional or amount <= 0:
        notes.append(
            f"the limits leave room for {limits.room:,.2f} {market.quote}, below the smallest "
            f"order {sizing.min_order_notional} {market.quote}: nothing can open"
        )
        return Decimal(0), Decimal(0)
    notes.append(
        f"the limits leave room for {limits.room:,.2f} {market.quote}: the order shrinks to "
        f"{amount} ({notional} {market.quote})"
    )
    return amount, notional


def _deposit(
    profile: RiskProfile, market: Market, entry: EntryFacts, leverage: int, notes: list[str]
) -> DepositReport | None:
    sizing = profile.sizing
    try:
        settings = DepositSettings(
            prices={market.symbol: entry.price},
            max_open_positions=profile.limits.max_open_positions or 1,
            margin_multiplier=profile.margin_multiplier,
            leverage=leverage,
            stake_mode=sizing.mode,
            stake_amount=sizing.amount,
            stop_distance=entry.stop_distance,
            volatility=entry.volatility,
            target_volatility=sizing.target_volatility,
            win_rate=sizing.win_rate,
            payoff=sizing.payoff,
            kelly_cap=sizing.kelly_cap,
        )
        return minimum_deposit([market], settings)
    except InvalidInputError as e:
        notes.append(f"deposit calculator: {e}")
        return None


def _verdict(
    protections: ProtectionDecision,
    leverage: LeverageDecision | None,
    sizing: SizingDecision,
    limits: LimitDecision | None,
    amount: Decimal,
    notional: Decimal,
    quote: str,
) -> tuple[bool, tuple[str, ...]]:
    """Return whether the entry may open and the lines that say why (not)."""
    lines = []
    if not protections.allowed:
        until = protections.to_dict()["until"]
        when = "" if until is None else f" ({until})"
        lines.append(f"blocked by the {protections.blocked_by} protection{when}")
    if leverage is not None and not leverage.ok:
        lines.append("the liquidation would come before the stop, even at 1x")
    if not sizing.ok:
        lines.append(sizing.refusal or "the sizing opens nothing")
    elif amount <= 0 and limits is not None:
        lines.extend(limits.reasons)
    if lines:
        return False, tuple(lines)
    shrunk = limits is not None and not limits.allowed
    lines.append(
        f"may open {amount} ({notional} {quote})"
        + (", shrunk to the room the limits leave" if shrunk else "")
    )
    return True, tuple(lines)


# -- fetching ----------------------------------------------------------------------------


def resolve_symbol(markets: Mapping[str, Market], symbol: str, kind: str) -> Market:
    """Find ``symbol`` among ``markets``; ``BTC/USDT`` means the swap for a swap profile."""
    wanted = symbol.strip().upper()
    candidates = [wanted]
    if kind == "swap" and ":" not in wanted and "/" in wanted:
        candidates.insert(0, f"{wanted}:{wanted.split('/')[1]}")
    for name in candidates:
        market = markets.get(name)
        if market is not None:
            return market
    raise UnknownSymbolError(
        f"{symbol} is not listed ({' or '.join(candidates)}); check the symbol, or the "
        "profile's market (spot or swap)."
    )


async def fetch_inputs(
    gateway: ExchangeGateway,
    profile: RiskProfile,
    symbol: str,
    *,
    store: CandleStore | None = None,
) -> tuple[Market, Candles, str, int]:
    """Return the market, closed candles, where they came from and the exchange's time."""
    market = resolve_symbol(await gateway.markets(), symbol, profile.market)
    now_ms = await gateway.fetch_time()
    want = max(candles_needed(profile), RATIO_WINDOW + profile.sizing.volatility_period)
    if store is not None:
        stored = store.read(gateway.exchange_id, market.symbol, profile.timeframe)
        stored = stored.closed(now_ms).tail(want)
        # Only a store that reaches the last closed candle speaks for the next entry.
        fresh = len(stored) > 0 and int(stored.ts_ms[-1]) >= now_ms - 2 * stored.timeframe_ms
        if fresh and len(stored) >= candles_needed(profile):
            return market, stored, "store", now_ms
    fetched = await gateway.fetch_ohlcv(market.symbol, profile.timeframe, limit=want + 1)
    return market, fetched.closed(now_ms).tail(want), "exchange", now_ms
