"""``xraybot sim``: the local MEXC-speaking exchange, alone, on 127.0.0.1."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from xraybot.cli.output import stdout
from xraybot.model.errors import ConfigError
from xraybot.sim.clock import SimClock
from xraybot.sim.config import FaultRates, RateLimits, SimConfig
from xraybot.sim.market import MarketData
from xraybot.sim.replay import ReplayMarket
from xraybot.sim.server import serve, url
from xraybot.sim.synthetic import SyntheticMarket

DEFAULT_SYMBOLS = 2600


def build_config(
    *,
    port: int,
    latency_ms: int,
    faults: str,
    seed: int,
    rate_limits: bool,
    slippage_rate: Decimal,
    demo_key: str,
    demo_secret: str,
) -> SimConfig:
    """Return the simulator settings for the command's options, or raise ConfigError."""
    try:
        return SimConfig(
            port=port,
            latency_ms=latency_ms,
            faults=FaultRates.parse(faults),
            seed=seed,
            rate_limits=RateLimits(enabled=rate_limits),
            slippage_rate=slippage_rate,
            demo_api_key=demo_key,
            demo_secret=SecretStr(demo_secret),
        )
    except ValidationError as error:
        problems = tuple(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (found {e.get('input')!r})"
            for e in error.errors()
        )
        raise ConfigError(
            "the simulator options are invalid: " + "; ".join(problems), problems
        ) from None


def build_market(
    *, data_dir: Path | None, symbols: int | None, speed: float, seed: int, start_ms: int | None
) -> MarketData:
    """Return a replay of ``data_dir``, or a synthetic universe of ``symbols`` symbols."""
    if data_dir is not None:
        start = (
            start_ms if start_ms is not None else ReplayMarket.default_start_ms(data_dir, symbols)
        )
        return ReplayMarket(SimClock(start, speed=speed), data_dir, symbols=symbols)
    start = start_ms if start_ms is not None else int(time.time() * 1000)
    count = DEFAULT_SYMBOLS if symbols is None else symbols
    return SyntheticMarket(SimClock(start, speed=speed), n_symbols=count, seed=seed)


def sim(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8800,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            exists=True,
            file_okay=False,
            help="Replay real candles from this directory (the ../shared/data layout).",
        ),
    ] = None,
    symbols: Annotated[
        int | None,
        typer.Option(min=1, help="Symbols to list: synthetic default 2600; replay default all."),
    ] = None,
    latency_ms: Annotated[int, typer.Option(min=0, help="Delay added to every request.")] = 0,
    speed: Annotated[
        float, typer.Option(min=0.0, help="Market clock speed; 0 freezes it (advance by hand).")
    ] = 1.0,
    faults: Annotated[
        str,
        typer.Option(help="Fault probabilities, e.g. timeout=0.02,error5xx=0.02,partial_fill=0.2."),
    ] = "",
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the synthetic market and the faults.")
    ] = 0,
    rate_limits: Annotated[
        bool, typer.Option("--rate-limits/--no-rate-limits", help="Enforce MEXC's limits (429).")
    ] = True,
    slippage_rate: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Market orders fill this fraction worse.")
    ] = 0.0005,
    start_ms: Annotated[
        int | None,
        typer.Option(help="Market clock start (ms UTC); default now, or inside the data."),
    ] = None,
    demo_key: Annotated[str, typer.Option(envvar="XRAYBOT_SIM_DEMO_KEY")] = "sim-demo-key",
    demo_secret: Annotated[str, typer.Option(envvar="XRAYBOT_SIM_DEMO_SECRET")] = "sim-demo-secret",  # noqa: S107 - the published key of a local toy account
) -> None:
    """Run the simulated MEXC exchange on 127.0.0.1 until Ctrl-C."""
    config = build_config(
        port=port,
        latency_ms=latency_ms,
        faults=faults,
        seed=seed,
        rate_limits=rate_limits,
        slippage_rate=Decimal(repr(slippage_rate)),
        demo_key=demo_key,
        demo_secret=demo_secret,
    )
    market = build_market(
        data_dir=data_dir, symbols=symbols, speed=speed, seed=seed, start_ms=start_ms
    )
    console = stdout()
    source = f"replay of {data_dir}" if data_dir is not None else "synthetic universe"
    console.print(
        f"[green]xraybot sim[/green] {url(config)}: {len(market.symbols())} symbols, {source}"
    )
    console.print(
        f"demo account: api key [bold]{config.demo_api_key}[/bold], "
        f"secret [bold]{demo_secret}[/bold]"
    )
    console.print(f"admin: {url(config)}/_sim/orders, /_sim/balances, /_sim/faults; Ctrl-C stops.")
    serve(config, market)
