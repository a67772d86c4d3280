"""Where market data lives: ``--data-dir``, else ``$XRAYBOT_DATA_DIR``, else a per-user folder.

The default is ``<platformdirs user data dir>/xraybot/market``: a folder of its own next to
the SQLite journal, so deleting downloaded history never touches the trade journal.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator

DATA_DIR_ENV = "XRAYBOT_DATA_DIR"


def default_data_dir() -> Path:
    """Return the per-user market data folder (computed only; nothing is created)."""
    return Path(platformdirs.user_data_dir("xraybot", appauthor=False)) / "market"


def resolve_data_dir(cli_value: Path | None) -> Path:
    """Return the store root: the CLI value, else ``$XRAYBOT_DATA_DIR``, else the default."""
    if cli_value is not None and str(cli_value):
        chosen = cli_value
    elif os.environ.get(DATA_DIR_ENV):
        chosen = Path(os.environ[DATA_DIR_ENV])
    else:
        chosen = default_data_dir()
    # Absolute, so messages and later chdir()s cannot change which folder is meant.
    return chosen.expanduser().absolute()


class DataConfig(BaseModel):
    """Settings of the market data layer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(
        default_factory=lambda: resolve_data_dir(None),
        description=f"Root of the candle store (default ${DATA_DIR_ENV} or the per-user "
        "data folder + /market).",
    )

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        path = value.expanduser().absolute()
        if path.exists() and not path.is_dir():
            raise ValueError(f"a folder for the candle store (found the file {str(path)!r})")
        return path

    @classmethod
    def from_cli(cls, data_dir: Path | None) -> DataConfig:
        """Build the config for a command given its ``--data-dir`` value (None if absent)."""
        return cls(data_dir=resolve_data_dir(data_dir))
