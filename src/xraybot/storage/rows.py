"""Map frozen model dataclasses to table rows and back, by field name.

Tables name their columns after the model's fields, so one generic mapping serves every
value type; enums travel as their string values. A column the model lacks (bookkeeping
such as ``recorded_ts_ms``) is passed as an extra on the way in and ignored on the way out.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from enum import Enum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa


class _Dataclass(Protocol):
    __dataclass_fields__: typing.ClassVar[dict[str, Any]]


T = TypeVar("T", bound=_Dataclass)


def to_row(value: _Dataclass, **extra: Any) -> dict[str, Any]:
    """Return the table row for a model value, plus ``extra`` bookkeeping columns."""
    row = {
        field.name: _to_column(getattr(value, field.name)) for field in dataclasses.fields(value)
    }
    row.update(extra)
    return row


def from_row(cls: type[T], row: sa.RowMapping) -> T:
    """Build a model value from a table row whose columns carry the field names."""
    converters = _converters(cls)
    return cls(**{name: convert(row[name]) for name, convert in converters.items()})


def _to_column(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _identity(value: Any) -> Any:
    return value


def _optional(convert: typing.Callable[[Any], Any]) -> typing.Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


@functools.cache
def _converters(cls: type[Any]) -> dict[str, typing.Callable[[Any], Any]]:
    hints = typing.get_type_hints(cls)
    converters: dict[str, typing.Callable[[Any], Any]] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        target = next((m for m in members if m is not type(None)), hint)
        if isinstance(target, type) and issubclass(target, Enum | bool):
            # SQLite hands booleans back as 0/1; enums come back as their values.
            converters[field.name] = _optional(target)
        else:
            converters[field.name] = _identity
    return converters
