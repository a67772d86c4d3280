"""A killed write or a full disk leaves the complete old file (or the complete new one), readable.

The killed writes run in a child process that is SIGKILLed: at fixed points of the write
(while the temp file is half written, just before ``os.replace``, just after it), and at
random times while it rewrites the series over and over. After every kill the stored
series must equal one of the two versions exactly, read cleanly, and the stray temp file
must be invisible to readers and removed by the next writer.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest

from tests.support.store import MINUTE, T0, make_candles, same_bits, steps
from xraybot.data import atomic
from xraybot.data.store import CandleStore, SeriesKey
from xraybot.data.universe import UniverseStore
from xraybot.model import Candles
from xraybot.model.errors import StorageError

ROWS = 200_000

# The child writes version B (or A and B alternately) of the series into the store whose
# arrays the parent saved; ``point`` chooses where it stops to be killed.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from pathlib import Path
    from xraybot.data import atomic
    from xraybot.data.store import CandleStore
    from xraybot.model import Candles

    root, arrays, point = Path(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
    names = ("ts_ms", "open", "high", "low", "close", "volume")
    versions = [
        Candles("BTC/USDT", "1m", *(arrays[f"{v}_{n}"] for n in names)) for v in ("a", "b")
    ]
    store = CandleStore(root)

    def ready_then_hang():
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        time.sleep(600)

    real_replace, real_create = os.replace, atomic._create_temp

    class HangMidway:
        def __init__(self, file):
            self.file, self.written = file, 0
        def write(self, data):
            self.file.write(data)
            self.written += len(data)
            if self.written > 256 * 1024:
                self.file.flush()
                ready_then_hang()
            return len(data)
        def __getattr__(self, name):
            return getattr(self.file, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.file.close()

    if point == "mid":
        atomic._create_temp = lambda path: HangMidway(real_create(path))
    elif point == "before_replace":
        os.replace = lambda src, dst: ready_then_hang()
    elif point == "after_replace":
        def replace_then_hang(src, dst):
            real_replace(src, dst)
            ready_then_hang()
        os.replace = replace_then_hang

    if point == "loop":
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        i = 1
        while True:
            store.write("mexc", versions[i % 2])
            i += 1
    else:
        store.write("mexc", versions[1])
        sys.stdout.write("finished\\n")
    """
)

NAMES = ("ts_ms", "open", "high", "low", "close", "volume")


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Candles, Candles, Path]:
    """Two complete versions of one series (same times, different prices) saved for the child."""
    a = make_candles(steps(T0, ROWS), seed=1)
    b = make_candles(steps(T0, ROWS), seed=2, scale=2.0)
    path = tmp_path_factory.mktemp("versions") / "versions.npz"
    np.savez(
        path, **{f"a_{n}": getattr(a, n) for n in NAMES}, **{f"b_{n}": getattr(b, n) for n in NAMES}
    )
    return a, b, path


def start_child(root: Path, arrays: Path, point: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(arrays), point],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if line != "ready\n":
        child.kill()
        _, err = child.communicate(timeout=30)
        pytest.fail(f"the child did not get ready: {line!r}\n{err}")
    return child


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL


def stored_version(store: CandleStore, a: Candles, b: Candles) -> str:
    """Return which complete version the store holds; fail if it is anything else."""
    got = store.read("mexc", "BTC/USDT", "1m")
    if same_bits(got, a):
        return "old"
    if same_bits(got, b):
        return "new"
    pytest.fail(f"the stored series is neither version: {len(got)} rows")


def temps(store: CandleStore) -> list[Path]:
    return atomic.temp_files_of(store.path("mexc", "BTC/USDT", "1m"))


def check_recovery(store: CandleStore) -> None:
    """Readers ignore stray temp files, and the next write removes them and succeeds."""
    assert store.series() == [SeriesKey("mexc", "BTC/USDT", "1m")]
    extra = make_candles(steps(T0 + ROWS * MINUTE, 10), seed=9)
    report = store.write("mexc", extra)
    assert report.rows == ROWS + 10
    assert temps(store) == []
    assert same_bits(store.read("mexc", "BTC/USDT", "1m", T0 + ROWS * MINUTE), extra)


@pytest.mark.parametrize(
    ("point", "expected", "stray_temp"),
    [("mid", "old", True), ("before_replace", "old", True), ("after_replace", "new", False)],
)
def test_a_write_killed_at_each_point_leaves_a_complete_version(
    tmp_path: Path,
    versions: tuple[Candles, Candles, Path],
    point: str,
    expected: str,
    stray_temp: bool,
) -> None:
    a, b, arrays = versions
    store = CandleStore(tmp_path)
    store.write("mexc", a)
    child = start_child(tmp_path, arrays, point)
    kill(child)
    assert stored_version(store, a, b) == expected
    left = temps(store)
    assert len(left) == (1 if stray_temp else 0)
    if point == "mid":
        assert 0 < left[0].stat().st_size < store.path("mexc", "BTC/USDT", "1m").stat().st_size
    check_recovery(store)


