"""Where the store lives: --data-dir, then $XRAYBOT_DATA_DIR, then the per-user default.

Every test points HOME and XDG_DATA_HOME into its own tmp_path, so even the default is
computed inside it; nothing here touches the real per-user folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from xraybot.data.config import DATA_DIR_ENV, DataConfig, default_data_dir, resolve_data_dir


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    return home


def test_the_cli_value_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "from-cli") == tmp_path / "from-cli"


def test_the_environment_wins_over_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert resolve_data_dir(None) == tmp_path / "from-env"
    assert DataConfig().data_dir == tmp_path / "from-env"


def test_an_empty_environment_value_falls_back_to_the_default(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, "")
    assert resolve_data_dir(None) == home / ".local" / "share" / "xraybot" / "market"


def test_the_default_is_a_market_folder_of_its_own_and_is_not_created(home: Path) -> None:
    expected = home / ".local" / "share" / "xraybot" / "market"
    assert default_data_dir() == expected
    assert resolve_data_dir(None) == expected
    assert DataConfig().data_dir == expected
    assert not home.exists()  # only computed


def test_paths_are_expanded_and_made_absolute(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_data_dir(Path("~/candles")) == home / "candles"
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(Path("relative")) == tmp_path / "relative"
    assert DataConfig.from_cli(Path("relative")).data_dir == tmp_path / "relative"


def test_the_config_is_frozen_strict_and_refuses_a_file(tmp_path: Path) -> None:
    config = DataConfig(data_dir=tmp_path)
    with pytest.raises(ValidationError):
        config.data_dir = tmp_path / "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        DataConfig(data_dir=tmp_path, data_dri=tmp_path)  # type: ignore[call-arg]
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValidationError, match="found the file"):
        DataConfig(data_dir=afile)
