"""Options shared by the research commands (backtest, optimize, walkforward, check-bias,
select): where the candles come from, the strategy and its parameters, and the account and
execution assumptions. Light imports only: these commands must start in well under a second.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xraybot.backtest.results import BacktestSettings, Directions, MarketKind, StakeMode
from xraybot.backtest.risk_results import RiskSettings
from xraybot.cli.parsing import parse_symbols, parse_time_ms
from xraybot.data.config import resolve_data_dir
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import Strategy

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from xraybot.backtest.optimize import Sampler

StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="A built-in (xraybot strategies lists them), FILE.py[:Class] or package.module:Class.",
    ),
]
ParamsOpt = Annotated[
    str | None,
    typer.Option("--params", help="Parameter overrides as JSON, e.g. '{\"rsi_period\": 10}'."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="The Parquet store or a folder of <exchange>/<BASE>_<QUOTE>-<TF>.csv.gz files "
        "(default $XRAYBOT_DATA_DIR, else a per-user data folder).",
        file_okay=False,
    ),
]
ExchangeOpt = Annotated[str, typer.Option("--exchange", help="Exchange id the candles belong to.")]
SymbolsOpt = Annotated[str, typer.Option("--symbols", help="Comma-separated: BTC/USDT,ETH/USDT.")]
TimeframeOpt = Annotated[str, typer.Option("--timeframe", help="Candle timeframe, e.g. 1h.")]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="First candle: ISO date/time (UTC) or epoch ms.")
]
EndOpt = Annotated[
    str | None, typer.Option("--end", help="End (exclusive): ISO date/time (UTC) or epoch ms.")
]
EquityOpt = Annotated[float, typer.Option("--equity", help="Starting equity in quote currency.")]
FeeOpt = Annotated[float, typer.Option("--fee", help="Fee per side as a fraction (0.001 = 0.1 %).")]
SlippageBpsOpt = Annotated[
    float, typer.Option("--slippage-bps", help="Fixed slippage against every market fill, bps.")
]
SlippageAtrOpt = Annotated[
    float,
    typer.Option("--slippage-atr", help="Volatility slippage: this many NATR %% of the candle."),
]
StakeOpt = Annotated[
    str,
    typer.Option(
        "--stake", help="all (all free equity), fraction (--stake-amount of equity), fixed."
    ),
]
StakeAmountOpt = Annotated[
    float, typer.Option("--stake-amount", help="Fraction of equity, or quote amount if fixed.")
]
MarketOpt = Annotated[str, typer.Option("--market", help="spot, or swap for perpetuals.")]
DirectionsOpt = Annotated[str, typer.Option("--directions", help="long, short or both (swap).")]
LeverageOpt = Annotated[float, typer.Option("--leverage", help="Leverage (swap only).")]
FundingOpt = Annotated[
    float, typer.Option("--funding-rate", help="Funding rate per 8 h (swap only), 0.0001 = 0.01 %.")
]
MaxOpenOpt = Annotated[
    int, typer.Option("--max-open-trades", help="Open trades at once in --portfolio mode.")
]
StopLossOpt = Annotated[
    float | None, typer.Option("--stop-loss", help="Override the stop-loss (0.03 = 3 %).")
]
TakeProfitOpt = Annotated[
    float | None, typer.Option("--take-profit", help="Override the take-profit (0.06 = 6 %).")
]
TrailingOpt = Annotated[
    float | None, typer.Option("--trailing", help="Trailing stop distance (0.02 = 2 %).")
]
TimeExitOpt = Annotated[
    int | None, typer.Option("--time-exit", help="Close a trade after this many candles.")
]

# -- the risk layer (issue 7): sizing, and the protections and limits the live bot applies --
_RISK = "Risk layer"
RiskRulesOpt = Annotated[
    bool,
    typer.Option(
        "--risk-rules",
        help="Run the protections and limits as the live bot would (any protection or "
        "limit option below implies it); refused entries are counted per reason.",
        rich_help_panel=_RISK,
    ),
]
SizingOpt = Annotated[
    str,
    typer.Option(
        "--sizing",
        help="stake (as --stake says), risk (lose --risk-per-trade of equity at the stop), "
        "vol_target (--target-volatility), kelly (capped, from the closed trades).",
        rich_help_panel=_RISK,
    ),
]
RiskPerTradeOpt = Annotated[
    float,
    typer.Option(
        "--risk-per-trade",
        help="--sizing risk: share of equity lost at the stop (0.01 = 1 %).",
        rich_help_panel=_RISK,
    ),
]
TargetVolOpt = Annotated[
    float,
    typer.Option(
        "--target-volatility",
        help="--sizing vol_target: wanted volatility per candle (0.01 = 1 %).",
        rich_help_panel=_RISK,
    ),
]
AutoLeverageOpt = Annotated[
    bool,
    typer.Option(
        "--auto-leverage",
        help="Swap: pick each trade's leverage so liquidation lies beyond its stop "
        "(--leverage is the cap).",
        rich_help_panel=_RISK,
    ),
]
CooldownOpt = Annotated[
    str | None,
    typer.Option(
        "--cooldown",
        help="No entry on a symbol this long after its stop-loss, e.g. 4h, 1d 6h.",
        rich_help_panel=_RISK,
    ),
]
MaxDrawdownStopOpt = Annotated[
    float | None,
    typer.Option(
        "--max-drawdown-stop",
        help="Stop entering once equity falls this far below its peak (0.2 = 20 %).",
        rich_help_panel=_RISK,
    ),
]
DailyLossOpt = Annotated[
    float | None,
    typer.Option(
        "--daily-loss",
        help="No entry for the rest of the UTC day once it lost this share (0.05 = 5 %).",
        rich_help_panel=_RISK,
    ),
]
MaxExposureOpt = Annotated[
    float | None,
    typer.Option(
        "--max-exposure",
        help="Open notional at most this multiple of equity; a larger entry shrinks to fit.",
        rich_help_panel=_RISK,
    ),
]
KillAtOpt = Annotated[
    str | None,
    typer.Option(
        "--kill-at",
        help="Kill switch: no entry from this time on (ISO date/time UTC or epoch ms).",
        rich_help_panel=_RISK,
    ),
]


def parse_params(text: str | None) -> dict[str, Any]:
    """Return the ``--params`` JSON object, or a clear error naming what was wrong."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInputError(
            f"--params must be a JSON object such as '{{\"rsi_period\": 10}}'; found {text!r} "
            f"({e.msg} at character {e.pos})."
        ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"--params must be a JSON object (name: value); found {type(value).__name__}."
        )
    return value


