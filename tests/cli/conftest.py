from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sim import serve_sim
from xraybot.sim.config import SimConfig


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """A simulator over 30 synthetic symbols for commands that talk to an exchange."""
    with serve_sim(SimConfig(match_interval_ms=0), n_symbols=30) as url:
        yield url
