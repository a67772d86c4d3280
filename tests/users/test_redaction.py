from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.users.redaction import MASK, Redactor, is_sensitive_key

secret_text = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.:/@%+=!#$&",
    min_size=6,
    max_size=40,
)
filler = st.text(alphabet=string.printable.replace("*", ""), max_size=60)


@settings(max_examples=200)
@given(secret=secret_text, before=filler, after=filler)
def test_a_registered_secret_never_survives_in_text(secret: str, before: str, after: str) -> None:
    redactor = Redactor([secret])
    assert secret not in redactor.redact_text(before + secret + after + secret)


@settings(max_examples=100)
@given(secret=secret_text)
def test_url_encoded_forms_are_masked_too(secret: str) -> None:
    from urllib.parse import quote

    redactor = Redactor([secret])
    assert quote(secret, safe="") not in redactor.redact_text(
        f"redis://:{quote(secret, safe='')}@h"
    )


def test_nested_structures_are_masked_by_key_and_by_value() -> None:
    redactor = Redactor(["s3cr3t-value"])
    event = {
        "event": "login with s3cr3t-value",
        "headers": {"Authorization": "Bearer abc", "X-Other": "fine"},
        "items": ["ok", "s3cr3t-value", ("tuple", "s3cr3t-value")],
        "api_key": "AKIA-visible-otherwise",
        "password": "",
    }
    masked = redactor.redact(event)
    assert masked["event"] == f"login with {MASK}"
    assert masked["headers"] == {"Authorization": MASK, "X-Other": "fine"}
    assert masked["items"] == ["ok", MASK, ("tuple", MASK)]
    assert masked["api_key"] == MASK
    assert masked["password"] == ""  # nothing to hide; keeps "password was empty" debuggable


def test_a_longer_secret_containing_a_shorter_one_is_masked_whole() -> None:
    redactor = Redactor(["abcdef", "abcdefghij"])
    assert redactor.redact_text("x abcdefghij y") == f"x {MASK} y"


def test_sensitive_key_names() -> None:
    for key in (
        "password",
        "db_passwd",
        "apiKey",
        "api_key",
        "secret",
        "X-MEXC-APIKEY",
        "master_key",
        "Signature",
        "refresh_token",
        "passphrase",
    ):
        assert is_sensitive_key(key), key
    for key in ("symbol", "price", "user_id", "event", "timestamp"):
        assert not is_sensitive_key(key), key


def test_empty_and_none_secrets_are_ignored() -> None:
    redactor = Redactor(["", None])
    assert redactor.redact_text("nothing to hide") == "nothing to hide"