def load_candles(
    data_dir: Path | None,
    exchange: str,
    symbols: str,
    timeframe: str,
    start: str | None,
    end: str | None,
) -> list[Candles]:
    """Candles of every symbol from the store or the CSV layout, refusing empty series."""
    from xraybot.data.series import load_series

    start_ms = parse_time_ms(start, "--start") if start is not None else None
    end_ms = parse_time_ms(end, "--end") if end is not None else None
    root = resolve_data_dir(data_dir)
    series = load_series(root, exchange, parse_symbols(symbols), timeframe, start_ms, end_ms)
    for candles in series:
        if len(candles) < 2:
            raise InvalidInputError(
                f"{candles.symbol} {timeframe} on {exchange} has {len(candles)} candle(s) in "
                f"{root} for the range asked; a backtest needs at least 2. Widen --start/--end "
                "or fetch more with `xraybot data download`."
            )
    return series


def build_settings(
    *,
    equity: float,
    fee: float,
    slippage_bps: float,
    slippage_atr: float,
    stake: str,
    stake_amount: float,
    market: str,
    directions: str,
    leverage: float,
    funding_rate: float,
    max_open_trades: int,
    exits: ExitRules | None = None,
    risk: RiskSettings | None = None,
    risk_rules: bool = False,
) -> BacktestSettings:
    """Settings from command-line values (BacktestSettings validates and names what is wrong)."""
    if stake not in ("all", "fraction", "fixed"):
        raise InvalidInputError(f"--stake must be all, fraction or fixed; found {stake!r}.")
    if market not in ("spot", "swap"):
        raise InvalidInputError(f"--market must be spot or swap; found {market!r}.")
    if directions not in ("long", "short", "both"):
        raise InvalidInputError(f"--directions must be long, short or both; found {directions!r}.")
    stake_mode: StakeMode = stake  # type: ignore[assignment]
    market_kind: MarketKind = market  # type: ignore[assignment]
    allowed: Directions = directions  # type: ignore[assignment]
    return BacktestSettings(
        equity=equity,
        fee_rate=fee,
        slippage_bps=slippage_bps,
        slippage_atr=slippage_atr,
        stake=stake_mode,
        stake_amount=stake_amount,
        market=market_kind,
        directions=allowed,
        leverage=leverage,
        funding_rate=funding_rate,
        max_open_trades=max_open_trades,
        exits=exits,
        risk=risk,
        risk_rules=risk_rules,
    )


