"""A secret placed anywhere in the config never appears in logs or error messages.

"Anywhere" is checked, not assumed: the test discovers every secret-typed key of the
configuration model and fails if one is added without being covered here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.support.logs import restored_logging
from tests.support.servers import free_port
from xraybot.cli.app import main
from xraybot.runtime.config import XraybotConfig, _secret_paths
from xraybot.runtime.context import bootstrap
from xraybot.users.credentials import new_master_key
from xraybot.users.redaction import MASK

REDIS_PASSWORD = "r3dis-Pa55word-7"
PG_PASSWORD = "pg-Pa55word-42"
MASTER_KEY = new_master_key()
PREVIOUS_MASTER_KEY = new_master_key()


def secret_config(tmp_path: Path, extra: str = "") -> tuple[Path, list[str]]:
    """Write a config holding a secret in every secret key; return it and the secrets."""
    closed_port = free_port()  # nothing listens there: connections fail fast
    values = {
        "runtime.redis_url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port}/0",
        "storage.database_url": f"postgresql://trader:{PG_PASSWORD}@127.0.0.1:{closed_port}/x",
        "users.master_key": MASTER_KEY,
        "users.previous_master_key": PREVIOUS_MASTER_KEY,
    }
    assert set(values) == _secret_paths(XraybotConfig), "cover every secret key in this test"
    path = tmp_path / "secret.toml"
    path.write_text(
        f"""
[runtime]
redis_url = "{values["runtime.redis_url"]}"
[storage]
data_dir = "{tmp_path}"
database_url = "{values["storage.database_url"]}"
[users]
master_key = "{MASTER_KEY}"
previous_master_key = "{PREVIOUS_MASTER_KEY}"
{extra}
"""
    )
    return path, [*values.values(), REDIS_PASSWORD, PG_PASSWORD]


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret leaked: ...{secret[-4:]}"


@pytest.fixture
def log_buffer() -> Iterator:
    with restored_logging() as buffer:
        yield buffer


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_logs_never_show_config_secrets(
    tmp_path: Path, log_buffer, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setenv("XRAYBOT_RUNTIME__LOGGING__FORMAT", fmt)
    path, secrets = secret_config(tmp_path)
    context = bootstrap(path, log_stream=log_buffer)
    database_url = context.config.storage.database_url
    assert database_url is not None
    raw_url = database_url.get_secret_value()

    log = structlog.get_logger("xraybot.test")
    log.info("connecting", url=raw_url, note=f"password is {PG_PASSWORD}")
    log.info("headers", headers={"X-MEXC-APIKEY": "k", "Authorization": MASTER_KEY})

    class Holder:
        def __repr__(self) -> str:
            return f"Holder(key={MASTER_KEY})"

    log.info("object", holder=Holder())
    try:
        raise RuntimeError(f"redis said no to {REDIS_PASSWORD}")
    except RuntimeError:
        log.exception("failure with traceback")
    logging.getLogger("sqlalchemy.engine").warning("stdlib logger: %s", raw_url)

    output = log_buffer.getvalue()
    assert output.count("\n") >= 5, output
    assert MASK in output
    assert_no_secret(output, secrets)


def test_config_check_errors_never_show_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The secrets are valid; other keys are broken, so the report is printed in full.
    path, secrets = secret_config(tmp_path, extra="[runtime.logging]\nlevel = 'LOUD'\n")
    with pytest.raises(SystemExit) as caught:
        main(["config", "check", str(path), "--json", str(tmp_path / "out.json")])
    assert caught.value.code == 1
    out = capsys.readouterr()
    assert "runtime.logging.level" in out.err
    assert_no_secret(out.out + out.err + (tmp_path / "out.json").read_text(), secrets)


def test_invalid_secret_values_are_masked_in_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_key = "my-real-master-password-not-fernet"
    path = tmp_path / "bad.toml"
    path.write_text(
        f'[users]\nmaster_key = "{bad_key}"\n'
        f'[storage]\ndatabase_url = "mysql://root:{PG_PASSWORD}@h/db"\n'
    )
    with pytest.raises(SystemExit):
        main(["config", "check", str(path)])
    out = capsys.readouterr()
    assert "users.master_key" in out.err
    assert "storage.database_url" in out.err
    assert_no_secret(out.out + out.err, [bad_key, PG_PASSWORD])


def test_a_failing_database_connection_never_shows_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_buffer
) -> None:
    path, secrets = secret_config(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main(["--config", str(path), "db", "upgrade"])
    assert caught.value.code != 0
    out = capsys.readouterr()
    assert out.err.strip(), "the failure must be explained"
    assert_no_secret(out.out + out.err + log_buffer.getvalue(), secrets)


def test_environment_secrets_are_covered_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_buffer
) -> None:
    monkeypatch.setenv("XRAYBOT_USERS__MASTER_KEY", MASTER_KEY)
    context = bootstrap(None, log_stream=log_buffer)
    structlog.get_logger().info("env secret", value=f"[{MASTER_KEY}]")
    assert MASTER_KEY in context.redactor
    assert_no_secret(log_buffer.getvalue(), [MASTER_KEY])
    assert os.environ["XRAYBOT_USERS__MASTER_KEY"] == MASTER_KEY
