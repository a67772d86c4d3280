"""What identifies a backtest: its data, request and code, hashed into one cache key.

``cache_key`` hashes the canonical JSON (sorted keys, shortest round-trip float reprs) of
the data hash, exchange, strategy name, resolved params, settings, code version and an
optional variant. ``code_version`` covers xraybot's version, the libraries the kernel
computes with and the source of every package that decides a result; ``strategy_version``
adds the files of a user strategy, which live outside those packages.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import importlib.util
import inspect
import json
import types
import typing
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import Any

import numpy as np

import xraybot
from xraybot.backtest.results import BacktestSettings
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import Strategy

# Bumped when the key document changes shape, so old keys cannot collide with new ones.
_KEY_FORMAT = 1
_DIGEST_SIZE = 32

# Packages whose source decides a result; editing any file in them changes code_version().
RESULT_PACKAGES = (
    "xraybot.backtest",
    "xraybot.strategy",
    "xraybot.risk",
    "xraybot.matching",
    "xraybot.indicators",
)
# Modules that never change a run's result (the cache itself has its own format numbers).
# Anything not matched here counts as deciding: a needless recompute beats a stale result.
NOT_DECIDING = (
    "backtest/cache*.py",
    "backtest/report*.py",
    "backtest/shared_data.py",
    # Callers of the kernel that do not change what one backtest returns.
    "backtest/bias*.py",
    "backtest/optimize*.py",
    "backtest/sweep*.py",
    "backtest/walkforward*.py",
    "backtest/robustness.py",
    "backtest/select.py",
    "backtest/select_config.py",
    "backtest/select_regime.py",
    "backtest/select_report.py",
)
# Libraries the kernel and the indicators compute with.
_RESULT_LIBRARIES = ("numpy", "numba", "ta-lib")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise InvalidInputError(
        f"a backtest cache key takes numbers, text, booleans, lists and mappings; found "
        f"{type(value).__name__} {value!r}. Pass plain values."
    )


def canonical_json(value: Any) -> str:
    """Render ``value`` as JSON with sorted keys and shortest round-trip float reprs."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _float_fields(cls: type) -> frozenset[str]:
    floats = set()
    for name, hint in typing.get_type_hints(cls).items():
        members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if float in members:
            floats.add(name)
    return frozenset(floats)


def _record_document(record: BacktestSettings | ExitRules) -> dict[str, Any]:
    # 10_000 and 10_000.0 are the same equity: write both as a float so they share a key.
    floats = _float_fields(type(record))
    document: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name in floats and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        document[f.name] = value
    return document


def settings_document(settings: BacktestSettings) -> dict[str, Any]:
    """Return the settings as plain JSON data, numbers normalised to their declared type."""
    document = _record_document(settings)
    if settings.exits is not None:
        exits = _record_document(settings.exits)
        exits["partial_targets"] = [
            [float(level), float(fraction)] for level, fraction in settings.exits.partial_targets
        ]
        document["exits"] = exits
    return document


def settings_from_document(document: Mapping[str, Any]) -> BacktestSettings:
    """Rebuild settings written by :func:`settings_document`."""
    values = dict(document)
    exits = values.get("exits")
    if exits is not None:
        rules = dict(exits)
        rules["partial_targets"] = tuple(
            (float(level), float(fraction)) for level, fraction in rules.get("partial_targets", ())
        )
        values["exits"] = ExitRules(**rules)
    return BacktestSettings(**values)


def data_hash(candles: Candles) -> str:
    """Return the blake2b-256 hex digest of the candles' symbol, timeframe and OHLCV bytes."""
    digest = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    digest.update(canonical_json([candles.symbol, candles.timeframe, len(candles)]).encode())
    for name in ("ts_ms", "open", "high", "low", "close", "volume"):
        column = np.ascontiguousarray(getattr(candles, name))
        digest.update(column.dtype.str.encode())
        digest.update(column.data)
    return digest.hexdigest()