def build_risk(
    *,
    risk_rules: bool = False,
    sizing: str = "stake",
    risk_per_trade: float = 0.01,
    target_volatility: float = 0.01,
    auto_leverage: bool = False,
    cooldown: str | None = None,
    max_drawdown_stop: float | None = None,
    daily_loss: float | None = None,
    max_exposure: float | None = None,
    kill_at: str | None = None,
) -> tuple[RiskSettings | None, bool]:
    """The risk layer from the command line: (settings or None, whether the rules run).

    A protection or limit option switches the rules on by itself. Values are checked by the
    risk layer's own settings (``ProtectionSettings``, ``LimitSettings``, ``RiskSettings``),
    whose errors name the option.
    """
    from xraybot.risk.limits import LimitSettings
    from xraybot.risk.protections_settings import protection_settings_from

    if sizing not in ("stake", "risk", "vol_target", "kelly"):
        raise InvalidInputError(
            f"--sizing must be stake, risk, vol_target or kelly; found {sizing!r}."
        )
    table: dict[str, Any] = {}
    if cooldown is not None:
        table["cooldown"] = cooldown
    if max_drawdown_stop is not None:
        table["max_drawdown"] = {"max_drawdown": max_drawdown_stop}
    if daily_loss is not None:
        table["daily_loss"] = daily_loss
    protections = protection_settings_from(table, prefix="protections", where="the risk options")
    if max_exposure is not None and not (max_exposure > 0):
        raise InvalidInputError(
            f"--max-exposure must be > 0 (a multiple of equity, 1.5 = 150 %); "
            f"found {max_exposure!r}."
        )
    limits = LimitSettings(max_total_exposure=max_exposure)
    kill_at_ms = parse_time_ms(kill_at, "--kill-at") if kill_at is not None else None
    rules = risk_rules or bool(table) or max_exposure is not None or kill_at_ms is not None
    sized = sizing != "stake" or auto_leverage
    if not (rules or sized):
        return None, False
    settings = RiskSettings(
        sizing=sizing,  # type: ignore[arg-type]
        risk_per_trade=risk_per_trade,
        target_volatility=target_volatility,
        auto_leverage=auto_leverage,
        protections=protections,
        limits=limits,
        kill_at_ms=kill_at_ms,
    )
    return settings, rules


def exit_overrides(
    strategy: Strategy,
    params: dict[str, Any],
    *,
    stop_loss: float | None,
    take_profit: float | None,
    trailing: float | None,
    time_exit: int | None,
) -> ExitRules | None:
    """The strategy's exit rules with the command line's overrides, or None if none given."""
    if stop_loss is None and take_profit is None and trailing is None and time_exit is None:
        return None
    rules = strategy.exit_rules(params)
    changes: dict[str, Any] = {}
    if stop_loss is not None:
        changes["stop_loss_pct"] = stop_loss
    if take_profit is not None:
        changes["take_profit_pct"] = take_profit
    if trailing is not None:
        changes["trailing_pct"] = trailing
    if time_exit is not None:
        changes["time_exit_candles"] = time_exit
    return replace(rules, **changes)


def parse_space(text: str | None) -> dict[str, Any] | None:
    """Return the ``--space`` JSON object (name: range, list or fixed value), or None."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInputError(
            f'--space must be a JSON object such as \'{{"rsi_period": {{"low": 7, "high": '
            f"28}}}}'; found {text!r} ({e.msg} at character {e.pos})."
        ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            "--space must be a JSON object (name: range, list or value); "
            f"found {type(value).__name__}."
        )
    return value


class StageBar:
    """One Rich bar per stage the optimizer or walk-forward announces (``stage``/``advance``).

    The bar starts on the first stage, not on entry: the optimizer forks its workers before
    that, and a fork must not copy the bar's refresh thread mid-write.
    """

    def __init__(self, console: Console, suffix: str = "") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._progress: Progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._suffix = suffix
        self._task: Any = None

    def __enter__(self) -> StageBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def stage(self, description: str, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(description + self._suffix, total=max(1, total))

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)


def parse_sampler(sampler: str) -> Sampler:
    """Return ``--sampler`` as the optimizer's sampler name, or say which ones exist."""
    from xraybot.backtest.optimize import SAMPLERS

    if sampler not in SAMPLERS:
        raise InvalidInputError(
            f"--sampler must be {', '.join(SAMPLERS[:-1])} or {SAMPLERS[-1]}; found {sampler!r}."
        )
    chosen: Sampler = sampler  # type: ignore[assignment]
    return chosen
