from __future__ import annotations

import os
from pathlib import Path

import pytest

from xraybot.model.errors import ConfigError
from xraybot.runtime.config import XraybotConfig, check_config, load_config, secret_values

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "xraybot.toml"


@pytest.fixture(autouse=True)
def _no_xraybot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("XRAYBOT_") and "__" in name:
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xraybot.toml"
    path.write_text(text)
    return path


def test_the_example_config_is_valid() -> None:
    assert check_config(EXAMPLE) == []
    config = load_config(EXAMPLE)
    assert config.runtime.logging.format == "console"
    assert config.storage.database_url is None


def test_every_bad_key_is_named_with_expectation_and_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[runtime.logging]
level = "LOUD"
[storage]
pool_size = 0
databse_url = "sqlite:///x"
[nonsense]
a = 1
""",
    )
    problems = {p.key: p for p in check_config(path)}
    assert set(problems) == {
        "runtime.logging.level",
        "storage.pool_size",
        "storage.databse_url",
        "nonsense",
    }
    assert problems["runtime.logging.level"].found == "'LOUD'"
    assert "'INFO'" in problems["runtime.logging.level"].expected
    assert problems["storage.pool_size"].found == "0"
    assert "greater than or equal to 1" in problems["storage.pool_size"].expected
    assert "database_url" in problems["storage.databse_url"].expected
    assert problems["storage.databse_url"].found == "an unknown key"
    assert all(p.source == "file" for p in problems.values())


def test_load_config_raises_one_error_listing_all_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "[storage]\npool_size = 'many'\necho_sql = 'perhaps'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 2
    assert "storage.pool_size" in str(caught.value)
    assert "storage.echo_sql" in str(caught.value)


def test_environment_overrides_the_file_and_is_named_as_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[storage]\npool_size = 7\n")
    monkeypatch.setenv("XRAYBOT_STORAGE__POOL_SIZE", "9")
    assert load_config(path).storage.pool_size == 9
    monkeypatch.setenv("XRAYBOT_STORAGE__POOL_SIZE", "-1")
    [problem] = check_config(path)
    assert problem.key == "storage.pool_size"
    assert problem.source == "environment (XRAYBOT_STORAGE__POOL_SIZE)"


def test_a_misspelt_environment_section_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYBOT_STORAEG__POOL_SIZE", "3")
    [problem] = check_config(write(tmp_path, ""))
    assert problem.key == "storaeg.pool_size"
    assert "XRAYBOT_STORAEG__POOL_SIZE" in problem.source


def test_unrelated_xraybot_variables_are_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYBOT_SIM_URL", "http://127.0.0.1:8800")
    monkeypatch.setenv("XRAYBOT_REQUIRE_SERVICES", "1")
    assert check_config(write(tmp_path, "")) == []


def test_missing_and_malformed_files_are_reported_not_raised(tmp_path: Path) -> None:
    [missing] = check_config(tmp_path / "absent.toml")
    assert "does not exist" in missing.found
    [broken] = check_config(write(tmp_path, "[storage\npool_size = 1\n"))
    assert "not valid TOML" in broken.found
    assert "line 1" in broken.found


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    with pytest.raises(Exception, match="frozen"):
        config.storage.pool_size = 3  # type: ignore[misc]


def test_secret_values_include_url_passwords(tmp_path: Path) -> None:
    config = XraybotConfig(
        runtime={"redis_url": "redis://:r3dis-pw@127.0.0.1:6379/0"},
        storage={"database_url": "postgresql://u:pg-p%40ss@127.0.0.1/x"},
    )
    found = secret_values(config)
    assert "r3dis-pw" in found
    assert "pg-p@ss" in found
    assert "postgresql://u:pg-p%40ss@127.0.0.1/x" in found


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f'[storage]\ndata_dir = "{tmp_path}"\n'))
    assert config.storage.sqlalchemy_url() == f"sqlite+aiosqlite:///{tmp_path}/xraybot.sqlite3"


def test_postgres_urls_get_the_async_driver(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[storage]\ndatabase_url = "postgresql://u@127.0.0.1:5432/db"\n')
    )
    assert config.storage.sqlalchemy_url() == "postgresql+asyncpg://u@127.0.0.1:5432/db"
