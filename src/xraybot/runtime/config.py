"""The whole configuration: each package's model, composed and loaded in one place.

Sources, highest priority first: ``XRAYBOT_*`` environment variables (nested keys joined
by ``__``, e.g. ``XRAYBOT_STORAGE__DATABASE_URL``), then the TOML file, then defaults.
Every model is frozen and rejects unknown keys, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from xraybot.exchange.config import ExchangeConfig
from xraybot.model.errors import ConfigError
from xraybot.storage.config import StorageConfig
from xraybot.users.config import UsersConfig
from xraybot.users.redaction import MASK

ENV_PREFIX = "XRAYBOT_"
ENV_NESTING = "__"


class LoggingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A secret: Redis URLs may carry a password. Empty: everything stays in-process.
    redis_url: SecretStr | None = Field(
        default=None, description="redis://[:PASSWORD@]HOST:PORT/DB for caches and workers."
    )
    logging: LoggingConfig = LoggingConfig()

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = value.get_secret_value().split(":", 1)[0]
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"a redis://, rediss:// or unix:// URL (the scheme was {scheme!r})")
        return value


class XraybotConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTING,
        frozen=True,
        extra="forbid",
    )

    runtime: RuntimeConfig = RuntimeConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    storage: StorageConfig = StorageConfig()
    users: UsersConfig = UsersConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init kwargs; the environment overrides them.
        return (env_settings, init_settings)


# -- loading and reporting ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    key: str  # dotted path, e.g. "storage.pool_size"
    expected: str
    found: str  # already redacted when the key holds a secret
    source: str  # "file", "environment (XRAYBOT_…)" or "default"

    def __str__(self) -> str:
        return f"{self.key}: expected {self.expected}; found {self.found} (from {self.source})"


def load_config(path: Path | None = None) -> XraybotConfig:
    """Load and validate; raise ConfigError listing every problem, never a secret."""
    config, problems = _validate(path)
    if config is None or problems:
        where = str(path) if path is not None else "the environment"
        raise ConfigError(
            f"{len(problems)} configuration problem(s) in {where}:\n"
            + "\n".join(f"  - {p}" for p in problems),
            problems=tuple(str(p) for p in problems),
        )
    return config


def check_config(path: Path) -> list[ConfigProblem]:
    """Return every problem with the file (plus the environment); empty means it is fine."""
    try:
        return _validate(path)[1]
    except ConfigError as e:
        return [
            ConfigProblem(
                key="(file)", expected="a readable TOML file", found=str(e), source="file"
            )
        ]


def _validate(path: Path | None) -> tuple[XraybotConfig | None, list[ConfigProblem]]:
    data = read_config_file(path) if path is not None else {}
    problems = _unknown_env_keys()
    try:
        return XraybotConfig(**data), problems
    except ValidationError as e:
        return None, problems + _problems_from(e, data)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; copy examples/xraybot.toml to start one."
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} cannot be read: {e}.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # The decoder names line and column but never quotes the line, so no secret leaks.
        raise ConfigError(f"config file {path} is not valid TOML: {e}.") from None


def secret_values(config: BaseModel) -> list[str]:
    """Return every secret in the config, plus passwords embedded in secret URLs."""
    found: list[str] = []
    for value in _walk(config):
        if isinstance(value, SecretStr) and value.get_secret_value():
            raw = value.get_secret_value()
            found.append(raw)
            try:
                password = make_url(raw).password
            except ArgumentError:
                password = None
            if password:
                found.append(str(password))
    return found


def _walk(model: BaseModel) -> Iterator[Any]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _walk(value)
        else:
            yield value


def _secret_paths(model_cls: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in model_cls.model_fields.items():
        path = f"{prefix}{name}"
        annotation_args = (field.annotation, *get_args(field.annotation))
        if SecretStr in annotation_args:
            paths.add(path)
        for arg in annotation_args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                paths |= _secret_paths(arg, f"{path}.")
    return paths


def _model_paths(model_cls: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in model_cls.model_fields.items():
        path = f"{prefix}{name}"
        paths.add(path)
        for arg in (field.annotation, *get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                paths |= _model_paths(arg, f"{path}.")
    return paths


def _env_var(path: str) -> str:
    return ENV_PREFIX + path.upper().replace(".", ENV_NESTING)


def _unknown_env_keys() -> list[ConfigProblem]:
    # pydantic rejects unknown keys inside a known section, but silently ignores a variable
    # whose section itself is misspelt (XRAYBOT_STORAEG__POOL_SIZE): catch those here.
    sections = {_env_var(name) for name in XraybotConfig.model_fields}
    problems = []
    for var in sorted(os.environ):
        if not var.startswith(ENV_PREFIX) or ENV_NESTING not in var[len(ENV_PREFIX) :]:
            continue
        if var.split(ENV_NESTING, 1)[0] not in sections:
            problems.append(
                ConfigProblem(
                    key=var[len(ENV_PREFIX) :].lower().replace(ENV_NESTING, "."),
                    expected=f"a known section ({', '.join(XraybotConfig.model_fields)})",
                    found="an unknown key",
                    source=f"environment ({var})",
                )
            )
    return problems


def _problems_from(error: ValidationError, file_data: Mapping[str, Any]) -> list[ConfigProblem]:
    secret_paths = _secret_paths(XraybotConfig)
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"] if part not in ("function-after",))
        path = path.replace(".SecretStr", "")
        var = _env_var(path)
        source = (
            f"environment ({var})"
            if var in os.environ
            else "file"
            if _has_path(file_data, path)
            else "default"
        )
        if item["type"] == "extra_forbidden":
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            known = sorted(
                p.rsplit(".", 1)[-1]
                for p in _model_paths(XraybotConfig)
                if (p.rsplit(".", 1)[0] if "." in p else "") == parent
            )
            expected = f"one of the known keys ({', '.join(known)})"
            found = "an unknown key"
        else:
            expected = _expected_from(item["msg"])
            found = MASK if _is_secret(path, secret_paths) else _show(item.get("input"))
        problems.append(ConfigProblem(key=path, expected=expected, found=found, source=source))
    return problems


def _is_secret(path: str, secret_paths: set[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in secret_paths)


def _has_path(data: Mapping[str, Any], path: str) -> bool:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _expected_from(message: str) -> str:
    for prefix in ("Input should be ", "Value error, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message[:1].lower() + message[1:]


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
