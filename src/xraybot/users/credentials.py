"""Users' exchange API keys: encrypted at rest with the operator's master key.

Plain keys exist only in memory, inside :class:`ApiCredentials`, whose repr hides them.
Every plain value that passes through the vault is registered with the redactor.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.model.users import StoredCredentials
from xraybot.users.redaction import Redactor

_HOW_TO_MAKE_A_KEY = "create one with `xraybot config new-master-key`"


def new_master_key() -> str:
    """Return a fresh random master key (Fernet: 32 random bytes, url-safe base64)."""
    return Fernet.generate_key().decode()


def validate_master_key(key: str) -> None:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        # The message must not echo the key itself.
        raise ValueError(
            f"a Fernet key: 32 url-safe base64-encoded bytes; {_HOW_TO_MAKE_A_KEY}"
        ) from None


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    api_key: str
    secret: str
    passphrase: str | None = None

    def __post_init__(self) -> None:
        if not self.api_key or not self.secret:
            raise InvalidInputError(
                "exchange credentials need both an API key and a secret; one was empty."
            )

    @property
    def key_hint(self) -> str:
        return self.api_key[-4:] if len(self.api_key) > 8 else ""

    def __repr__(self) -> str:
        return f"ApiCredentials(api_key='…{self.key_hint}', secret=***)"

    __str__ = __repr__


class CredentialVault:
    """Seals and opens users' API keys with the master key; registers plain values as secrets."""

    def __init__(self, master_key: str, redactor: Redactor) -> None:
        try:
            validate_master_key(master_key)
        except ValueError as e:
            raise ConfigError(f"users.master_key must be {e}.") from None
        self._fernet = Fernet(master_key.encode())
        self._redactor = redactor
        redactor.register(master_key)

    def seal(
        self, user_id: str, exchange: str, credentials: ApiCredentials, ts_ms: int
    ) -> StoredCredentials:
        self._redactor.register(credentials.api_key, credentials.secret, credentials.passphrase)
        return StoredCredentials(
            user_id=user_id,
            exchange=exchange,
            api_key_token=self._fernet.encrypt(credentials.api_key.encode()),
            secret_token=self._fernet.encrypt(credentials.secret.encode()),
            passphrase_token=(
                None
                if credentials.passphrase is None
                else self._fernet.encrypt(credentials.passphrase.encode())
            ),
            key_hint=credentials.key_hint,
            created_ts_ms=ts_ms,
        )

    def open(self, stored: StoredCredentials) -> ApiCredentials:
        try:
            api_key = self._fernet.decrypt(stored.api_key_token).decode()
            secret = self._fernet.decrypt(stored.secret_token).decode()
            passphrase = (
                None
                if stored.passphrase_token is None
                else self._fernet.decrypt(stored.passphrase_token).decode()
            )
        except InvalidToken:
            raise ConfigError(
                f"cannot decrypt the API keys of user {stored.user_id!r} on {stored.exchange}: "
                "users.master_key is not the key they were stored with. Restore the original "
                "master key, or have the user enter their keys again."
            ) from None
        self._redactor.register(api_key, secret, passphrase)
        return ApiCredentials(api_key, secret, passphrase)
