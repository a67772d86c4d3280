"""Crash-safe file replacement: temp file in the same folder, fsync, os.replace, fsync folder.

A reader sees either the complete old file or the complete new one: ``os.replace`` is atomic
within one filesystem, and the data is on disk before the name points at it. A crash leaves
at most a stray temp file (``.<name>.<pid>-<token>.tmp``), which readers ignore because it
starts with a dot and the next writer of the same file removes under the file's lock.
Writers of one file are serialized by an ``flock`` on ``.<name>.lock`` (POSIX only), so a
read-merge-write never loses another process's rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from xraybot.model.errors import StorageError

TEMP_SUFFIX = ".tmp"
LOCK_SUFFIX = ".lock"


def is_hidden(name: str) -> bool:
    """Tell whether a file name is one of ours to skip when listing (temp or lock files)."""
    return name.startswith(".")


def temp_path_for(path: Path) -> Path:
    """Return a fresh temp file name next to ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def temp_files_of(path: Path) -> list[Path]:
    """Return the temp files left next to ``path`` by writers of it."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    return sorted(
        path.parent / n for n in names if n.startswith(prefix) and n.endswith(TEMP_SUFFIX)
    )


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Create ``path``'s folder if needed and hold the file's exclusive write lock."""
    lock = path.with_name(f".{path.name}{LOCK_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StorageError(
            f"could not create the lock file {lock}: found {e.strerror or e} (errno "
            f"{e.errno}). Make the folder writable (or choose another data folder) and retry."
        ) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def remove_stale_temps(path: Path) -> int:
    """Delete temp files a crashed writer left next to ``path``; call it holding the lock."""
    removed = 0
    for temp in temp_files_of(path):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
            removed += 1
    return removed


def _create_temp(path: Path) -> BinaryIO:
    # One seam for tests that simulate a full disk or a crash in the middle of a write.
    return open(path, "xb")


def write_atomic(path: Path, write: Callable[[BinaryIO], None], what: str) -> None:
    """Replace ``path`` with what ``write`` writes, or leave it untouched and raise StorageError.

    ``what`` names the content in error messages (e.g. "candles mexc BTC/USDT 1m").
    """
    temp = temp_path_for(path)
    try:
        with _create_temp(temp) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(e, OSError):
            raise StorageError(
                f"could not write {what} to {path}: found {e.strerror or e} "
                f"(errno {e.errno}). The stored file is unchanged; free disk space or fix "
                "the folder's permissions and write again."
            ) from e
        raise
    try:
        _sync_folder(path.parent)
    except OSError as e:
        raise StorageError(
            f"wrote {what} to {path} but could not sync its folder: found {e.strerror or e} "
            f"(errno {e.errno}). The file is complete; check the disk before trusting it "
            "after a power cut."
        ) from e


def _sync_folder(folder: Path) -> None:
    # Makes the rename itself durable; without it a power cut may bring back the old name.
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
