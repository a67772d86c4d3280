from __future__ import annotations

from pathlib import Path

from xraybot.backtest.numba_cache import COMPILED_IN, drop_stale_cache


def _tree(root: Path) -> None:
    for name in COMPILED_IN:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"# {name}\n")


def _cached(root: Path) -> Path:
    folder = root / "backtest" / "__pycache__"
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / "kernel.simulate_symbol-424.py311.nbi"
    entry.write_bytes(b"cached")
    return entry


def test_the_cache_is_dropped_only_when_a_compiled_in_rule_changes(tmp_path: Path) -> None:
    _tree(tmp_path)
    entry = _cached(tmp_path)
    assert drop_stale_cache(tmp_path)  # no stamp yet: nothing proves the cache is current
    assert not entry.exists()
    entry = _cached(tmp_path)
    assert not drop_stale_cache(tmp_path)
    assert entry.exists()
    # An edited rule in another package than the cached loop's.
    (tmp_path / "matching" / "rules.py").write_text("# a changed stop rule\n")
    assert drop_stale_cache(tmp_path)
    assert not entry.exists()
