"""Envelope encryption of users' exchange keys.

Each user has a random data key (Fernet) that encrypts their API key, secret and
passphrase. The data key is stored only *wrapped*: encrypted by the operator's master key.
Rotating the master key re-wraps the small data keys and never touches the encrypted
credentials; during a rotation the keyring accepts the previous master key as well
(``MultiFernet``), so running processes keep working while the rotation proceeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from xraybot.model.errors import ConfigError
from xraybot.model.users import StoredCredentials
from xraybot.users.credentials import ApiCredentials, validate_master_key
from xraybot.users.redaction import Redactor

_ELLIPSIS = "…"


def master_key_id(master_key: str) -> str:
    """Return a short public fingerprint of a master key (a hash; reveals nothing of it)."""
    digest = hashlib.sha256(b"xraybot master key id\0" + master_key.encode()).hexdigest()
    return digest[:16]


def mask_key(api_key: str) -> str:
    """Return the API key as people may see it: ``sim-…key``; short keys show nothing."""
    if len(api_key) >= 12:
        return f"{api_key[:4]}{_ELLIPSIS}{api_key[-3:]}"
    return _ELLIPSIS


class MasterKeyring:
    """The operator's master key, plus the previous one while a rotation is under way."""

    def __init__(self, master_key: str, redactor: Redactor, previous: str | None = None) -> None:
        for name, key in (("master_key", master_key), ("previous_master_key", previous)):
            if key is None:
                continue
            try:
                validate_master_key(key)
            except ValueError as e:
                raise ConfigError(f"users.{name} must be {e}.") from None
        redactor.register(master_key, previous)
        self.key_id = master_key_id(master_key)
        self.previous_key_id = None if previous is None else master_key_id(previous)
        self._primary = Fernet(master_key.encode())
        keys = [self._primary]
        if previous is not None and previous != master_key:
            keys.append(Fernet(previous.encode()))
        self._any = MultiFernet(keys)

    def wrap(self, data_key: bytes) -> bytes:
        return self._primary.encrypt(data_key)

    def unwrap(self, wrapped: bytes, user_id: str) -> bytes:
        try:
            return self._any.decrypt(wrapped)
        except InvalidToken:
            raise ConfigError(
                f"cannot unwrap the data key of user {user_id!r}: neither users.master_key nor "
                "users.previous_master_key is the master key it was wrapped with. Set the "
                "master key it was stored under (as users.previous_master_key during a "
                "rotation), or have the user enter their keys again."
            ) from None

    def rewrap(self, wrapped: bytes, user_id: str) -> bytes:
        """Return ``wrapped`` re-encrypted under the current master key."""
        self.unwrap(wrapped, user_id)  # raises the explanatory error for a foreign key
        return self._any.rotate(wrapped)


@dataclass(frozen=True, slots=True)
class SealedKeys:
    """What is stored for a user's credentials: the wrapped data key and the tokens."""

    wrapped_key: bytes
    key_id: str
    key_mask: str
    credentials: StoredCredentials


class EnvelopeVault:
    """Seals and opens users' credentials under per-user data keys."""

    def __init__(self, keyring: MasterKeyring, redactor: Redactor) -> None:
        self.keyring = keyring
        self._redactor = redactor

    def seal(
        self,
        user_id: str,
        exchange: str,
        credentials: ApiCredentials,
        ts_ms: int,
        wrapped_key: bytes | None = None,
    ) -> SealedKeys:
        """Encrypt ``credentials``: under the user's data key, or a new one if none given."""
        self._redactor.register(credentials.api_key, credentials.secret, credentials.passphrase)
        if wrapped_key is None:
            data_key = Fernet.generate_key()
            wrapped_key = self.keyring.wrap(data_key)
        else:
            data_key = self.keyring.unwrap(wrapped_key, user_id)
        self._redactor.register(data_key.decode())
        fernet = Fernet(data_key)
        passphrase = credentials.passphrase
        stored = StoredCredentials(
            user_id=user_id,
            exchange=exchange,
            api_key_token=fernet.encrypt(credentials.api_key.encode()),
            secret_token=fernet.encrypt(credentials.secret.encode()),
            passphrase_token=None if passphrase is None else fernet.encrypt(passphrase.encode()),
            key_hint=credentials.key_hint,
            created_ts_ms=ts_ms,
        )
        return SealedKeys(wrapped_key, self.keyring.key_id, mask_key(credentials.api_key), stored)

    def open(self, stored: StoredCredentials, wrapped_key: bytes) -> ApiCredentials:
        data_key = self.keyring.unwrap(wrapped_key, stored.user_id)
        self._redactor.register(data_key.decode())
        fernet = Fernet(data_key)
        try:
            api_key = fernet.decrypt(stored.api_key_token).decode()
            secret = fernet.decrypt(stored.secret_token).decode()
            passphrase = (
                None
                if stored.passphrase_token is None
                else fernet.decrypt(stored.passphrase_token).decode()
            )
        except InvalidToken:
            raise ConfigError(
                f"the {stored.exchange} keys of user {stored.user_id!r} do not match their data "
                "key; the stored row was changed outside xraybot. Remove the user and add "
                "them again with their keys."
            ) from None
        self._redactor.register(api_key, secret, passphrase)
        return ApiCredentials(api_key, secret, passphrase)


__all__ = ["EnvelopeVault", "MasterKeyring", "SealedKeys", "mask_key", "master_key_id"]
