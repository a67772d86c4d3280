from __future__ import annotations

import pytest

from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.users.credentials import ApiCredentials, CredentialVault, new_master_key
from xraybot.users.redaction import Redactor


def test_seal_and_open_round_trip_and_register_the_plain_values() -> None:
    master_key = new_master_key()
    redactor = Redactor()
    plain = ApiCredentials("mx0vglAPIKEY1234", "a-very-secret-secret", "phrase-9")
    stored = CredentialVault(master_key, redactor).seal("alice", "mexc", plain, ts_ms=1)
    assert plain.api_key.encode() not in stored.api_key_token
    assert plain.secret.encode() not in stored.secret_token
    assert stored.key_hint == "1234"
    assert "a-very-secret-secret" in redactor
    assert master_key in redactor

    # After a restart: a new process, the same master key, nothing registered yet.
    restarted = Redactor()
    assert CredentialVault(master_key, restarted).open(stored) == plain
    for value in (plain.api_key, plain.secret, "phrase-9"):
        assert value in restarted


def test_opening_with_another_master_key_says_what_to_do() -> None:
    stored = CredentialVault(new_master_key(), Redactor()).seal(
        "bob", "mexc", ApiCredentials("key-000000001", "secret-0001"), ts_ms=1
    )
    with pytest.raises(ConfigError, match="not the key they were stored with"):
        CredentialVault(new_master_key(), Redactor()).open(stored)


def test_a_bad_master_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        CredentialVault("definitely-not-a-fernet-key", Redactor())
    assert "definitely-not-a-fernet-key" not in str(caught.value)
    assert "new-master-key" in str(caught.value)


def test_repr_never_shows_the_keys() -> None:
    plain = ApiCredentials("mx0vglAPIKEY1234", "a-very-secret-secret")
    for text in (repr(plain), str(plain), f"{plain}", repr([plain])):
        assert "a-very-secret-secret" not in text
        assert "mx0vglAPIKEY1234" not in text


def test_empty_keys_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="both an API key and a secret"):
        ApiCredentials("", "x")
