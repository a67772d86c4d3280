"""ScreenConfig: defaults, the example file, dynamic thresholds, regimes, and named mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xraybot.model.errors import ConfigError
from xraybot.xray.config import (
    ScreenConfig,
    load_screen_config,
    percentile_of,
    screen_config_from,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "screen.toml"


def test_the_example_file_loads_and_shows_every_kind_of_setting() -> None:
    config = load_screen_config(EXAMPLE)
    assert config.min_quote_volume == "p40"
    assert config.max_volatility_pct == "p95"
    assert config.blacklist == ("LUNA/USDT", "*DOWN", "TEST*")
    assert set(config.by_regime) == {"high", "down"}
    # Every key the model knows is written in the example, so it documents them all.
    text = EXAMPLE.read_text()
    for key in ScreenConfig.model_fields:
        if key not in ("by_regime", "score"):
            assert f"{key} =" in text, key


def test_defaults_are_valid_and_fixed() -> None:
    config = ScreenConfig()
    assert config.min_quote_volume == 100_000.0
    assert config.warmup == 50
    assert config.span_days == pytest.approx(200 / 24)


@given(q=st.integers(0, 100), fraction=st.sampled_from(["", ".5", ".25"]))
def test_percentiles_parse(q: int, fraction: str) -> None:
    spec = f"p{q}{fraction if q < 100 else ''}"
    config = ScreenConfig(min_quote_volume=spec)
    assert percentile_of(config.min_quote_volume) == float(spec[1:])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"min_volume": 5}, "screen.min_volume: unknown key; known keys here: blacklist"),
        ({"score": {"volum": 1}}, "screen.score.volum: unknown key; known keys here: breakout"),
        ({"by_regime": {"high": {"top": 3}}}, "screen.by_regime.high.top: unknown key"),
        ({"by_regime": {"wild": {}}}, "screen.by_regime.wild: expected 'up', 'down'"),
        ({"min_quote_volume": "60"}, "screen.min_quote_volume: expected a number or a percentile"),
        ({"min_quote_volume": "p101"}, "(found 'p101')"),
        ({"max_spread_pct": True}, "screen.max_spread_pct: expected a number or a percentile"),
        ({"rsi_min": 80, "rsi_max": 20}, "rsi_min <= rsi_max (found 80 > 20)"),
        ({"min_listing_days": 30}, "min_listing_days <= 8.33333, the span of 200 × 1h candles"),
        ({"candles": 20}, "candles >= 50, what the indicators need"),
        ({"timeframe": "1x"}, "screen.timeframe: expected a timeframe such as 1m"),
        ({"ema_fast": 60}, "ema_fast < ema_slow (found 60 >= 50)"),
        ({"top": 0}, "screen.top: expected greater than or equal to 1; found 0"),
        ({"score": {"volume": 0, "spread": 0, "volatility": 0, "trend": 0, "breakout": 0}},
         "at least one weight > 0"),
    ],
)  # fmt: skip
def test_mistakes_are_named(table: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        screen_config_from(table, where="screen.toml")
    assert named in str(caught.value)
    assert str(caught.value).startswith("1 problem(s) in screen.toml:")
    assert len(caught.value.problems) == 1


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        screen_config_from({"min_volume": 1, "max_price": "cheap", "top": -1})
    assert len(caught.value.problems) == 3


def test_files_without_a_screen_table_or_valid_toml_are_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[exchange]\nexchange = "sim"\n')
    with pytest.raises(ConfigError, match=r"needs a \[screen\] table; found \[exchange\]"):
        load_screen_config(wrong)
    broken = tmp_path / "broken.toml"
    broken.write_text("[screen\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_screen_config(broken)
    with pytest.raises(ConfigError, match=r"does not exist; copy examples/screen\.toml"):
        load_screen_config(tmp_path / "missing.toml")


def test_regime_overrides_apply_in_order_and_only_when_matching() -> None:
    config = screen_config_from(
        {
            "min_quote_volume": "p20",
            "by_regime": {
                "high": {"min_quote_volume": "p60", "max_volatility_pct": "p90"},
                "down": {"min_quote_volume": "p70", "trend": "up"},
            },
        }
    )
    assert config.for_regime([]) is config
    assert config.for_regime(["range", "normal"]) is config
    high = config.for_regime(["range", "high"])
    assert (high.min_quote_volume, high.max_volatility_pct, high.trend) == ("p60", "p90", "any")
    both = config.for_regime(["down", "high"])
    assert (both.min_quote_volume, both.trend) == ("p70", "up")  # the later table wins
    # Applying twice changes nothing more: unset override keys stay unset.
    assert both.for_regime(["down", "high"]) == both


def test_with_changes_validates() -> None:
    assert ScreenConfig().with_changes(top=3).top == 3
    with pytest.raises(ConfigError, match=r"screen\.top"):
        ScreenConfig().with_changes(top=0)