@functools.cache
def _package_dirs() -> tuple[tuple[str, Path], ...]:
    found = []
    for package in RESULT_PACKAGES:
        # find_spec imports the parent (xraybot) only, never the numba kernel.
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append((package.rsplit(".", 1)[-1], Path(location).resolve()))
    return tuple(found)


def source_digest(folders: Iterable[tuple[str, Path]], skip: tuple[str, ...] = ()) -> str:
    """Hash every ``.py`` file under ``folders`` (label, path) by name and content.

    Names are ``label/relative/path.py``; those matching a ``skip`` glob are left out.
    """
    digest = hashlib.blake2b(digest_size=16)
    for label, folder in folders:
        for path in sorted(folder.rglob("*.py")):
            name = f"{label}/{path.relative_to(folder).as_posix()}"
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in skip):
                continue
            digest.update(name.encode() + b"\0")
            digest.update(hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
    return digest.hexdigest()


@functools.cache
def code_version() -> str:
    """Return xraybot's version plus a hash of the libraries and sources that decide a result.

    Computed once per process; an edit to any rule, indicator, kernel or built-in strategy
    (or another numpy, numba or TA-Lib) gives a new version, so older results are not found.
    """
    libraries = []
    for library in _RESULT_LIBRARIES:
        try:
            libraries.append(f"{library}={distribution_version(library)}")
        except PackageNotFoundError:
            libraries.append(f"{library}=absent")
    digest = hashlib.blake2b(digest_size=16)
    digest.update(";".join(libraries).encode())
    digest.update(source_digest(_package_dirs(), NOT_DECIDING).encode())
    return f"{xraybot.__version__}/{digest.hexdigest()}"


@functools.cache
def _class_source(cls: type) -> Path | None:
    # Cached per class object: the hash describes the code that was loaded, and a
    # strategy file loaded again after an edit is a new class.
    try:
        source = inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None
    if source is None or not Path(source).is_file():
        return None
    return Path(source).resolve()


@functools.cache
def _file_digest(path: Path, cls: type) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def strategy_version(strategy: Strategy) -> str | None:
    """Hash the strategy's source files that :func:`code_version` does not cover.

    Return "" for a built-in strategy, a hex digest for a user strategy (the files of its
    class and of its Strategy base classes), or None when a file cannot be found (a class
    typed into a REPL): then an edit could not invalidate a cached result.
    """
    covered = [folder for _, folder in _package_dirs()]
    parts: list[str] = []
    for cls in type(strategy).__mro__:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            continue
        source = _class_source(cls)
        if source is None:
            return None
        if not any(source.is_relative_to(folder) for folder in covered):
            parts.append(f"{cls.__qualname__}:{_file_digest(source, cls)}")
    if not parts:
        return ""
    return hashlib.blake2b(";".join(parts).encode(), digest_size=16).hexdigest()


def cache_key(
    candles_hash: str,
    strategy_name: str,
    params: Mapping[str, Any],
    settings: BacktestSettings | Mapping[str, Any],
    code_version: str,
    *,
    exchange: str = "",
    variant: str = "",
) -> str:
    """Return the sha256 hex key of one backtest request.

    ``variant`` separates runs the other parts cannot tell apart, such as a run whose
    entries were masked before an out-of-sample start.
    """
    document = {
        "format": _KEY_FORMAT,
        "data": candles_hash,
        "exchange": exchange,
        "strategy": strategy_name,
        "params": dict(params),
        "settings": (
            settings_document(settings) if isinstance(settings, BacktestSettings) else settings
        ),
        "code": code_version,
        "variant": variant,
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


__all__ = [
    "NOT_DECIDING",
    "RESULT_PACKAGES",
    "cache_key",
    "canonical_json",
    "code_version",
    "data_hash",
    "settings_document",
    "settings_from_document",
    "source_digest",
    "strategy_version",
]
