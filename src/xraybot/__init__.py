"""xraybot: a multi-user, self-learning crypto trading system.

The package map, the one-way flow and the decisions behind them are in
``docs/architecture.md``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xraybot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
