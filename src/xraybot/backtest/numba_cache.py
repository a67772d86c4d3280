"""Drop numba's on-disk kernel cache when any rule the kernel compiles in has changed.

numba checks only the source file of the function it caches, but the backtest loops compile
in rules from ``matching`` and ``risk``: after editing a rule, the cached loop would keep
running the old one. One hash over every module the loops compile in, kept next to the
cache, detects that and deletes the stale entries before anything loads them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
# The modules whose functions end up inside the cached loops.
COMPILED_IN = (
    "matching/rules.py",
    "matching/costs.py",
    "matching/kernel.py",
    "risk/exits.py",
    "risk/sizing.py",
    "risk/leverage.py",
    "risk/protections.py",
    "risk/protections_layout.py",
    "risk/limits.py",
    "risk/kernel.py",
    "backtest/kernel_layout.py",
    "backtest/kernel_risk.py",
    "backtest/kernel_steps.py",
    "backtest/kernel.py",
    "backtest/portfolio_kernel.py",
)
_STAMP = "numba-deps.sha256"


def sources_digest(root: Path = _PACKAGE) -> str:
    digest = hashlib.sha256()
    for name in COMPILED_IN:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def drop_stale_cache(root: Path = _PACKAGE) -> bool:
    """Delete cached numba code under ``root`` if the compiled-in sources changed.

    Returns True when entries were dropped. A read-only install cannot hold a cache next to
    its sources, so there is nothing to check and nothing is done.
    """
    stamp = root / "backtest" / "__pycache__" / _STAMP
    current = sources_digest(root)
    try:
        if stamp.read_text() == current:
            return False
    except OSError:
        pass
    dropped = False
    try:
        for package in {name.split("/")[0] for name in COMPILED_IN}:
            for cached in (root / package / "__pycache__").glob("*.nb[ic]"):
                cached.unlink(missing_ok=True)
                dropped = True
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(current)
    except OSError:
        return dropped
    return dropped
