"""One table of a TOML file into a pydantic model, with every problem named by its key.

Feature configurations (``[screen]``, ``[select]``, ``[risk]``) live in TOML files people edit
by hand. Reading one reports a missing file, bad TOML, a missing table, and every invalid or
unknown key at once (``screen.volume.min: expected a number; found 'lots'``), as a
``ConfigError`` whose ``problems`` lists them.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from xraybot.model.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)

# Union members and containers show up in pydantic's locations; the key is what people wrote.
_LOCATION_NOISE = ("float", "int", "str", "bool", "none", "literal", "tuple", "[key]")


def read_table(path: Path, table: str, *, example: str) -> Mapping[str, Any]:
    """Return the ``[table]`` of the TOML file at ``path``; ``example`` names a file to copy."""
    what = f"{table} config {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} does not exist; copy {example} to start one.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} cannot be read: {e}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what} is not valid TOML: {e}.") from None
    found = data.get(table)
    if not isinstance(found, Mapping):
        keys = ", ".join(f"[{k}]" if isinstance(v, Mapping) else k for k, v in data.items())
        raise ConfigError(
            f"{what} needs a [{table}] table; found {keys or 'nothing'}. See {example}."
        )
    return found


def validate_table(
    model: type[ModelT], table: Mapping[str, Any], *, prefix: str, where: str
) -> ModelT:
    """Validate ``table`` as ``model``; raise ConfigError with one line per problem."""
    try:
        return model.model_validate(dict(table))
    except ValidationError as e:
        problems = tuple(_problem(model, prefix, item) for item in e.errors(include_url=False))
        raise ConfigError(
            f"{len(problems)} problem(s) in {where}:\n" + "\n".join(f"  - {p}" for p in problems),
            problems=problems,
        ) from None


def _problem(model: type[BaseModel], prefix: str, item: Mapping[str, Any]) -> str:
    loc = [str(part) for part in item["loc"] if not str(part).startswith("function-")]
    loc = [part for part in loc if part not in _LOCATION_NOISE]
    key = ".".join([prefix, *loc])
    if item["type"] == "extra_forbidden":
        known = ", ".join(sorted(_model_at(model, loc[:-1]).model_fields))
        return f"{key}: unknown key; known keys here: {known}"
    message = str(item["msg"])
    for start in ("Value error, ", "Input should be "):
        if message.startswith(start):
            message = message[len(start) :]
    found = item.get("input")
    shown = "a table" if isinstance(found, Mapping) else repr(found)
    if "(found" in message:
        return f"{key}: expected {message}"
    return f"{key}: expected {message}; found {shown}"


def _model_at(model: type[BaseModel], path: list[str]) -> type[BaseModel]:
    """The nested model a key path leads to (``["score"]`` → the model of field ``score``)."""
    for part in path:
        field = model.model_fields.get(part)
        nested = _nested_model(field.annotation) if field is not None else None
        if nested is None:
            break
        model = nested
    return model


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for member in typing.get_args(annotation):
            found = _nested_model(member)
            if found is not None:
                return found
    return None
