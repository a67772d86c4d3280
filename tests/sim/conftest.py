"""Shared simulator fixtures: one running simulator per module, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.sim.fakes import Sim, running_sim


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    """A simulator over the fake market; modules needing other settings override this."""
    with running_sim() as running:
        yield running


@pytest.fixture
def reset_sim(sim: Sim) -> None:
    sim.reset()


@pytest.fixture
async def ex(sim: Sim) -> AsyncIterator[Any]:
    """The unmodified ccxt mexc client on the simulator, markets loaded."""
    client = sim.client()
    await client.load_markets()
    yield client
    await client.close()
