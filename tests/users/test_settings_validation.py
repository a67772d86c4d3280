"""Settings checked against the strategy registry and the risk profile, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from xraybot.model.errors import ConfigError, InvalidInputError
from xraybot.services.users import validate_settings
from xraybot.users.settings import UserSettings, with_changes


def changed(*assignments: str) -> UserSettings:
    return with_changes(UserSettings(), list(assignments), where="test")


def test_the_defaults_are_valid() -> None:
    validate_settings(UserSettings())


@pytest.mark.parametrize(
    ("assignments", "key"),
    [
        (("strategy.name=no_such_strategy",), r"settings\.strategy\.name"),
        (("strategy.params.nope=1",), r"settings\.strategy\.params.*nope"),
        (('risk={"sizing": {"mode": "yolo"}}',), r"risk\.sizing\.mode"),
        (('risk={"market": "spot", "leverage": {"max": 1}}',), r"settings\.risk\.market"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(assignments: tuple[str, ...], key: str) -> None:
    with pytest.raises(InvalidInputError, match=key):
        validate_settings(changed(*assignments))


def test_a_risk_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "risk.toml"
    good.write_text('[risk]\nmarket = "swap"\n[risk.sizing]\nmode = "fraction"\namount = 0.1\n')
    validate_settings(changed(f"risk_file={good}"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nmargin_multipler = 2\n")
    with pytest.raises(ConfigError, match=r"risk\.margin_multipler"):
        validate_settings(changed(f"risk_file={bad}"))


def test_a_bad_timeframe_and_both_risk_sources_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"settings\.strategy\.timeframe"):
        changed("strategy.timeframe=7x")
    with pytest.raises(ConfigError, match="risk_file"):
        changed('risk={"market": "swap"}', f"risk_file={tmp_path / 'r.toml'}")
