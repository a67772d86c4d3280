"""risk.protections invariants over random event sequences and params (hypothesis).

The kill switch blocks every entry at once; a blocked symbol is never allowed before the end
of its pause; ``risk_scale`` stays in (0, 1] and never grows as the drawdown deepens; and the
compiled twins in ``risk.kernel`` leave bit-identical states and answers.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.matching.rules import (
    EXIT_LIQUIDATION,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
)
from xraybot.risk import kernel
from xraybot.risk import protections as core

pytestmark = pytest.mark.properties

MIN = 60_000
H = 3_600_000
T0 = 1_704_067_200_000
N_SYMBOLS = 3
REASONS = [EXIT_STOP_LOSS, EXIT_TRAILING, EXIT_LIQUIDATION, EXIT_SIGNAL, EXIT_TAKE_PROFIT]
NAN = math.nan

# -- strategies ----------------------------------------------------------------------------

steps = st.sampled_from([0, 1, MIN, 30 * MIN, H, H, 2 * H, 3 * H, 7 * H, 25 * H])
symbols = st.integers(0, N_SYMBOLS - 1)
changes = st.floats(-0.2, 0.15)  # of the last equity mark: marks walk, limits get crossed
pnls = st.floats(-800.0, 500.0)
START = 10_000.0
durations = st.sampled_from([MIN, H, 6 * H, 12 * H, 86_400_000])


def _off_or(value: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.one_of(st.just(NAN), value)


@st.composite
def valid_params(draw: st.DrawFn) -> np.ndarray:
    """Params as ProtectionSettings makes them: each protection off or sensibly set."""
    p = core.default_params()
    p[core.P_COOLDOWN_MS] = draw(_off_or(durations))
    if draw(st.booleans()):
        p[core.P_SL_GUARD_COUNT] = draw(st.integers(1, 4))
        p[core.P_SL_GUARD_WINDOW_MS] = draw(durations)
        p[core.P_SL_GUARD_PAUSE_MS] = draw(durations)
        p[core.P_SL_GUARD_SCOPE] = draw(st.sampled_from([core.SCOPE_SYMBOL, core.SCOPE_ACCOUNT]))
    if draw(st.booleans()):
        p[core.P_DD_MAX] = draw(st.floats(0.01, 0.5))
        p[core.P_DD_PAUSE_MS] = draw(st.one_of(durations, st.just(math.inf)))
    if draw(st.booleans()):
        p[core.P_LOW_PROFIT_TRADES] = draw(st.integers(1, 4))
        p[core.P_LOW_PROFIT_MIN] = draw(st.floats(-0.1, 0.05))
        p[core.P_LOW_PROFIT_PAUSE_MS] = draw(durations)
    p[core.P_DAILY_LOSS_MAX] = draw(_off_or(st.floats(0.01, 0.3)))
    return p


def junk(value: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.one_of(value, st.sampled_from([NAN, math.inf, -math.inf, 0.0, -1.0]))


@st.composite
def any_params(draw: st.DrawFn) -> np.ndarray:
    """Valid params or any floats at all (for totality and parity)."""
    if draw(st.booleans()):
        p = draw(valid_params())
    else:
        p = np.array([draw(junk(st.floats(-5.0, 5e7))) for _ in range(core.N_PARAMS)])
    if draw(st.booleans()):
        p[core.P_SCALE_FLOOR] = draw(junk(st.floats(0.0, 1.5)))
        p[core.P_SCALE_WIN_TRADES] = draw(junk(st.integers(1, 6).map(float)))
        for index in range(core.P_SCALE_WIN_FULL, core.P_SCALE_VOL_FLOOR + 1):
            p[index] = draw(junk(st.floats(-0.5, 3.0)))
    return p


exit_op = st.tuples(st.just("exit"), steps, symbols, pnls, st.sampled_from(REASONS))
equity_op = st.tuples(st.just("equity"), steps, changes)
check_op = st.tuples(st.just("check"), steps, symbols)
events = st.lists(st.one_of(exit_op, equity_op, check_op), min_size=8, max_size=60)


def apply(
    fns: dict[str, Callable[..., Any]],
    state: np.ndarray,
    params: np.ndarray,
    op: tuple[Any, ...],
    t: int,
) -> tuple[int, Any]:
    """Apply one event at ``t + step``; return the new time and what the call returned."""
    t += op[1]
    last = state[core.S_EQUITY]
    last = START if math.isnan(last) else last
    if op[0] == "exit":
        _, _, symbol, pnl, reason = op
        return t, fns["record_exit"](state, symbol, t, pnl, reason, last + pnl)
    if op[0] == "equity":
        return t, fns["record_equity"](state, t, last * (1.0 + op[2]))
    return t, fns["entry_block"](state, op[2], t, params)


PLAIN = {name: getattr(core, name) for name in kernel.COMPILED if hasattr(core, name)}
NUMBA = {name: kernel.COMPILED[name] for name in PLAIN}


def fresh(params: np.ndarray, fns: dict[str, Callable[..., Any]] = PLAIN) -> np.ndarray:
    state: np.ndarray = fns["protection_state"](N_SYMBOLS, fns["history_needed"](params))
    fns["configure"](state, params)
    return state


# -- kill switch ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    params=any_params(),
    before=events,
    after=events,
    scope=st.sampled_from([core.KILL_GLOBAL, core.KILL_ACCOUNT]),
    probes=st.lists(st.tuples(st.integers(-10 * H, 10**4 * H), symbols), min_size=1),
)
def test_kill_switch_blocks_every_entry_at_once_until_revived(
    params: np.ndarray,
    before: list[tuple[Any, ...]],
    after: list[tuple[Any, ...]],
    scope: int,
    probes: list[tuple[int, int]],
) -> None:
    state, twin = fresh(params), fresh(params)  # the twin is never killed
    t = T0
    for op in before:
        t, _ = apply(PLAIN, state, params, op, t)
        apply(PLAIN, twin, params, op, t - op[1])
    core.set_kill_switch(state, scope, True, t)
    for op in after:
        t, found = apply(PLAIN, state, params, op, t)
        apply(PLAIN, twin, params, op, t - op[1])
        if op[0] == "check":
            assert found == core.BLOCK_KILL_SWITCH
        for offset, symbol in probes:  # any symbol, any time, even before the switch was set
            assert core.entry_block(state, symbol, t + offset, params) == core.BLOCK_KILL_SWITCH
            core.entry_block(twin, symbol, t + offset, params)
    core.set_kill_switch(state, scope, False, t)
    for symbol in range(N_SYMBOLS):  # revived: exactly what it would have decided unkilled
        assert core.entry_block(state, symbol, t, params) == core.entry_block(
            twin, symbol, t, params
        )


# -- pauses are kept -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(params=valid_params(), ops=events)
def test_a_blocked_symbol_is_never_allowed_before_its_until(
    params: np.ndarray, ops: list[tuple[Any, ...]]
) -> None:
    state = fresh(params)
    # promised[code][symbol]: the latest end of a pause that protection refused the symbol with.
    # Each protection must keep refusing until then on its own, not only behind another one.
    promised = np.full((core.N_BLOCK, N_SYMBOLS), -np.inf)
    t = T0
    for op in ops:
        t, _ = apply(PLAIN, state, params, op, t)
        for symbol in range(N_SYMBOLS):  # every symbol asks after every event
            found = core.entry_block(state, symbol, t, params)
            if (promised[:, symbol] > t).any():
                assert found != core.BLOCK_NONE
            for code in range(1, core.N_BLOCK):
                until = state[core.E_UNTIL + code]
                assert until > t or not promised[code, symbol] > t, (code, t, until)
                if until > t:
                    promised[code, symbol] = max(promised[code, symbol], until)
            assert (found == core.BLOCK_NONE) == (not (promised[:, symbol] > t).any())


# -- dynamic risk --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    params=any_params(),
    ops=events,
    ratio=junk(st.floats(0.0, 10.0)),
    marks=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
)
def test_risk_scale_is_in_zero_one_and_never_grows_as_drawdown_deepens(
    params: np.ndarray, ops: list[tuple[Any, ...]], ratio: float, marks: tuple[float, float]
) -> None:
    state = fresh(params)
    t = T0
    for op in ops:
        t, _ = apply(PLAIN, state, params, op, t)
    scale = core.risk_scale(state, params, ratio)
    assert 0.0 < scale <= 1.0
    peak = state[core.S_PEAK]
    if not peak > 0.0:
        return
    shallow, deep = state.copy(), state.copy()
    higher, lower = max(marks) * peak, min(marks) * peak
    core.record_equity(shallow, t, higher)
    core.record_equity(deep, t, lower)
    a = core.risk_scale(shallow, params, ratio)
    b = core.risk_scale(deep, params, ratio)
    assert 0.0 < b <= a <= 1.0


# -- compiled twins ------------------------------------------------------------------------


def test_every_protection_rule_has_its_compiled_form() -> None:
    # The rules and, through the star import, the layout's builders.
    modules = {core.__name__, core.__name__ + "_layout"}
    plain = {
        name
        for name, fn in vars(core).items()
        if inspect.isfunction(fn) and fn.__module__ in modules and not name.startswith("_")
    }
    assert plain - set(kernel.COMPILED) == {"block_name"}  # names are strings: Python only
    for name in plain - {"block_name"}:
        assert kernel.COMPILED[name].py_func is getattr(core, name)  # type: ignore[attr-defined]


def same(a: Any, b: Any) -> bool:
    """Bit-identical: arrays byte for byte (NaN payloads included), scalars by value and type."""
    if isinstance(a, np.ndarray):
        return bool(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return float(a) == float(b) and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


kill_op = st.tuples(st.just("kill"), st.sampled_from([0, 1, 2]), st.booleans())
scale_op = st.tuples(st.just("scale"), junk(st.floats(0.0, 10.0)))
reset_op = st.tuples(st.just("reset"))
mixed = st.lists(
    st.one_of(exit_op, equity_op, check_op, kill_op, scale_op, reset_op), min_size=8, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(
    params=any_params(),
    ops=mixed,
    history=st.integers(0, 6),
    probe=st.tuples(st.integers(-1, N_SYMBOLS), junk(st.floats(T0, T0 + 1e9))),
)
def test_compiled_twins_leave_bit_identical_states(
    params: np.ndarray, ops: list[tuple[Any, ...]], history: int, probe: tuple[int, float]
) -> None:
    assert same(core.history_needed(params), kernel.history_needed_nb(params))
    assert same(core.default_params(), kernel.default_params_nb())
    assert core.state_size(N_SYMBOLS, history) == kernel.state_size_nb(N_SYMBOLS, history)
    assert core.symbol_base(N_SYMBOLS, history, 2) == kernel.symbol_base_nb(N_SYMBOLS, history, 2)
    states = []
    for fns in (PLAIN, NUMBA):
        state = fns["protection_state"](N_SYMBOLS, history)
        if history % 2:
            fns["configure"](state, params)
        answers: list[Any] = []
        t = T0
        for op in ops:
            if op[0] == "kill":
                fns["set_kill_switch"](state, op[1], op[2], t)
            elif op[0] == "scale":
                answers.append(fns["risk_scale"](state, params, op[1]))
            elif op[0] == "reset":
                fns["reset_drawdown"](state)
            else:
                t, found = apply(fns, state, params, op, t)
                answers.append(found)
        answers.append(fns["entry_block"](state, probe[0], probe[1], params))
        states.append((state, answers))
    (plain_state, plain_answers), (nb_state, nb_answers) = states
    assert same(plain_state, nb_state)
    assert len(plain_answers) == len(nb_answers)
    for expected, found in zip(plain_answers, nb_answers, strict=True):
        assert same(expected, found), (expected, found)