def test_writes_killed_at_random_times_leave_a_complete_version(
    tmp_path: Path, versions: tuple[Candles, Candles, Path]
) -> None:
    """Kill at a random moment after a temp file appears: inside the write, or just after."""
    a, b, arrays = versions
    store = CandleStore(tmp_path)
    store.write("mexc", a)
    rng = random.Random(20261121)
    outcomes: list[tuple[str, bool]] = []
    for _ in range(12):
        for left in temps(store):  # so that a temp file seen below is the new child's
            left.unlink()
        child = start_child(tmp_path, arrays, "loop")
        deadline = time.monotonic() + 60
        while not temps(store) and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0.0, 0.04))
        kill(child)
        outcomes.append((stored_version(store, a, b), bool(temps(store))))
        if sum(mid for _, mid in outcomes) >= 3:
            break
    stray = temps(store)
    assert sum(mid for _, mid in outcomes) >= 3, f"too few kills inside a write: {outcomes}"
    assert stray  # the last kill left its temp file; the next writer removes it
    check_recovery(store)


# -- full disks -------------------------------------------------------------------------


class FullDisk:
    """A temp file that accepts ``room`` bytes, then fails like a full disk."""

    def __init__(self, file: BinaryIO, room: int) -> None:
        self.file, self.room = file, room

    def write(self, data: Any) -> int:
        if len(data) > self.room:
            self.file.write(bytes(data)[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _disk_fills_after(monkeypatch: pytest.MonkeyPatch, room: int) -> list[Path]:
    created: list[Path] = []
    real = atomic._create_temp

    def create(path: Path) -> Any:
        created.append(path)
        return FullDisk(real(path), room)

    monkeypatch.setattr(atomic, "_create_temp", create)
    return created


def test_a_disk_filling_up_midway_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CandleStore(tmp_path)
    old = make_candles(steps(T0, 50_000), seed=1)
    store.write("mexc", old)
    path = store.path("mexc", "BTC/USDT", "1m")
    before = path.read_bytes()
    created = _disk_fills_after(monkeypatch, room=len(before) // 2)
    with pytest.raises(StorageError) as caught:
        store.write("mexc", make_candles(steps(T0, 60_000), seed=2, scale=2.0))
    assert "No space left on device" in str(caught.value)
    assert "The stored file is unchanged" in str(caught.value)
    assert len(created) == 1
    assert not created[0].exists()  # the half-written temp is gone
    assert path.read_bytes() == before
    assert same_bits(store.read("mexc", "BTC/USDT", "1m"), old)


def test_a_full_disk_reported_by_fsync_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CandleStore(tmp_path)
    old = make_candles(steps(T0, 1_000), seed=1)
    store.write("mexc", old)
    before = store.path("mexc", "BTC/USDT", "1m").read_bytes()

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(StorageError, match="errno 28"):
        store.write("mexc", make_candles(steps(T0, 2_000), seed=2))
    monkeypatch.undo()
    assert store.path("mexc", "BTC/USDT", "1m").read_bytes() == before
    assert temps(store) == []


def test_a_real_file_size_limit_fails_the_write_and_keeps_the_old_file(
    tmp_path: Path, versions: tuple[Candles, Candles, Path]
) -> None:
    """The kernel itself refuses the write (RLIMIT_FSIZE → EFBIG) halfway through."""
    store = CandleStore(tmp_path)
    old = make_candles(steps(T0, 20_000), seed=1)
    store.write("mexc", old)
    size = store.path("mexc", "BTC/USDT", "1m").stat().st_size
    script = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        import numpy as np
        from xraybot.data.store import CandleStore
        from xraybot.model import Candles
        from xraybot.model.errors import StorageError
        arrays = np.load(sys.argv[2])
        names = ("ts_ms", "open", "high", "low", "close", "volume")
        bigger = Candles("BTC/USDT", "1m", *(arrays[f"b_{n}"] for n in names))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = int(sys.argv[3])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            CandleStore(Path(sys.argv[1])).write("mexc", bigger)
        except StorageError as e:
            print("refused:", e)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(versions[2]), str(size)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "refused: could not write candles mexc BTC/USDT 1m" in result.stdout
    assert "File too large" in result.stdout
    assert same_bits(store.read("mexc", "BTC/USDT", "1m"), old)
    assert temps(store) == []


def test_a_full_disk_leaves_the_universe_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    universe = UniverseStore(tmp_path)
    days = np.arange(30, dtype=np.int64) * 86_400_000 + T0
    universe.record_daily("mexc", "BTC/USDT", days, np.full(30, 1e6))
    path = universe.path("mexc")
    before = path.read_bytes()
    _disk_fills_after(monkeypatch, room=100)
    with pytest.raises(StorageError, match="the mexc universe"):
        universe.record_daily("mexc", "ETH/USDT", days, np.full(30, 5e5))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [r.symbol for r in universe.as_of("mexc", T0 + 40 * 86_400_000)] == ["BTC/USDT"]
    assert atomic.temp_files_of(path) == []
