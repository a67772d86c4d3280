"""The whole-universe screener: a chain of filters that explains every symbol it drops.

Order of the chain (:data:`CHAIN`), cheapest data first:

1. from ONE bulk tickers call (or, as of a past time, the point-in-time universe):
   ``market`` (no ticker, inactive, delisted), ``blacklist``, ``price``, ``quote_volume``,
   ``spread``;
2. candles for the survivors only, fetched concurrently under the shared rate limiter:
   ``candles`` (fetch failed), ``listing_age``, ``history`` (too few candles for the
   indicators), ``volatility``, ``rsi``, ``trend``, ``breakout``;
3. a score for each survivor, then ``depth`` (order books, fetched for the best-scored
   only, refilling from the next best until ``top`` pass) and ``top_n``.

Every candidate ends either in ``passed`` or in exactly one filter's rejections, so passed
plus rejected is the universe. A filter that drops every symbol it sees is named in
``emptied_by``, with the distribution of the metric it compared.

As of a past time (``as_of_ms``) the same chain runs on stored data alone: candidates and
24h volumes from ``UniverseStore.as_of``, candles from ``CandleStore`` closed by then; no
exchange is asked anything. Spread and depth are not stored, so those filters sit out
(the result's notes say so).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.model.errors import InvalidInputError, XraybotError
from xraybot.xray import regime as regimes
from xraybot.xray.config import ScreenConfig
from xraybot.xray.filters import (
    Blacklist,
    Bounds,
    Breakout,
    Filter,
    FilterOutcome,
    KnownProblems,
    TopN,
    Trend,
    fmt_amount,
    fmt_days,
    fmt_pct,
    fmt_plain,
    fmt_price,
    rank,
    resolve,
)
from xraybot.xray.ports import ScreenSource
from xraybot.xray.scoring import score
from xraybot.xray.screen_data import LiveData, ScreenData, ScreenProgress, StoredData
from xraybot.xray.screen_features import listed_days, measure
from xraybot.xray.screen_result import Rejection, ScreenResult, SymbolMetrics, distribution

CHAIN = (
    "market",
    "blacklist",
    "price",
    "quote_volume",
    "spread",
    "candles",
    "listing_age",
    "history",
    "volatility",
    "rsi",
    "trend",
    "breakout",
    "depth",
    "top_n",
)


class _Tally:
    """Runs filters, keeping each one's rejections and rule, and notes the first to empty."""

    def __init__(self) -> None:
        self.rejected: dict[str, list[Rejection]] = {}
        self.rules: dict[str, str] = {}
        self.emptied_by: str | None = None
        self.distributions: dict[str, dict[str, float]] = {}

    def run(self, step: Filter, rows: Sequence[SymbolMetrics]) -> tuple[SymbolMetrics, ...]:
        if not rows:
            return ()
        return self.record(step.name, step.apply(rows), len(rows))

    def record(self, name: str, outcome: FilterOutcome, seen: int) -> tuple[SymbolMetrics, ...]:
        self.rejected.setdefault(name, []).extend(outcome.rejected)
        self.rules.setdefault(name, outcome.rule)
        if seen and not outcome.kept and self.emptied_by is None:
            self.emptied_by = name
            if outcome.metric is not None:
                self.distributions[outcome.metric] = distribution(outcome.values)
        return outcome.kept


