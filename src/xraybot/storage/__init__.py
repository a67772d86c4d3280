"""Repositories: the SQL trade journal (SQLite or PostgreSQL), memory twins and a cache.

Names are imported on first use: reading the storage configuration (every command does)
must not pull in SQLAlchemy's async engine, Alembic and redis.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xraybot.storage.cache import Cache, MemoryCache, RedisCache
    from xraybot.storage.config import StorageConfig
    from xraybot.storage.db import create_engine, describe_url, engine_from_url, ping
    from xraybot.storage.journal import SqlJournal
    from xraybot.storage.memory import (
        MemoryJournal,
        MemoryOrderRepository,
        MemoryStore,
        MemoryUserRepository,
    )
    from xraybot.storage.migrate import (
        current_revision,
        current_revision_async,
        downgrade,
        downgrade_async,
        head_revision,
        upgrade,
        upgrade_async,
    )
    from xraybot.storage.orders import SqlOrderRepository
    from xraybot.storage.users import SqlUserRepository

_MODULES = {
    "Cache": "cache",
    "MemoryCache": "cache",
    "RedisCache": "cache",
    "StorageConfig": "config",
    "create_engine": "db",
    "describe_url": "db",
    "engine_from_url": "db",
    "ping": "db",
    "SqlJournal": "journal",
    "MemoryJournal": "memory",
    "MemoryOrderRepository": "memory",
    "MemoryStore": "memory",
    "MemoryUserRepository": "memory",
    "current_revision": "migrate",
    "current_revision_async": "migrate",
    "downgrade": "migrate",
    "downgrade_async": "migrate",
    "head_revision": "migrate",
    "upgrade": "migrate",
    "upgrade_async": "migrate",
    "SqlOrderRepository": "orders",
    "SqlUserRepository": "users",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'xraybot.storage' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"xraybot.storage.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Cache",
    "MemoryCache",
    "MemoryJournal",
    "MemoryOrderRepository",
    "MemoryStore",
    "MemoryUserRepository",
    "RedisCache",
    "SqlJournal",
    "SqlOrderRepository",
    "SqlUserRepository",
    "StorageConfig",
    "create_engine",
    "current_revision",
    "current_revision_async",
    "describe_url",
    "downgrade",
    "downgrade_async",
    "engine_from_url",
    "head_revision",
    "ping",
    "upgrade",
    "upgrade_async",
]
