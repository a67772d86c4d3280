"""Cache keys: canonical, sensitive to everything that decides a result, blind to the rest."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import xraybot
from tests.support.result_cache import Probe, make_candles
from xraybot.backtest.cache_keys import (
    NOT_DECIDING,
    RESULT_PACKAGES,
    cache_key,
    canonical_json,
    code_version,
    data_hash,
    settings_document,
    settings_from_document,
    source_digest,
    strategy_version,
)
from xraybot.backtest.results import BacktestSettings
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.registry import load_strategy

SRC = Path(xraybot.__file__).resolve().parent


def key(**change: Any) -> str:
    parts: dict[str, Any] = {
        "candles_hash": "d" * 64,
        "strategy_name": "rsi_reversion",
        "params": {"period": 14, "entry": 30.0},
        "settings": BacktestSettings(),
        "code_version": "0.1.0/abc",
    } | change
    return cache_key(**parts)


def test_a_key_is_a_sha256_hex_digest_and_deterministic() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", key())
    assert key() == key()


def test_key_order_and_mapping_types_do_not_matter() -> None:
    assert key(params={"entry": 30.0, "period": 14}) == key()
    assert key(params={"period": np.int64(14), "entry": np.float64(30.0)}) == key()
    assert key(settings=settings_document(BacktestSettings())) == key()


@pytest.mark.parametrize(
    "change",
    [
        {"candles_hash": "e" * 64},
        {"strategy_name": "ema_cross"},
        {"params": {"period": 15, "entry": 30.0}},
        {"params": {"period": 14, "entry": 30.000000000000004}},
        {"params": {"period": 14, "entry": 30.0, "extra": True}},
        {"settings": BacktestSettings(fee_rate=0.0011)},
        {"settings": BacktestSettings(exits=ExitRules(partial_targets=((0.02, 0.5),)))},
        {"code_version": "0.1.0/abd"},
        {"exchange": "binance"},
        {"variant": "oos-from-100"},
    ],
)
def test_every_part_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change) != key()


def test_whole_number_settings_share_the_float_key() -> None:
    assert key(settings=BacktestSettings(equity=10_000, fee_rate=0)) == key(
        settings=BacktestSettings(equity=10_000.0, fee_rate=0.0)
    )


def test_values_outside_json_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="plain values"):
        key(params={"period": object()})


@given(st.floats(allow_nan=False))
def test_canonical_json_keeps_every_float_exactly(value: float) -> None:
    assert json.loads(canonical_json({"x": value}))["x"] == value
    assert canonical_json({"b": 1, "a": value}).startswith('{"a":')


@given(
    st.builds(
        BacktestSettings,
        equity=st.integers(1, 10**9) | st.floats(1, 1e9),
        slippage_bps=st.floats(0, 999),
        exits=st.none()
        | st.builds(
            ExitRules,
            take_profit_pct=st.none() | st.floats(0.001, 50),
            partial_targets=st.sampled_from([(), ((1, 0.5),), ((0.01, 0.25), (0.03, 0.5))]),
        ),
    )
)
def test_settings_round_trip_through_their_document(settings: BacktestSettings) -> None:
    document = json.loads(canonical_json(settings_document(settings)))

    assert settings_from_document(document) == settings
    assert settings_document(settings_from_document(document)) == document


# -- data ---------------------------------------------------------------------------------------


def test_the_data_hash_covers_every_column_and_the_identity() -> None:
    candles = make_candles()
    base = data_hash(candles)
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert data_hash(make_candles()) == base
    for name in ("open", "high", "low", "close", "volume"):
        column = np.array(getattr(candles, name))
        column[-1] = -column[-1]
        assert data_hash(dataclasses.replace(candles, **{name: column})) != base, name
    later = np.array(candles.ts_ms)
    later[-1] += 1
    assert data_hash(dataclasses.replace(candles, ts_ms=later)) != base
    assert data_hash(dataclasses.replace(candles, symbol="ETH/USDT")) != base
    assert data_hash(dataclasses.replace(candles, timeframe="4h")) != base


def test_a_slice_hashes_like_a_copy_of_it() -> None:
    candles = make_candles(100)
    piece = candles.tail(40)
    copy = dataclasses.replace(
        piece, **{n: np.array(getattr(piece, n)) for n in ("ts_ms", "open", "close")}
    )

    assert data_hash(piece) == data_hash(copy)


# -- code -----------------------------------------------------------------------------------------


def test_the_code_version_names_the_release_and_is_computed_once() -> None:
    version = code_version()

    assert version.startswith(f"{xraybot.__version__}/")
    assert code_version() is version


def copy_tree(tmp_path: Path) -> list[tuple[str, Path]]:
    folders = []
    for package in RESULT_PACKAGES:
        label = package.rsplit(".", 1)[-1]
        shutil.copytree(SRC / label, tmp_path / label, ignore=shutil.ignore_patterns("*.pyc"))
        folders.append((label, tmp_path / label))
    return folders


@pytest.mark.parametrize(
    ("edited", "changes"),
    [
        ("matching/rules.py", True),
        ("risk/exits.py", True),
        ("indicators/talib_.py", True),
        ("strategy/builtin/rsi_reversion.py", True),
        ("backtest/results.py", True),
        ("backtest/cache.py", False),
        ("backtest/cache_payload.py", False),
    ],
)
def test_editing_a_rule_changes_the_source_digest(
    tmp_path: Path, edited: str, changes: bool
) -> None:
    folders = copy_tree(tmp_path)
    before = source_digest(folders, NOT_DECIDING)

    with (tmp_path / edited).open("a") as file:
        file.write("\n# edited\n")

    assert (source_digest(folders, NOT_DECIDING) != before) is changes


def test_a_new_module_in_a_deciding_package_changes_the_source_digest(tmp_path: Path) -> None:
    folders = copy_tree(tmp_path)
    before = source_digest(folders, NOT_DECIDING)

    (tmp_path / "backtest" / "kernel_v2.py").write_text("X = 1\n")

    assert source_digest(folders, NOT_DECIDING) != before


def test_the_real_packages_are_hashed(tmp_path: Path) -> None:
    # The digest of a copy equals the digest code_version() took of the installed tree.
    folders = copy_tree(tmp_path)
    real = [(label, SRC / label) for label, _ in folders]

    assert source_digest(folders, NOT_DECIDING) == source_digest(real, NOT_DECIDING)


def test_built_in_strategies_add_nothing_and_user_files_add_their_hash(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        "from xraybot.strategy.builtin.rsi_reversion import RsiReversion\n\n\n"
        "class Mine(RsiReversion):\n    name = 'mine'\n"
    )

    assert strategy_version(load_strategy("rsi_reversion")) == ""
    mine = strategy_version(load_strategy(str(path)))
    assert mine is not None
    assert re.fullmatch(r"[0-9a-f]{32}", mine)
    assert strategy_version(Probe()) not in ("", None)  # defined in a test module
