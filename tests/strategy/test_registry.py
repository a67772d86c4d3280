from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from xraybot.model.errors import InvalidInputError, StrategyError
from xraybot.strategy.base import Strategy
from xraybot.strategy.registry import builtin_names, load_strategy

USER_STRATEGY = """
from typing import ClassVar

from xraybot.strategy.base import Param, Signals, Strategy


class {cls}(Strategy):
    name: ClassVar[str] = "{name}"
    parameters: ClassVar[tuple[Param, ...]] = (Param("level", 100.0, 1.0, 1e6),)

    def signals(self, candles, params, cache=None):
        return Signals(candles.close > params["level"], candles.close < params["level"])
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_builtin_names_are_the_promised_six() -> None:
    assert builtin_names() == [
        "rsi_reversion",
        "ema_cross",
        "bollinger_breakout",
        "macd_trend",
        "ichimoku_trend",
        "ensemble",
    ]


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_loads_by_name(name: str) -> None:
    strategy = load_strategy(name)
    assert isinstance(strategy, Strategy)
    assert strategy.name == name
    assert strategy.parameters, f"{name} declares no parameters"


def test_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown strategy 'rsi_revresion'.*rsi_reversion"):
        load_strategy("rsi_revresion")


def test_file_with_one_strategy(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.py", USER_STRATEGY.format(cls="Mine", name="mine"))
    strategy = load_strategy(str(path))
    assert strategy.name == "mine"
    assert strategy.defaults() == {"level": 100.0}


def test_file_with_two_strategies_needs_a_class_name(tmp_path: Path) -> None:
    text = USER_STRATEGY.format(cls="First", name="first") + USER_STRATEGY.format(
        cls="Second", name="second"
    ).replace("from", "# from")
    path = write(tmp_path / "two.py", text)
    with pytest.raises(InvalidInputError, match=r"2 Strategy subclasses \(First, Second\)"):
        load_strategy(str(path))
    assert load_strategy(f"{path}:Second").name == "second"
    with pytest.raises(InvalidInputError, match=r"no class 'Third'.*First, Second"):
        load_strategy(f"{path}:Third")


def test_imported_strategies_do_not_count_as_defined(tmp_path: Path) -> None:
    path = write(
        tmp_path / "reexport.py",
        "from xraybot.strategy.builtin.rsi_reversion import RsiReversion\n"
        + USER_STRATEGY.format(cls="Own", name="own"),
    )
    assert load_strategy(str(path)).name == "own"


def test_file_without_strategy(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.py", "X = 1\n")
    with pytest.raises(InvalidInputError, match="defines no concrete Strategy subclass"):
        load_strategy(str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_strategy(str(tmp_path / "nope.py"))


def test_import_error_in_user_file_is_strategy_error_naming_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.py", "import numpy\nraise RuntimeError('boom')\n")
    with pytest.raises(
        StrategyError, match=r"broken\.py raised while being imported: RuntimeError"
    ):
        load_strategy(str(path))
    path = write(tmp_path / "typo.py", "def f(:\n")
    with pytest.raises(StrategyError, match=r"typo\.py.*SyntaxError"):
        load_strategy(str(path))


def test_missing_name_attribute_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path / "noname.py",
        """
        from xraybot.strategy.base import Signals, Strategy

        class NoName(Strategy):
            def signals(self, candles, params, cache=None):
                return Signals(candles.close > 0, candles.close < 0)
        """,
    )
    with pytest.raises(StrategyError, match="must set a class attribute name"):
        load_strategy(str(path))


def test_module_path_with_and_without_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "userpkg_strategies"
    package.mkdir()
    write(package / "__init__.py", "")
    write(package / "trend.py", USER_STRATEGY.format(cls="Trend", name="trend"))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert load_strategy("userpkg_strategies.trend:Trend").name == "trend"
        assert load_strategy("userpkg_strategies.trend").name == "trend"
        with pytest.raises(InvalidInputError, match=r"no module named 'userpkg_strategies\.nope'"):
            load_strategy("userpkg_strategies.nope:Trend")
    finally:
        for name in [m for m in sys.modules if m.startswith("userpkg_strategies")]:
            del sys.modules[name]


def test_builtin_by_module_path() -> None:
    strategy = load_strategy("xraybot.strategy.builtin.rsi_reversion:RsiReversion")
    assert strategy.name == "rsi_reversion"


def test_user_strategy_failing_at_signal_time_is_named_by_the_guard(tmp_path: Path) -> None:
    from tests.strategy.conftest import synthetic
    from xraybot.strategy.guard import compute_signals

    path = write(
        tmp_path / "fragile.py",
        """
        from typing import ClassVar
        from xraybot.strategy.base import Strategy

        class Fragile(Strategy):
            name: ClassVar[str] = "fragile"

            def signals(self, candles, params, cache=None):
                return {"entry": candles.close}["exit"]
        """,
    )
    strategy = load_strategy(str(path))
    with pytest.raises(StrategyError, match=r"'fragile' failed on ADA/USDT 1h .*KeyError: 'exit'"):
        compute_signals(strategy, synthetic([1.0, 2.0, 3.0], symbol="ADA/USDT"), {})
