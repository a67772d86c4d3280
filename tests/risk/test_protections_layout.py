"""risk.protections after its split: the layout's names stay importable from it, and every
module the compiled rules come from is one whose change drops numba's disk cache."""

from __future__ import annotations

import inspect
from pathlib import Path

from xraybot.backtest.numba_cache import COMPILED_IN
from xraybot.matching import kernel as matching_kernel
from xraybot.risk import kernel as risk_kernel
from xraybot.risk import protections, protections_layout

PACKAGE = Path(protections.__file__).resolve().parents[1]


def test_every_layout_name_is_importable_from_protections() -> None:
    public = {name for name in vars(protections_layout) if not name.startswith("_")}
    missing = {name for name in public if getattr(protections, name, None) is None}
    assert not missing
    for name in public:
        assert getattr(protections, name) is getattr(protections_layout, name)


def test_the_rules_and_the_layout_are_separate_modules() -> None:
    assert protections.entry_block.__module__ == protections.__name__
    assert protections.protection_state.__module__ == protections_layout.__name__


def test_every_compiled_rule_s_module_is_watched_by_the_numba_cache() -> None:
    sources = set()
    for compiled in (*risk_kernel.COMPILED.values(), *matching_kernel.COMPILED.values()):
        path = Path(inspect.getfile(compiled.py_func)).resolve()  # type: ignore[attr-defined]
        sources.add(path.relative_to(PACKAGE).as_posix())
    assert sources - set(COMPILED_IN) == set()
    assert "risk/protections_layout.py" in sources
