"""Serve the simulator on 127.0.0.1 until interrupted."""

from __future__ import annotations

import uvicorn

from xraybot.sim.app import create_app
from xraybot.sim.config import SimConfig
from xraybot.sim.market import MarketData

HOST = "127.0.0.1"


def url(config: SimConfig) -> str:
    """Return the base URL the simulator serves at."""
    return f"http://{HOST}:{config.port}"


def serve(config: SimConfig, market: MarketData) -> None:
    """Run the simulator in the foreground on 127.0.0.1:``config.port`` (Ctrl-C stops it)."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, market),
            host=HOST,
            port=config.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    server.run()
