"""Find a strategy by name: a built-in, a user's ``.py`` file, or an importable module.

Accepted specs::

    rsi_reversion                     a built-in (see ``builtin_names()``)
    path/to/my_strategy.py            the one Strategy subclass that file defines
    path/to/my_strategy.py:MyClass    a named class in that file
    package.module:MyClass            a named class in an importable module
    package.module                    the one Strategy subclass that module defines

Built-ins are imported on first use, so listing them or loading one costs one module.
Problems with the spec (unknown name, missing file, no or several classes) are
``InvalidInputError``; problems inside the user's code (it raises on import or on
construction) are ``StrategyError`` naming the file or module.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import Strategy

__all__ = [
    "BUILTIN",
    "builtin_class",
    "builtin_names",
    "load_strategy",
    "load_strategy_class",
]

# name -> "module:Class"; imported lazily so `xraybot strategies` and a backtest of one
# strategy never pay for the others.
BUILTIN: dict[str, str] = {
    "rsi_reversion": "xraybot.strategy.builtin.rsi_reversion:RsiReversion",
    "ema_cross": "xraybot.strategy.builtin.ema_cross:EmaCross",
    "bollinger_breakout": "xraybot.strategy.builtin.bollinger_breakout:BollingerBreakout",
    "macd_trend": "xraybot.strategy.builtin.macd_trend:MacdTrend",
    "ichimoku_trend": "xraybot.strategy.builtin.ichimoku_trend:IchimokuTrend",
    "ensemble": "xraybot.strategy.builtin.ensemble:Ensemble",
}

_SPEC_HELP = (
    "Give a built-in name, a file (path/to/file.py or path/to/file.py:ClassName) "
    "or a module (package.module or package.module:ClassName)."
)


def builtin_names() -> list[str]:
    """Return the names of the built-in strategies, in a stable order."""
    return list(BUILTIN)


def builtin_class(name: str) -> type[Strategy]:
    """Return the class of built-in strategy ``name``."""
    target = BUILTIN.get(name)
    if target is None:
        known = ", ".join(BUILTIN)
        raise InvalidInputError(
            f"unknown built-in strategy {name!r}; the built-ins are: {known}. {_SPEC_HELP}"
        )
    module_name, class_name = target.split(":")
    cls: type[Strategy] = getattr(importlib.import_module(module_name), class_name)
    return cls


def load_strategy(spec: str) -> Strategy:
    """Return an instance of the strategy ``spec`` names (see the module docstring)."""
    cls = load_strategy_class(spec)
    try:
        return cls()
    except Exception as e:
        raise StrategyError(
            f"strategy class {cls.__qualname__} ({spec}) raised when constructed: "
            f"{type(e).__name__}: {e}"
        ) from e


def load_strategy_class(spec: str) -> type[Strategy]:
    """Return the strategy class ``spec`` names, checked to be a usable ``Strategy``."""
    spec = spec.strip()
    if not spec:
        raise InvalidInputError(f"the strategy spec is empty. {_SPEC_HELP}")
    if spec in BUILTIN:
        return builtin_class(spec)
    target, _, class_name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if target.endswith(".py"):
        module = _load_file(Path(target))
        where = f"file {target}"
    elif spec.endswith(".py"):
        module = _load_file(Path(spec))
        where = f"file {spec}"
    elif "." in target or class_name:
        module = _load_module(target)
        where = f"module {target}"
    else:
        known = ", ".join(BUILTIN)
        raise InvalidInputError(
            f"unknown strategy {spec!r}; the built-ins are: {known}. {_SPEC_HELP}"
        )
    cls = _pick_class(module, class_name, where)
    _check_class(cls, where)
    return cls


def _load_file(path: Path) -> ModuleType:
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise InvalidInputError(
            f"strategy file {path} does not exist (looked at {resolved}). {_SPEC_HELP}"
        )
    # A stable name per file: pickled instances resolve in a worker that loaded the same
    # file, and two user files with the same stem never collide.
    digest = hashlib.blake2b(str(resolved).encode(), digest_size=5).hexdigest()
    module_name = f"_xraybot_user_{_identifier(resolved.stem)}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise InvalidInputError(f"strategy file {path} cannot be imported as Python.")
    module = importlib.util.module_from_spec(module_spec)
    # Registered before running it: dataclasses and pickling look the module up by name.
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(module_name, None)
        raise StrategyError(
            f"strategy file {path} raised while being imported: {type(e).__name__}: {e}"
        ) from e
    return module


def _load_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise InvalidInputError(
                f"no module named {name!r} is importable (missing: {e.name!r}). Check the "
                f"spelling and that it is installed or on PYTHONPATH. {_SPEC_HELP}"
            ) from e
        raise StrategyError(
            f"strategy module {name} failed to import: {type(e).__name__}: {e}"
        ) from e
    except Exception as e:
        raise StrategyError(
            f"strategy module {name} raised while being imported: {type(e).__name__}: {e}"
        ) from e


def _identifier(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return cleaned or "strategy"


def _defined_strategies(module: ModuleType) -> list[type[Strategy]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value.__module__ == module.__name__
        and not inspect.isabstract(value)
    ]


def _pick_class(module: ModuleType, class_name: str, where: str) -> type[Strategy]:
    if class_name:
        found = getattr(module, class_name, None)
        if found is None:
            names = ", ".join(c.__name__ for c in _defined_strategies(module)) or "none"
            raise InvalidInputError(
                f"{where} has no class {class_name!r}; the Strategy subclasses it defines "
                f"are: {names}."
            )
        if not (isinstance(found, type) and issubclass(found, Strategy)):
            raise InvalidInputError(
                f"{where}: {class_name} is not a subclass of xraybot.strategy.base.Strategy; "
                f"found {type(found).__name__}."
            )
        return found
    candidates = _defined_strategies(module)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InvalidInputError(
            f"{where} defines no concrete Strategy subclass. Subclass "
            "xraybot.strategy.base.Strategy, set name and parameters and implement signals()."
        )
    names = ", ".join(sorted(c.__name__ for c in candidates))
    raise InvalidInputError(
        f"{where} defines {len(candidates)} Strategy subclasses ({names}); pick one with "
        f"'{where.split(' ', 1)[1]}:ClassName'."
    )


def _check_class(cls: type[Strategy], where: str) -> None:
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise StrategyError(f"{where}: {cls.__name__} is abstract; implement {missing}.")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise StrategyError(
            f"{where}: {cls.__name__} must set a class attribute name = '...' (text); "
            f"found {name!r}."
        )
