"""Where the journal lives: SQLite under the data directory by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("xraybot", appauthor=False))


class StorageConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the SQLite journal and other local state.",
    )
    # A secret: a PostgreSQL URL usually carries a password.
    database_url: SecretStr | None = Field(
        default=None,
        description="sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB; "
        "empty means SQLite at <data_dir>/xraybot.sqlite3.",
    )
    echo_sql: bool = False
    pool_size: int = Field(default=5, ge=1, le=200)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = value.get_secret_value().split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"a sqlite:// or postgresql:// URL (the scheme was {scheme!r})")
        return value

    def sqlalchemy_url(self) -> str:
        """Return the async SQLAlchemy URL (with its password: never log this)."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{self.data_dir.expanduser() / 'xraybot.sqlite3'}"
        raw = self.database_url.get_secret_value()
        scheme, rest = raw.split(":", 1)
        backend = scheme.split("+", 1)[0]
        if backend in ("postgresql", "postgres"):
            return f"postgresql+asyncpg:{rest}"
        return f"sqlite+aiosqlite:{rest}"
