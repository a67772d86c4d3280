"""Parsing of the options many commands share: times and symbol lists (light imports only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from xraybot.model.errors import InvalidInputError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = 100_000_000_000  # 1973-03: anything smaller is seconds, a year, or a typo


def parse_time_ms(text: str, option: str) -> int:
    """Parse an ISO date/time (UTC unless it says otherwise) or epoch milliseconds."""
    value = text.strip()
    if value.isdigit():
        ms = int(value)
        if ms < _MIN_MS:
            raise InvalidInputError(
                f"{option} {text!r} is too small for epoch milliseconds (seconds or a year?); "
                "give 13-digit milliseconds or an ISO date such as 2024-01-01."
            )
        return ms
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"{option} must be an ISO date or time in UTC (2024-01-01, 2024-01-01T12:00Z) or "
            f"epoch milliseconds; found {text!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def parse_symbols(text: str) -> list[str]:
    """Split ``BTC/USDT,ETH/USDT`` into unified symbols (upper case, each once)."""
    items = [item.strip().upper() for item in text.split(",")]
    if not all(items):
        raise InvalidInputError(
            f"--symbols must be comma-separated symbols such as BTC/USDT,ETH/USDT with none "
            f"empty; found {text!r}."
        )
    malformed = [s for s in items if "/" not in s]
    if malformed:
        raise InvalidInputError(
            f"symbols look like BASE/QUOTE (BTC/USDT) or BTC/USDT:USDT for a swap; found "
            f"{', '.join(map(repr, malformed))}."
        )
    return list(dict.fromkeys(items))
