"""Choosing what to download: top-N by 24h volume, junk filters, symbol checks.

Leveraged tokens and stablecoins are what a volume ranking surfaces first and what no
strategy should trade; they are named by pattern and by price, and reported, not hidden.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

from xraybot.data.ports import MarketSource, VolumeTicker
from xraybot.model.errors import InvalidInputError, UnknownSymbolError
from xraybot.model.market import Market, MarketKind

# Pegged to a currency, not traded for a view on the market.
STABLECOINS = frozenset(
    {
        "USDT", "USDC", "BUSD", "TUSD", "USDP", "PAX", "DAI", "FDUSD", "USDS", "USDSB", "SUSD",
        "UST", "USDD", "PYUSD", "USDE", "USD1", "RLUSD", "GUSD", "LUSD", "FRAX", "USDJ", "USDX",
        "EURC", "EURT", "EURI", "AEUR", "EUR", "GBP", "AUD", "TRY", "BRL", "JPY", "RUB", "UAH",
    }
)  # fmt: skip
_ETF = re.compile(r"[A-Z0-9]{2,}?[0-9]+[LS]")  # MEXC/Gate ETFs: BTC3L, ETH5S
_UP_DOWN = re.compile(r"(?P<stem>[A-Z0-9]{2,})(UP|DOWN)")  # Binance: BTCUP; JUP is no ETF
_BULL_BEAR = re.compile(r"[A-Z0-9]*(BULL|BEAR)")  # FTX-era: ETHBULL, and BULL = BTC


# -- choosing symbols -------------------------------------------------------------------------


def is_leveraged_token(base: str, bases: frozenset[str] = frozenset()) -> bool:
    """Return whether ``base`` is a leveraged token (BTC3L, ETHUP, BULL) rather than a coin.

    ``*UP``/``*DOWN`` count only when the stem is itself a listed base (``bases``), so JUP or
    SETUP are not taken for tokens.
    """
    if _ETF.fullmatch(base) or _BULL_BEAR.fullmatch(base):
        return True
    match = _UP_DOWN.fullmatch(base)
    return match is not None and match.group("stem") in bases


def is_stablecoin(base: str, last: Decimal | None = None) -> bool:
    """Return whether ``base`` is a stablecoin or fiat: known by name, or a USD-named coin at ~1."""
    if base in STABLECOINS:
        return True
    return "USD" in base and last is not None and abs(last - 1) <= Decimal("0.03")


async def select_top(
    gateway: MarketSource, n: int, quote: str = "USDT"
) -> tuple[list[str], list[str]]:
    """Return the ``n`` active spot ``quote`` markets with most 24h quote volume (one bulk
    ticker call), and the junk (leveraged tokens, stablecoins) that ranked above the last pick.
    """
    if n < 1:
        raise InvalidInputError(f"--top must be at least 1; found {n}.")
    markets = await gateway.markets()
    tickers = await gateway.fetch_tickers(None, MarketKind.SPOT)
    return rank_by_volume(markets, tickers, n, quote)


def rank_by_volume(
    markets: Mapping[str, Market], tickers: Mapping[str, VolumeTicker], n: int, quote: str
) -> tuple[list[str], list[str]]:
    """Return the top ``n`` active spot ``quote`` markets by 24h quote volume, and the junk
    (leveraged tokens, stablecoins) that ranked above the last pick."""
    bases = frozenset(m.base for m in markets.values())
    ranked = sorted(
        (
            (t.quote_volume_24h, s)
            for s, t in tickers.items()
            if (m := markets.get(s)) is not None
            and m.kind is MarketKind.SPOT
            and m.quote == quote
            and m.active
        ),
        reverse=True,
    )
    picked: list[str] = []
    junk: list[str] = []
    for _, symbol in ranked:
        if len(picked) == n:
            break
        base = markets[symbol].base
        if is_leveraged_token(base, bases) or is_stablecoin(base, tickers[symbol].last):
            junk.append(symbol)
        else:
            picked.append(symbol)
    return picked, junk


async def check_symbols(gateway: MarketSource, symbols: Sequence[str]) -> None:
    """Raise UnknownSymbolError naming every symbol the exchange does not list."""
    markets = await gateway.markets()
    unknown = [s for s in symbols if s not in markets]
    if not unknown:
        return
    hints = []
    for symbol in unknown:
        close = difflib.get_close_matches(symbol, list(markets), n=2)
        hints.append(f"{symbol!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    raise UnknownSymbolError(
        f"{gateway.exchange_id} lists no market {', '.join(hints)}; symbols look like BTC/USDT "
        "(spot) or BTC/USDT:USDT (linear swap)."
    )
