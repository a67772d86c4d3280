"""``xraybot risk explain --user U``: the next entry for a registered user, with their book.

The profile is the user's own (``runtime.embedded_users.risk_profile``). The account is
assembled as the embedded runtime assembles it (``runtime.embedded_account.AccountRisk``):
the protection chain is fed every closed trade of the journal, so a cooldown or a
stop-loss guard active now blocks here as it would in the run; the user's open positions on
other symbols, marked at their latest closed candle, count in the limits.

Equity is ``--equity`` when given. A paper user's default is realized, as the fee accounts
compute it (``services.fees``): ``paper.balance`` plus the net PnL of every closed trade. A
live user must give it: reading their exchange balance would mean opening their keys, which
this command never does.
"""

from __future__ import annotations

import math
from dataclasses import replace

from xraybot.data.store import CandleStore
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.errors import InvalidInputError
from xraybot.model.fills import Position
from xraybot.model.market import Market
from xraybot.runtime.embedded_account import AccountRisk, Book
from xraybot.runtime.embedded_users import RunUser, risk_profile
from xraybot.services.fees import FeeService
from xraybot.services.risk_explain import RiskExplanation, explain_entry, fetch_inputs
from xraybot.storage.journal import SqlJournal
from xraybot.storage.users import SqlUserRepository, unknown_user
from xraybot.users.settings import UserSettings, settings_from


async def load_user(users: SqlUserRepository, user_id: str) -> RunUser:
    """Return the active user ``user_id`` with their settings; refuse a missing or disabled one."""
    profile = await users.get(user_id)
    if profile is None:
        raise unknown_user(user_id, "explain the next entry")
    if not profile.active:
        raise InvalidInputError(
            f"user {user_id!r} is disabled; found active = no. Enable them first "
            f"(`xraybot users enable {user_id}`) or explain another user."
        )
    document = await users.get_settings(user_id)
    settings = (
        UserSettings(exchange=profile.exchange, mode=profile.mode.value)
        if document is None
        else settings_from(document, where=f"the stored settings of {user_id}")
    )
    return RunUser(profile=profile, settings=settings)


def require_equity(user: RunUser, equity: float | None) -> None:
    """Refuse a live user without ``--equity``: their balance is behind their exchange keys."""
    if equity is None and user.live:
        raise InvalidInputError(
            f"user {user.user_id!r} trades live, so their equity must be given; found no "
            "--equity. The CLI does not open a user's exchange keys to read a balance: pass "
            f"their account's equity now, e.g. `--user {user.user_id} --equity 25000`."
        )


async def _last_close(
    gateway: ExchangeGateway, symbol: str, timeframe: str, now_ms: int
) -> float | None:
    candles = (await gateway.fetch_ohlcv(symbol, timeframe, limit=3)).closed(now_ms)
    if not len(candles):
        return None
    close = float(candles.close[-1])
    return close if math.isfinite(close) and close > 0 else None


async def _mark_others(
    account: AccountRisk,
    gateway: ExchangeGateway,
    positions: tuple[Position, ...],
    symbol: str,
    timeframe: str,
    now_ms: int,
) -> list[str]:
    """Put each other position's latest close in ``account.closes``; return the notes."""
    notes = []
    for position in positions:
        if position.symbol == symbol:
            continue
        close = await _last_close(gateway, position.symbol, timeframe, now_ms)
        if close is None:
            notes.append(
                f"{position.symbol}: no closed {timeframe} candle; the open position counts "
                f"at its entry price {position.entry_price}"
            )
            continue
        account.closes[position.symbol] = close
    return notes


async def explain_user_entry(
    gateway: ExchangeGateway,
    journal: SqlJournal,
    fees: FeeService,
    user: RunUser,
    *,
    symbol: str,
    equity: float | None = None,
    direction: str = "long",
    store: CandleStore | None = None,
) -> RiskExplanation:
    """Explain ``user``'s next ``direction`` entry on ``symbol`` with their profile and book."""
    require_equity(user, equity)
    profile = risk_profile(user)
    market, candles, source, now_ms = await fetch_inputs(gateway, profile, symbol, store=store)
    notes: list[str] = []
    if equity is None:
        value = await fees.paper_equity(user.user_id, now_ms + 1)
        notes.append(
            f"equity {value} {user.settings.paper.currency}: paper.balance "
            f"{user.settings.paper.balance} plus the realized PnL of the closed trades"
        )
        equity = float(value)
    markets: dict[str, Market] = dict(await gateway.markets())
    account = AccountRisk.of(
        user.user_id,
        profile.protections,
        [market.symbol, *user.symbols],
        timeframe_ms=candles.timeframe_ms,
        markets=markets,
    )
    positions = tuple(p for p in await journal.positions(user.user_id) if p.is_open)
    notes += await _mark_others(
        account, gateway, positions, market.symbol, profile.timeframe, now_ms
    )
    fed = await account.restore(journal, equity)
    view = account.view(Book(equity=equity, free_cash=equity, positions=positions), market.symbol)
    result = explain_entry(
        profile,
        market,
        candles,
        equity=equity,
        direction=direction,
        now_ms=now_ms,
        exchange=gateway.exchange_id,
        source=source,
        positions=view.others,
        chain=account.chain,
    )
    notes.append(f"protections fed {fed} closed trade(s) from the journal of {user.user_id}")
    if view.others:
        held = ", ".join(f"{o.symbol} {o.notional:,.2f}" for o in view.others)
        notes.append(f"the limits count the open positions on other symbols: {held}")
    if view.position is not None:
        notes.append(
            f"{user.user_id} already holds {view.position.amount} {market.symbol}: the run "
            "manages that position and opens no second one on the symbol"
        )
    return replace(result, user=user.user_id, notes=result.notes + tuple(notes))


__all__ = ["explain_user_entry", "load_user", "require_equity"]
