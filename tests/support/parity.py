"""The kernel-versus-replay parity comparison: sample candles, settings with the simulator's
fee, round trips, and the rows both sides are compared on."""

from __future__ import annotations

from functools import cache

from xraybot.backtest.results import TradeRecords
from xraybot.data.import_names import recognise
from xraybot.data.importers import load
from xraybot.data.sample import sample_dir
from xraybot.model.candles import Candles

CANDLES = 1_500  # the step's window (about 625 on 1h) plus enough replayed candles to trade
PRICE_TOLERANCE = 0.002  # relative: spread + paper slippage + tick (tests/test_parity.py)
SIM_TAKER_FEE = 0.0005  # what the simulator's markets (and so the paper ledger) charge
Trip = tuple[int, int, int]


@cache
def sample(base: str, candles: int = CANDLES) -> Candles:
    """The last ``candles`` 1h candles of the bundled Binance sample of ``base``/USDT."""
    return load(recognise(sample_dir() / "binance" / f"{base}_USDT-1h.csv.gz")).tail(candles)


def trips(trades: TradeRecords) -> list[Trip]:
    return list(
        zip(
            trades.entry_ts.tolist(),
            trades.exit_ts.tolist(),
            trades.direction.tolist(),
            strict=True,
        )
    )


def compared(
    kernel: TradeRecords, replayed: TradeRecords, first_fill: int
) -> tuple[int, list[int], list[int]]:
    """The cut (first candle both are flat from) and the row indices compared on each side."""
    cut = first_fill
    for entry, exit_ in zip(kernel.entry_ts.tolist(), kernel.exit_ts.tolist(), strict=True):
        if entry < first_fill <= exit_:
            cut = max(cut, exit_)  # the kernel was in a trade the replay never saw begin
    k = [i for i, t in enumerate(kernel.entry_ts.tolist()) if t >= cut]
    r = [i for i, t in enumerate(replayed.entry_ts.tolist()) if t >= cut]
    return cut, k, r