async def run_screen(
    source: ScreenSource | str,
    config: ScreenConfig,
    *,
    store: CandleStore | None = None,
    universe: UniverseStore | None = None,
    as_of_ms: int | None = None,
    progress: ScreenProgress | None = None,
    regime: Sequence[str] | None = None,
) -> ScreenResult:
    """Screen the exchange's spot ``config.quote`` markets now, or as of ``as_of_ms``.

    Live, ``source`` is the exchange (a gateway over the shared, rate-limited client). As
    of a past time it may be just the exchange id; ``store`` and ``universe`` are required
    then. ``regime`` gives the market regime labels (``up``/``down``/``range``,
    ``low``/``normal``/``high``) for ``config.by_regime``; when it is None and the config
    has overrides, the regime is taken from the leader's candles.
    """
    started = time.monotonic()
    data: ScreenData
    if as_of_ms is not None:
        if store is None or universe is None:
            raise InvalidInputError(
                "a screen as of a past time reads stored data: pass store (CandleStore) and "
                "universe (UniverseStore) with as_of_ms; found "
                f"{'no store' if store is None else 'no universe'}."
            )
        exchange = source if isinstance(source, str) else source.exchange_id
        data = StoredData(exchange, config, store, universe, as_of_ms, progress)
    elif isinstance(source, str):
        raise InvalidInputError(
            f"a live screen needs an exchange gateway, found only the name {source!r}; pass "
            "as_of_ms to screen stored data instead."
        )
    else:
        data = LiveData(source, config, progress)

    snapshot = await data.snapshot()
    notes = list(snapshot.notes)
    labels: tuple[str, ...] = ()
    if config.by_regime:
        labels, note = await _regime(data, config, regime)
        notes.append(note)
        config = config.for_regime(labels)

    tally = _Tally()
    rows: tuple[SymbolMetrics, ...] = tuple(snapshot.rows)
    # -- stage 1: what the tickers (or the universe) tell --------------------------------
    rows = tally.run(KnownProblems("market", snapshot.problems, "listed, active, priced"), rows)
    rows = tally.run(
        Blacklist(
            config.blacklist,
            config.exclude_leveraged_tokens,
            config.exclude_stablecoins,
            snapshot.bases,
        ),
        rows,
    )
    for step in _stage1(config, as_of=as_of_ms is not None):
        rows = tally.run(step, rows)

    # -- stage 2: candles of the survivors only ------------------------------------------
    fetched = await data.candles([r.symbol for r in rows]) if rows else None
    if fetched is not None:
        rows = tally.run(KnownProblems("candles", fetched.problems, "closed candles"), rows)
        measured = []
        for row in rows:
            candles = fetched.candles[row.symbol]
            features = measure(candles, config)
            days = (
                row.listed_days if as_of_ms is not None else listed_days(candles, snapshot.now_ms)
            )
            measured.append(
                replace(
                    row,
                    listed_days=days,
                    volatility_pct=features.volatility_pct,
                    rsi=features.rsi,
                    trend=features.trend,
                    breakout=features.breakout,
                    signals=features.signals,
                )
            )
        rows = tuple(measured)
        if config.min_listing_days is not None:
            listing = Bounds(
                "listing_age",
                "listed",
                lambda r: r.listed_days,
                config.min_listing_days,
                fmt=fmt_days,
            )
            rows = tally.run(listing, rows)
        too_short = {
            s: f"{len(c)} closed {config.timeframe} candles < {config.warmup} the indicators need"
            for s, c in fetched.candles.items()
            if len(c) < config.warmup
        }
        rows = tally.run(
            KnownProblems("history", too_short, f">= {config.warmup} closed candles"), rows
        )
        for step in _signals(config):
            rows = tally.run(step, rows)

    # -- stage 3: score, depth, top N ----------------------------------------------------
    rows = score(rows, config)
    passed = await _shortlist(data, config, rows, tally)

    order = [name for name in CHAIN if name in tally.rejected]
    return ScreenResult(
        passed=passed,
        rejected={name: tuple(tally.rejected[name]) for name in order},
        emptied_by=tally.emptied_by,
        distributions=tally.distributions,
        requests=data.requests,
        elapsed_s=time.monotonic() - started,
        as_of_ms=as_of_ms,
        universe_size=len(snapshot.rows),
        exchange=snapshot.exchange,
        rules={name: tally.rules[name] for name in order},
        notes=tuple(notes) if snapshot.rows else (*notes, "the universe is empty"),
        regime=labels,
    )


def _stage1(config: ScreenConfig, *, as_of: bool) -> list[Filter]:
    steps: list[Filter] = []
    if config.min_price is not None or config.max_price is not None:
        steps.append(
            Bounds(
                "price",
                "price",
                lambda r: r.last,
                config.min_price,
                config.max_price,
                fmt=fmt_price,
            )
        )
    if config.min_quote_volume is not None:
        steps.append(
            Bounds(
                "quote_volume",
                "quote volume",
                lambda r: r.quote_volume_24h,
                config.min_quote_volume,
                fmt=fmt_amount,
            )
        )
    if config.max_spread_pct is not None and not as_of:
        steps.append(
            Bounds(
                "spread",
                "spread",
                lambda r: r.spread_pct,
                None,
                config.max_spread_pct,
                fmt=fmt_pct,
                unknown="unknown: the ticker has no bid/ask",
            )
        )
    return steps


