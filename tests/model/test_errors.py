"""errors.py: the tree drawn in the module docstring is the real class hierarchy."""

from __future__ import annotations

import inspect
import re

import pytest

from xraybot.model import errors

_NAME = re.compile(r"\b([A-Z][A-Za-z]*Error)\b")


def drawn_tree(doc: str) -> dict[str, str | None]:
    """Map each class drawn in the ``::`` block to its drawn parent (None for the root).

    The parent of a name is the nearest name above it that starts in a column to its left.
    """
    block = doc.split("::", 1)[1]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column, name), columns strictly increasing
    for line in block.splitlines():
        if not line.strip():
            if parents:  # the drawing ends at the first blank line after it began
                break
            continue
        found = _NAME.search(line)
        if found is None:
            continue
        column, name = found.start(1), found.group(1)
        assert name not in parents, f"{name} is drawn twice"
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents


def real_error_classes() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__ == errors.__name__ and issubclass(cls, errors.XraybotError)
    }


def test_drawing_names_every_error_class_and_nothing_else() -> None:
    drawn = drawn_tree(errors.__doc__ or "")
    assert set(drawn) == set(real_error_classes())
    assert set(drawn) == set(errors.__all__)


def test_each_drawn_parent_is_the_real_base() -> None:
    drawn = drawn_tree(errors.__doc__ or "")
    classes = real_error_classes()
    for name, parent in drawn.items():
        bases = classes[name].__bases__
        if parent is None:
            assert bases == (Exception,), name
        else:
            assert bases == (classes[parent],), f"{name} is drawn under {parent}, is {bases}"


def test_every_class_in_the_module_is_exported() -> None:
    defined = {
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__ == errors.__name__
    }
    assert defined == set(errors.__all__)


# The checker itself must notice a stale drawing, or the two tests above prove nothing.

_SAMPLE = """Errors.

::

    XraybotError
    ├── TemporaryError                 retry
    │   └── RateLimitError             wait
    └── OperationalError               stop
        └── StorageError               journal

Prose after the drawing mentions ConfigError, which is not part of it.
"""


def test_parser_reads_parents_from_indentation() -> None:
    assert drawn_tree(_SAMPLE) == {
        "XraybotError": None,
        "TemporaryError": "XraybotError",
        "RateLimitError": "TemporaryError",
        "OperationalError": "XraybotError",
        "StorageError": "OperationalError",
    }


def test_parser_notices_a_class_moved_in_the_drawing() -> None:
    lines = _SAMPLE.splitlines(keepends=True)
    rate_limit = next(i for i, line in enumerate(lines) if "RateLimitError" in line)
    # Move RateLimitError from under TemporaryError to the first child of OperationalError.
    moved_line = lines.pop(rate_limit).replace("│   └──", "    ├──")
    lines.insert(rate_limit + 1, moved_line)
    moved = "".join(lines)
    assert moved != _SAMPLE
    assert drawn_tree(moved)["RateLimitError"] == "OperationalError"


def test_parser_refuses_a_class_drawn_twice() -> None:
    with pytest.raises(AssertionError, match="drawn twice"):
        drawn_tree(_SAMPLE.replace("StorageError", "RateLimitError"))


def test_error_attributes() -> None:
    assert errors.RateLimitError("slow down", retry_after_s=2.5).retry_after_s == 2.5
    assert errors.RateLimitError("slow down").retry_after_s is None
    lost = errors.OrderStatusUnknownError("lost", client_order_id="xb" + "a" * 30)
    assert lost.client_order_id == "xb" + "a" * 30
    assert isinstance(lost, errors.TemporaryError)
    assert errors.ConfigError("bad", problems=("a: x", "b: y")).problems == ("a: x", "b: y")
    assert errors.ConfigError("bad").problems == ()
    moved = errors.IllegalTransitionError("no", source="filled", target="open")
    assert (moved.source, moved.target, str(moved)) == ("filled", "open", "no")
