"""Envelope encryption: per-user data keys wrapped by the master key; settings validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.model.errors import ConfigError
from xraybot.users.credentials import ApiCredentials, new_master_key
from xraybot.users.envelope import EnvelopeVault, MasterKeyring, mask_key, master_key_id
from xraybot.users.redaction import Redactor
from xraybot.users.settings import UserSettings, settings_from, with_changes

PLAIN = ApiCredentials("mx0vglAPIKEY1234", "a-very-secret-secret", "phrase-9")


def test_seal_and_open_round_trip_with_a_data_key_per_user() -> None:
    master, redactor = new_master_key(), Redactor()
    vault = EnvelopeVault(MasterKeyring(master, redactor), redactor)
    alice = vault.seal("alice", "mexc", PLAIN, ts_ms=1)
    bob = vault.seal("bob", "mexc", PLAIN, ts_ms=1)

    assert alice.wrapped_key != bob.wrapped_key
    assert PLAIN.api_key.encode() not in alice.credentials.api_key_token
    assert alice.key_mask == "mx0v…234"
    assert alice.key_id == master_key_id(master)
    restarted = Redactor()
    reopened = EnvelopeVault(MasterKeyring(master, restarted), restarted)
    assert reopened.open(alice.credentials, alice.wrapped_key) == PLAIN
    assert PLAIN.secret in restarted
    assert master in restarted


def test_rewrap_moves_the_data_key_and_leaves_the_credentials_alone() -> None:
    old, new = new_master_key(), new_master_key()
    sealed = EnvelopeVault(MasterKeyring(old, Redactor()), Redactor()).seal(
        "alice", "mexc", PLAIN, ts_ms=1
    )
    during = MasterKeyring(new, Redactor(), previous=old)
    rewrapped = during.rewrap(sealed.wrapped_key, "alice")

    only_new = EnvelopeVault(MasterKeyring(new, Redactor()), Redactor())
    assert only_new.open(sealed.credentials, rewrapped) == PLAIN
    with pytest.raises(ConfigError, match="previous_master_key"):
        only_new.open(sealed.credentials, sealed.wrapped_key)
    # Re-wrapping twice is harmless: a resumed rotation may meet keys already done.
    assert only_new.open(sealed.credentials, during.rewrap(rewrapped, "alice")) == PLAIN


def test_a_bad_master_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match=r"users\.previous_master_key") as caught:
        MasterKeyring(new_master_key(), Redactor(), previous="not-a-fernet-key-at-all")
    assert "not-a-fernet-key-at-all" not in str(caught.value)


@settings(max_examples=50)
@given(st.text(min_size=1, max_size=64).filter(lambda s: "…" not in s))
def test_a_mask_never_shows_more_than_seven_characters(key: str) -> None:
    masked = mask_key(key)
    assert len(masked.replace("…", "")) <= 7
    if len(key) < 12:
        assert masked == "…"


def test_settings_defaults_and_changes() -> None:
    changed = with_changes(
        UserSettings(),
        ['selection={"symbols": ["BTC/USDT"]}', "market=spot", "leverage_cap=1", "mode=live"],
        where="test",
    )
    assert changed.selection.symbols == ("BTC/USDT",)
    assert changed.mode == "live"
    assert settings_from(changed.to_document()) == changed


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("mode=demo", "settings.mode"),
        ("trade_fraction=1.5", "settings.trade_fraction"),
        ("strategy.nmae=x", "settings.strategy.nmae"),
        ("leverage_kap=3", "settings.leverage_kap"),
        ('selection.symbols=["BTCUSDT"]', "settings.selection"),
    ],
)
def test_settings_errors_name_the_key(assignment: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        with_changes(UserSettings(), [assignment], where="test")


def test_spot_refuses_leverage_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="leverage_cap"):
        with_changes(UserSettings(), ["market=spot"], where="test")
