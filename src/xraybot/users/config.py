"""Operator settings for user credentials: the master key, from the environment or a file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from xraybot.model.errors import ConfigError
from xraybot.users.credentials import validate_master_key


def _fernet_key(value: SecretStr | None) -> SecretStr | None:
    if value is None or not value.get_secret_value():
        return None
    validate_master_key(value.get_secret_value())
    return value


class UsersConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    master_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that wraps users' data keys (which encrypt their exchange API "
        "keys); create one with `xraybot config new-master-key`. Without it, API keys cannot "
        "be stored. Set it through XRAYBOT_USERS__MASTER_KEY or master_key_file.",
    )
    master_key_file: Path | None = Field(
        default=None, description="A file holding the master key (used when master_key is unset)."
    )
    previous_master_key: SecretStr | None = Field(
        default=None,
        description="During `xraybot keys rotate` only: the master key being replaced. Data "
        "keys wrapped under it still open; remove it once the rotation reports none left.",
    )

    @field_validator("master_key", "previous_master_key")
    @classmethod
    def _fernet(cls, value: SecretStr | None) -> SecretStr | None:
        return _fernet_key(value)

    def resolved_master_key(self) -> str | None:
        """Return the master key from master_key, else from master_key_file, else None."""
        if self.master_key is not None:
            return self.master_key.get_secret_value()
        if self.master_key_file is None:
            return None
        path = self.master_key_file.expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(
                f"users.master_key_file {path} cannot be read ({type(e).__name__}); "
                "point it at the file `xraybot config new-master-key` output was saved to."
            ) from None
        try:
            validate_master_key(key)
        except ValueError as e:
            raise ConfigError(f"users.master_key_file {path} must hold {e}.") from None
        return key

    def previous_key(self) -> str | None:
        return (
            None
            if self.previous_master_key is None
            else self.previous_master_key.get_secret_value()
        )
