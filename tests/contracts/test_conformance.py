"""Storage satisfies the ports structurally: same methods, same parameters, async alike."""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.runtime.ports import UserRepository
from xraybot.storage import (
    MemoryJournal,
    MemoryOrderRepository,
    MemoryStore,
    MemoryUserRepository,
    SqlJournal,
    SqlOrderRepository,
    SqlUserRepository,
)
from xraybot.trading.ports import Journal, OrderRepository


def _typed_wiring(engine: AsyncEngine, store: MemoryStore) -> None:
    """Never called: mypy checks these assignments when it reads the tests."""
    journals: list[Journal] = [SqlJournal(engine), MemoryJournal(store)]
    orders: list[OrderRepository] = [SqlOrderRepository(engine), MemoryOrderRepository(store)]
    users: list[UserRepository] = [SqlUserRepository(engine), MemoryUserRepository(store)]
    del journals, orders, users


def _port_methods(port: type) -> list[str]:
    return [n for n, v in vars(port).items() if callable(v) and not n.startswith("_")]


@pytest.mark.parametrize(
    ("port", "implementation"),
    [
        (Journal, SqlJournal),
        (Journal, MemoryJournal),
        (OrderRepository, SqlOrderRepository),
        (OrderRepository, MemoryOrderRepository),
        (UserRepository, SqlUserRepository),
        (UserRepository, MemoryUserRepository),
    ],
)
def test_implementations_match_their_port(port: type, implementation: type) -> None:
    for name in _port_methods(port):
        wanted, found = getattr(port, name), getattr(implementation, name, None)
        assert found is not None, f"{implementation.__name__} lacks {name}"
        assert inspect.iscoroutinefunction(found) == inspect.iscoroutinefunction(wanted), name
        assert list(inspect.signature(found).parameters) == list(
            inspect.signature(wanted).parameters
        ), name