def _signals(config: ScreenConfig) -> list[Filter]:
    steps: list[Filter] = []
    if config.min_volatility_pct is not None or config.max_volatility_pct is not None:
        label = "ATR%" if config.volatility == "natr" else "realized volatility"
        steps.append(
            Bounds(
                "volatility",
                f"{label} ({config.volatility_period} × {config.timeframe})",
                lambda r: r.volatility_pct,
                config.min_volatility_pct,
                config.max_volatility_pct,
                fmt=fmt_pct,
            )
        )
    if config.rsi_min is not None or config.rsi_max is not None:
        steps.append(
            Bounds(
                "rsi",
                f"RSI{config.rsi_period}",
                lambda r: r.rsi,
                config.rsi_min,
                config.rsi_max,
                fmt=fmt_plain,
            )
        )
    if config.trend != "any":
        steps.append(Trend(config.trend, config.ema_fast, config.ema_slow))
    if config.breakout:
        steps.append(Breakout(config.breakout_bars))
    return steps


async def _shortlist(
    data: ScreenData, config: ScreenConfig, rows: Sequence[SymbolMetrics], tally: _Tally
) -> tuple[SymbolMetrics, ...]:
    """Return the best ``top`` rows, checking order books best first when depth is on."""
    if not rows:
        return ()
    if config.min_depth_quote is None or not data.has_books:
        return tally.run(TopN(config.top), rows)
    ranked = rank(rows)
    kept: list[SymbolMetrics] = []
    threshold = None
    label = f"depth within {config.depth_pct:g}% of mid"
    examined = 0
    depths: list[float] = []
    while len(kept) < config.top and examined < len(ranked):
        batch = ranked[examined : examined + config.top - len(kept)]
        examined += len(batch)
        found, problems = await data.depth([r.symbol for r in batch])
        batch = [replace(r, depth_quote=found.get(r.symbol)) for r in batch]
        if threshold is None:  # a percentile is taken over the first shortlist, then held
            values = [r.depth_quote for r in batch if r.depth_quote is not None]
            threshold = resolve(config.min_depth_quote, values)
        failed = KnownProblems("depth", problems).apply(batch)
        step = Bounds("depth", label, lambda r: r.depth_quote, threshold, fmt=fmt_amount)
        outcome = step.apply(failed.kept)
        merged = FilterOutcome(
            outcome.kept,
            failed.rejected + outcome.rejected,
            outcome.rule,
            outcome.metric,
            tuple(r.depth_quote for r in batch if r.depth_quote is not None),
        )
        kept.extend(tally.record("depth", merged, 0))
        depths.extend(merged.values)
    if not kept and ranked and tally.emptied_by is None:
        tally.emptied_by = "depth"
        tally.distributions["depth"] = distribution(depths)
    rest = ranked[examined:]
    outcome = FilterOutcome(
        (),
        tuple(
            Rejection(
                r.symbol,
                "top_n",
                f"rank {i} of {len(ranked)} (score {r.score or 0:.3f}): the top {config.top} "
                "were filled before it",
            )
            for i, r in enumerate(rest, start=examined + 1)
        ),
        f"best {config.top} by score, order books checked best first",
    )
    tally.record("top_n", outcome, 0)
    return tuple(rank(kept))


async def _regime(
    data: ScreenData, config: ScreenConfig, given: Sequence[str] | None
) -> tuple[tuple[str, ...], str]:
    """Return the regime labels for the overrides, and a note saying where they came from."""
    if given is not None:
        labels = tuple(given)
        return labels, f"regime given: {', '.join(labels) or 'none'}"
    leader = config.regime_leader
    try:
        candles = await data.leader(leader)
        found = regimes.symbol_regime(candles)
    except XraybotError as e:
        # Not knowing the regime is no reason to skip the screen: say so and use the base.
        return (), f"regime unknown ({e}); base thresholds used"
    labels = (found.trend, found.volatility)
    return labels, f"regime from {leader}: trend {found.trend}, volatility {found.volatility}"
