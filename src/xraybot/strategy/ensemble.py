"""Weighted aggregation of several strategies' signals into one decision.

Each member votes on every candle: +1 when its latest entry is the more recent of its
entry/exit signals and fired within the last ``memory`` candles, −1 for an exit, else 0.
The ensemble's score is the weighted mean of the votes, in [−1, 1]::

    score[t] = Σ w_i · vote_i[t] / Σ w_i

and it enters long when ``score >= entry_threshold`` and exits when
``score <= −exit_threshold``. With ``memory = 1`` a vote is exactly ``entry_i − exit_i`` on
that candle; a longer memory lets members whose signals are single-candle events
(crossovers) agree with each other without firing on the very same candle. Short signals
aggregate the members' short arrays the same way (a long-only member votes 0 there).

Members are written ``"rsi_reversion:1,ema_cross:1,macd_trend:2"`` (weight defaults to 1),
optionally with parameter overrides ``"ema_cross(fast_period=9;slow_period=21):2"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import BoolArray, FeatureCache, ParamValue, Signals, Strategy
from xraybot.strategy.guard import compute_signals
from xraybot.strategy.registry import builtin_class, builtin_names

__all__ = ["Member", "aggregate", "member_signals", "parse_members", "votes"]

_MEMBER = re.compile(
    r"\s*(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<params>[^()]*)\))?\s*(?::\s*(?P<weight>[^,]*?))?\s*"
)


_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Member:
    """One voter: a built-in strategy, its resolved parameters and its weight."""

    name: str
    weight: float
    strategy: Strategy
    params: dict[str, ParamValue]


def parse_members(spec: str) -> tuple[Member, ...]:
    """Parse ``"name[(k=v;…)][:weight],…"`` into members; raise ``InvalidInputError``."""
    return _parse_members(spec.strip())


@lru_cache(maxsize=64)
def _parse_members(spec: str) -> tuple[Member, ...]:
    if not spec:
        raise InvalidInputError(
            "ensemble members are empty; give them like 'rsi_reversion:1,ema_cross:1'."
        )
    members: list[Member] = []
    for part in _split_top_level(spec):
        match = _MEMBER.fullmatch(part)
        if match is None:
            raise InvalidInputError(
                f"ensemble member {part.strip()!r} is not 'name', 'name:weight' or "
                "'name(param=value;…):weight'."
            )
        name = match["name"]
        allowed = [n for n in builtin_names() if n != "ensemble"]
        if name not in allowed:
            raise InvalidInputError(
                f"ensemble member {name!r} is not a built-in strategy an ensemble can hold; "
                f"choose from: {', '.join(allowed)}."
            )
        if any(m.name == name for m in members):
            raise InvalidInputError(
                f"ensemble member {name!r} is listed twice; give it once with the summed weight."
            )
        weight = _weight(name, match["weight"])
        cls = builtin_class(name)
        params = cls.resolve(_overrides(name, match["params"]))
        members.append(Member(name, weight, cls(), params))
    return tuple(members)


def _split_top_level(spec: str) -> list[str]:
    """Split on commas outside parentheses (overrides may use commas too)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(spec):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    parts.append(spec[start:])
    return parts


def _weight(name: str, text: str | None) -> float:
    if text is None or not text.strip():
        return 1.0
    try:
        weight = float(text)
    except ValueError:
        weight = float("nan")
    if not (np.isfinite(weight) and weight > 0.0):
        raise InvalidInputError(
            f"ensemble member {name!r}: the weight must be a positive number; found {text!r}."
        )
    return weight


def _overrides(name: str, text: str | None) -> dict[str, ParamValue]:
    overrides: dict[str, ParamValue] = {}
    for item in re.split(r"[;,]", text or ""):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"ensemble member {name!r}: parameter overrides look like 'key=value'; "
                f"found {item.strip()!r}."
            )
        overrides[key.strip()] = _literal(raw.strip())
    return overrides


def _literal(raw: str) -> ParamValue:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def votes(entry: BoolArray, exit_: BoolArray, memory: int) -> FloatArray:
    """+1 / −1 / 0 per candle: the more recent of entry/exit, if within ``memory`` candles."""
    n = entry.shape[0]
    index = np.arange(n)
    last_entry = np.maximum.accumulate(np.where(entry, index, -1)) if n else index
    last_exit = np.maximum.accumulate(np.where(exit_, index, -1)) if n else index
    fresh_entry = (last_entry > last_exit) & (index - last_entry < memory)
    fresh_exit = (last_exit > last_entry) & (index - last_exit < memory)
    return fresh_entry.astype(np.float64) - fresh_exit.astype(np.float64)


def member_signals(
    members: Sequence[Member], candles: Candles, cache: FeatureCache | None = None
) -> list[Signals]:
    """Each member's checked signals (through the guard, so a failure names the member)."""
    return [compute_signals(m.strategy, candles, m.params, cache) for m in members]


def aggregate(
    signals: Sequence[Signals],
    weights: Sequence[float],
    *,
    entry_threshold: float,
    exit_threshold: float,
    memory: int = 1,
) -> Signals:
    """Combine members' signals into one ``Signals`` (see the module docstring)."""
    if not signals or len(signals) != len(weights):
        raise InvalidInputError(
            f"aggregate needs one weight per member and at least one member; found "
            f"{len(signals)} signal sets and {len(weights)} weights."
        )
    total = float(sum(weights))
    n = len(signals[0])
    score = np.zeros(n)
    short_score = np.zeros(n)
    for member, weight in zip(signals, weights, strict=True):
        score += weight * votes(member.entry_long, member.exit_long, memory)
        if member.entry_short is not None and member.exit_short is not None:
            short_score += weight * votes(member.entry_short, member.exit_short, memory)
    score /= total
    short_score /= total
    # Weights 1,1,1 make 2/3 a natural threshold that the division misses by one ulp.
    entry_at = entry_threshold - _TOLERANCE
    exit_at = -exit_threshold + _TOLERANCE
    any_short = any(s.has_short for s in signals)
    return Signals(
        entry_long=score >= entry_at,
        exit_long=score <= exit_at,
        entry_short=short_score >= entry_at if any_short else None,
        exit_short=short_score <= exit_at if any_short else None,
        strength=np.clip(score, 0.0, 1.0),
        features={"ensemble_score": score, "ensemble_short_score": short_score}
        if any_short
        else {"ensemble_score": score},
    )
