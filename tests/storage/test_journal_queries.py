"""The archive across all users, and paging over live and archived rows together.

The contract suite scopes every archive run to one user because PostgreSQL is shared by
the session; here each test has a database of its own, so a run may cover everyone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contracts.conftest import Backend
from tests.support.journal import DAY, round_trip
from xraybot.model import Trade
from xraybot.model.errors import InvalidInputError
from xraybot.storage import (
    MemoryJournal,
    MemoryOrderRepository,
    MemoryStore,
    MemoryUserRepository,
    SqlJournal,
    SqlOrderRepository,
    SqlUserRepository,
    migrate,
)
from xraybot.storage.db import engine_from_url
from xraybot.storage.journal_queries import MAX_PAGE_SIZE, Page, PageRequest, make_page

T0 = 1_700_000_000_000


async def _no_count(table: str, where: dict[str, object]) -> int:
    raise AssertionError("not used here")


@pytest.fixture(params=["memory", "sqlite"])
async def own_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "memory":
        store = MemoryStore()
        yield Backend(
            "memory",
            MemoryJournal(store),
            MemoryOrderRepository(store),
            MemoryUserRepository(store),
            _no_count,
        )
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite3'}"
    await migrate.upgrade_async(url)
    engine = engine_from_url(url)
    try:
        yield Backend(
            "sqlite",
            SqlJournal(engine),
            SqlOrderRepository(engine),
            SqlUserRepository(engine),
            _no_count,
        )
    finally:
        await engine.dispose()


async def test_an_archive_run_covers_every_user(own_backend: Backend) -> None:
    journal = own_backend.journal
    old = [await round_trip(own_backend, user, "BTC/USDT", T0 + DAY, f"{user}-1") for user in "ab"]
    recent = await round_trip(own_backend, "c", "BTC/USDT", T0 + 9 * DAY, "c-1")

    report = await journal.archive(T0 + 5 * DAY, now_ms=T0 + 20 * DAY)
    again = await journal.archive(T0 + 5 * DAY, now_ms=T0 + 21 * DAY)

    assert (report.orders, report.fills, report.trades) == (4, 4, 2)
    assert again.total == 0
    assert (await journal.queries.trades()).items == (recent,)
    everything = await journal.queries.trades(include_archived=True)
    assert everything.items == (*old, recent)


async def test_pages_over_live_and_archived_rows_visit_each_row_once(
    own_backend: Backend,
) -> None:
    journal = own_backend.journal
    trades = [
        await round_trip(own_backend, "u", "BTC/USDT", T0 + (i + 1) * DAY, f"t{i:02d}")
        for i in range(7)
    ]
    await journal.archive(T0 + 4 * DAY + 1, now_ms=T0 + 30 * DAY)

    seen: list[Trade] = []
    offset: int | None = 0
    while offset is not None:
        page = await journal.queries.trades(
            user_id="u", include_archived=True, page=PageRequest(offset, 2)
        )
        seen.extend(page.items)
        offset = page.next_offset

    assert seen == trades
    assert len((await journal.queries.trades(user_id="u")).items) == 3


def test_make_page_reads_one_row_ahead() -> None:
    assert make_page([1, 2, 3], PageRequest(4, 2)) == Page((1, 2), 4, 2, 6)
    assert make_page([1, 2], PageRequest(4, 2)) == Page((1, 2), 4, 2, None)
    assert make_page([], PageRequest()) == Page((), 0, 100, None)


@pytest.mark.parametrize("limit", [0, MAX_PAGE_SIZE + 1, True])
def test_page_sizes_are_bounded(limit: int) -> None:
    with pytest.raises(InvalidInputError, match=str(MAX_PAGE_SIZE)):
        PageRequest(limit=limit)
