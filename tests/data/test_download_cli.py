"""``xraybot data download`` end to end against the simulator, and its refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run
from tests.support.download import DAY, HOUR_START, NOW, Sim, serve
from xraybot.cli.parsing import parse_time_ms
from xraybot.data.store import CandleStore
from xraybot.model.errors import InvalidInputError

SINCE_ISO = "2025-10-01"
UNTIL_ISO = "2025-10-03T00:00Z"
SINCE_MS = 1_759_276_800_000  # 2025-10-01T00:00Z


@pytest.fixture(scope="module")
def served() -> Iterator[Sim]:
    yield from serve()


@pytest.fixture
def sim(served: Sim, monkeypatch: pytest.MonkeyPatch) -> Sim:
    served.market.clock.now = NOW  # type: ignore[attr-defined]
    monkeypatch.setenv("XRAYBOT_EXCHANGE__SIM_URL", served.url)
    monkeypatch.setenv("XRAYBOT_EXCHANGE__EXCHANGE", "sim")
    return served


def test_downloads_into_the_data_dir_and_reports(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    argv = ["data", "download", "--exchange", "sim", "--symbols", "BTC/USDT,eth/usdt"]
    argv += ["--since", SINCE_ISO, "--until", UNTIL_ISO, "--timeframe", "1h"]
    argv += ["--data-dir", str(tmp_path / "market"), "--json", str(report_path)]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert report["data_dir"] == str(tmp_path / "market")
    assert [s["symbol"] for s in report["symbols"]] == ["BTC/USDT", "ETH/USDT"]
    assert {s["status"] for s in report["symbols"]} == {"downloaded"}
    assert {s["added"] for s in report["symbols"]} == {48}
    store = CandleStore(tmp_path / "market")
    assert int(store.read("sim", "BTC/USDT", "1h").ts_ms[0]) == SINCE_MS
    assert "2 downloaded" in out
    assert "BTC/USDT" in out

    code, out, _ = run(argv, capsys)  # again: nothing new
    assert code == 0
    assert "2 up to date" in out


def test_top_and_the_environment_data_dir(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XRAYBOT_DATA_DIR", str(tmp_path))
    since = str(HOUR_START - DAY)  # epoch milliseconds work too
    code, out, err = run(["data", "download", "--top", "2", "--since", since], capsys)
    assert code == 0, err
    assert {k.symbol for k in CandleStore(tmp_path).series("sim")} == {"JUP/USDT", "BTC/USDT"}
    assert "left out of the top" in out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--symbols", "BTC/USDT", "--top", "3"], "found both"),
        ([], "found neither"),
        (["--symbols", "BTC/USDT", "--until", "2025-09-01"], "2025-09-01"),
        (["--symbols", "BTC/USDT", "--timeframe", "1x"], "'1x'"),
        (["--symbols", "BTCUSDT"], "'BTCUSDT'"),
        (["--symbols", "BTC/USDT,,ETH/USDT"], "none empty"),
        (["--symbols", "BTC/USDT", "--exchange", "nosuchexchange"], "'nosuchexchange'"),
        (["--top", "0"], "found 0"),
        (["--symbols", "BTC/USDT", "--concurrency", "0"], "found 0"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    argv = ["data", "download", "--since", SINCE_ISO, "--data-dir", str(tmp_path), *args]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert named in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--symbols", "BTC/USDT,NOPE/USDT"], "'NOPE/USDT'"),
        (["--symbols", "BTC/USDT", "--timeframe", "7m"], "'7m'"),
    ],
)
def test_what_the_exchange_lacks_is_refused_by_name(
    sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    argv = ["data", "download", "--since", SINCE_ISO, "--data-dir", str(tmp_path), *args]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert named in err
    assert CandleStore(tmp_path).series() == []


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2025-10-01", SINCE_MS),
        ("2025-10-01T00:00:00Z", SINCE_MS),
        ("2025-10-01T02:00+02:00", SINCE_MS),
        ("2025-10-01 00:00:00.250", SINCE_MS + 250),
        (str(SINCE_MS), SINCE_MS),
    ],
)
def test_times_are_iso_in_utc_or_milliseconds(text: str, ms: int) -> None:
    assert parse_time_ms(text, "--since") == ms


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "1759276800", "2025"])
def test_a_time_that_is_neither_is_refused_naming_it(text: str) -> None:
    with pytest.raises(InvalidInputError, match=repr(text)):
        parse_time_ms(text, "--since")
