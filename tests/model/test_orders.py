"""orders.py / ids.py: the transition table, Order values and deterministic client order ids."""

from __future__ import annotations

import itertools
import re
from collections import deque
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.model import strategies as gen
from xraybot.model import (
    TRANSITIONS,
    IntentKind,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    check_transition,
    derive_client_order_id,
)
from xraybot.model.errors import IllegalTransitionError, InvalidInputError
from xraybot.model.ids import CLIENT_ORDER_ID_LENGTH

D = Decimal
S = OrderStatus
CLIENT_ID = re.compile(r"^xb[a-z2-7]{30}$")
TERMINAL = {S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}


def intent(**overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "user_id": "alice",
        "strategy": "ema_cross",
        "symbol": "BTC/USDT",
        "side": Side.BUY,
        "kind": IntentKind.OPEN,
        "order_type": OrderType.LIMIT,
        "amount": D("0.01"),
        "price": D("60000.5"),
        "signal_ts_ms": 1_700_000_040_000,
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def order(**overrides: Any) -> Order:
    base = Order.from_intent(intent(), ts_ms=1_700_000_100_000)
    if not overrides:
        return base
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    fields.update(overrides)
    return Order(**fields)


# --------------------------------------------------------------------------- transition table


def test_the_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for targets in TRANSITIONS.values():
        assert set(targets) <= set(OrderStatus)


@pytest.mark.parametrize(
    ("source", "target"),
    list(itertools.product(OrderStatus, OrderStatus)),
    ids=lambda s: s.value,
)
def test_check_transition_allows_exactly_the_table(source: S, target: S) -> None:
    if target in TRANSITIONS[source]:
        check_transition(source, target)
        return
    with pytest.raises(IllegalTransitionError) as caught:
        check_transition(source, target)
    error = caught.value
    assert error.source == source.value
    assert error.target == target.value
    message = str(error)
    assert f"{source.value} -> {target.value}" in message
    assert source.value in message
    assert target.value in message


@pytest.mark.parametrize("source", sorted(TERMINAL))
def test_terminal_states_allow_nothing(source: S) -> None:
    assert source.is_terminal
    assert not TRANSITIONS[source]
    for target in OrderStatus:
        with pytest.raises(IllegalTransitionError, match=r"none \(terminal state\)"):
            check_transition(source, target)


def test_is_terminal_matches_the_table() -> None:
    for status in OrderStatus:
        assert status.is_terminal == (not TRANSITIONS[status]), status


def test_the_error_lists_the_allowed_targets() -> None:
    with pytest.raises(IllegalTransitionError) as caught:
        check_transition(S.OPEN, S.PENDING_SUBMIT)
    for allowed in TRANSITIONS[S.OPEN]:
        assert allowed.value in str(caught.value)


def _reachable(start: S) -> set[S]:
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in TRANSITIONS[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_every_state_is_reachable_from_pending_submit() -> None:
    assert _reachable(S.PENDING_SUBMIT) == set(OrderStatus)


@pytest.mark.parametrize("source", sorted(set(OrderStatus) - TERMINAL))
def test_every_live_state_can_still_end(source: S) -> None:
    assert {S.FILLED, S.CANCELED, S.EXPIRED} <= _reachable(source)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.PENDING_SUBMIT, S.UNKNOWN),  # the answer was lost
        (S.UNKNOWN, S.PENDING_SUBMIT),  # the lookup proved it never arrived: resend, same id
        (S.UNKNOWN, S.UNKNOWN),  # the lookup found nothing yet
        (S.UNKNOWN, S.FILLED),
        (S.PENDING_CANCEL, S.FILLED),  # the cancel lost the race against a fill
        (S.PENDING_CANCEL, S.OPEN),  # the cancel was refused
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),  # more fills
        (S.PENDING_SUBMIT, S.REJECTED),
    ],
)
def test_moves_the_engine_relies_on_are_allowed(source: S, target: S) -> None:
    check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.OPEN, S.PENDING_SUBMIT),  # would resend an order that is live
        (S.OPEN, S.OPEN),
        (S.PARTIALLY_FILLED, S.OPEN),  # fills never un-happen
        (S.OPEN, S.REJECTED),
    ],
)
def test_moves_that_would_lose_information_are_refused(source: S, target: S) -> None:
    with pytest.raises(IllegalTransitionError):
        check_transition(source, target)


# --------------------------------------------------------------------------- Order


def test_from_intent_copies_the_intent() -> None:
    source = intent(reduce_only=True, leverage=3, stop_price=D("59000"))
    made = Order.from_intent(source, ts_ms=5)
    assert made.status is S.PENDING_SUBMIT
    assert (made.created_ts_ms, made.updated_ts_ms) == (5, 5)
    for name in ("user_id", "strategy", "symbol", "side", "kind", "order_type", "amount"):
        assert getattr(made, name) == getattr(source, name)
    for name in ("price", "stop_price", "reduce_only", "leverage", "signal_ts_ms"):
        assert getattr(made, name) == getattr(source, name)
    assert made.filled == 0
    assert made.remaining == source.amount


def test_transition_returns_a_new_order_and_leaves_the_original_unchanged() -> None:
    original = order()
    opened = original.transition(S.OPEN, original.updated_ts_ms + 10, exchange_order_id="E1")
    partly = opened.transition(S.PARTIALLY_FILLED, opened.updated_ts_ms + 5, filled=D("0.004"))
    assert opened is not original
    assert original.status is S.PENDING_SUBMIT
    assert original.exchange_order_id is None
    assert original.updated_ts_ms == 1_700_000_100_000
    assert opened.status is S.OPEN
    assert opened.exchange_order_id == "E1"
    assert opened.updated_ts_ms == original.updated_ts_ms + 10
    assert opened.created_ts_ms == original.created_ts_ms
    assert opened.filled == 0
    assert partly.filled == D("0.004")
    assert partly.remaining == D("0.006")
    assert partly.client_order_id == original.client_order_id


def test_transition_accepts_the_same_timestamp() -> None:
    original = order()
    assert original.transition(S.OPEN, original.updated_ts_ms).status is S.OPEN


@gen.FAST
@given(back=st.integers(1, 10**9))
def test_transition_refuses_time_going_backwards(back: int) -> None:
    original = order()
    earlier = original.updated_ts_ms - back
    with pytest.raises(InvalidInputError) as caught:
        original.transition(S.OPEN, earlier)
    assert f"update time {earlier} is before the last update {original.updated_ts_ms}" in str(
        caught.value
    )


def test_transition_refuses_an_illegal_move_and_keeps_the_order() -> None:
    filled = order().transition(S.FILLED, 1_700_000_200_000, filled=D("0.01"))
    with pytest.raises(IllegalTransitionError) as caught:
        filled.transition(S.CANCELED, 1_700_000_300_000)
    assert (caught.value.source, caught.value.target) == ("filled", "canceled")
    assert filled.status is S.FILLED


@pytest.mark.parametrize("filled", [D("0.0100001"), D("1")])
def test_order_refuses_filled_above_amount(filled: Decimal) -> None:
    with pytest.raises(
        InvalidInputError, match=rf"filled must not exceed amount 0\.01; found {filled}"
    ):
        order(filled=filled)
    with pytest.raises(InvalidInputError, match="must not exceed amount"):
        order().transition(S.PARTIALLY_FILLED, 1_700_000_200_000, filled=filled)


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("amount", D(0), r"amount must be > 0; found 0"),
        ("amount", 0.01, r"amount must be a finite Decimal; found 0\.01 \(float\)"),
        ("filled", D("-0.001"), r"filled must be >= 0"),
        ("created_ts_ms", 1.7e12, r"created_ts_ms must be a non-negative int of milliseconds"),
        ("updated_ts_ms", -1, r"updated_ts_ms must be a non-negative int"),
    ],
)
def test_order_validation(field: str, value: object, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        order(**{field: value})


def test_is_terminal_follows_status() -> None:
    assert not order().is_terminal
    assert order().transition(S.REJECTED, 1_700_000_200_000).is_terminal


# --------------------------------------------------------------------------- client order ids

# The unit separator is left to the explicit test below.
_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x1f"), min_size=1, max_size=24
)
_INPUTS = st.tuples(
    _TEXT,  # user
    _TEXT,  # strategy
    _TEXT,  # symbol
    st.integers(0, 2**53),  # signal ts
    st.sampled_from(IntentKind),  # intent
    st.integers(0, 20),  # leg
)
_FIELD_STRATEGIES = (
    _TEXT,
    _TEXT,
    _TEXT,
    st.integers(0, 2**53),
    st.sampled_from(IntentKind),
    st.integers(0, 20),
)


@gen.FAST
@given(inputs=_INPUTS)
def test_client_order_id_is_deterministic_and_well_formed(inputs: tuple[Any, ...]) -> None:
    first = derive_client_order_id(*inputs)
    assert first == derive_client_order_id(*inputs)
    assert len(first) == CLIENT_ORDER_ID_LENGTH == 32
    assert CLIENT_ID.fullmatch(first), first


@gen.FAST
@given(inputs=_INPUTS, data=st.data())
def test_client_order_id_changes_when_any_one_input_changes(
    inputs: tuple[Any, ...], data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(inputs) - 1), label="position")
    replacement = data.draw(_FIELD_STRATEGIES[position], label="replacement")
    assume(replacement != inputs[position])
    changed = (*inputs[:position], replacement, *inputs[position + 1 :])
    assert derive_client_order_id(*inputs) != derive_client_order_id(*changed)


@pytest.mark.parametrize("position", range(6))
def test_client_order_id_changes_for_each_named_input(position: int) -> None:
    base: tuple[Any, ...] = (
        "alice",
        "ema_cross",
        "BTC/USDT",
        1_700_000_040_000,
        IntentKind.OPEN,
        0,
    )
    other: tuple[Any, ...] = ("bob", "rsi", "ETH/USDT", 1_700_000_100_000, IntentKind.CLOSE, 1)
    changed = (*base[:position], other[position], *base[position + 1 :])
    assert derive_client_order_id(*base) != derive_client_order_id(*changed)


def test_client_order_id_leg_defaults_to_zero() -> None:
    args = ("alice", "ema_cross", "BTC/USDT", 1_700_000_040_000, IntentKind.OPEN)
    assert derive_client_order_id(*args) == derive_client_order_id(*args, 0)


# Regression: the fields are joined with "\x1f" and neither escaped nor refused,
# so two different (strategy, symbol) pairs can produce one id; the second order would
# then be taken for the first and never placed. Either fix passes: distinct ids, or
# refusing the separator in the inputs.
def test_client_order_id_is_unambiguous_when_a_field_contains_the_separator() -> None:
    try:
        first = derive_client_order_id("alice", "ema\x1fBTC/USDT", "x", 1, IntentKind.OPEN)
        second = derive_client_order_id("alice", "ema", "BTC/USDT\x1fx", 1, IntentKind.OPEN)
    except InvalidInputError:
        return  # refusing the separator is a fix as well
    assert first != second


@gen.FAST
@given(
    user=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True),
    strategy=st.sampled_from(["ema_cross", "rsi", "breakout"]),
    symbol=st.sampled_from(["BTC/USDT", "ETH/USDT:USDT"]),
    ts=st.integers(0, 2**45),
    kind=st.sampled_from(IntentKind),
    leg=st.integers(0, 5),
    amount=gen.amounts(),
    price=gen.prices(),
    side=st.sampled_from(Side),
)
def test_intent_and_order_share_the_client_order_id(
    user: str,
    strategy: str,
    symbol: str,
    ts: int,
    kind: IntentKind,
    leg: int,
    amount: Decimal,
    price: Decimal,
    side: Side,
) -> None:
    made = intent(
        user_id=user,
        strategy=strategy,
        symbol=symbol,
        signal_ts_ms=ts,
        kind=kind,
        leg=leg,
        amount=amount,
        price=price,
        side=side,
    )
    expected = derive_client_order_id(user, strategy, symbol, ts, kind, leg)
    assert made.client_order_id == expected
    assert Order.from_intent(made, ts_ms=ts + 1).client_order_id == expected


def test_a_resized_or_repriced_retry_keeps_the_id() -> None:
    # The id comes from what caused the order, not from how risk sized or priced it, so a
    # redelivered job that re-sizes against a fresh balance still finds the first order.
    first = intent(amount=D("0.01"), price=D("60000"))
    retry = intent(amount=D("0.0099"), price=D("60010"), order_type=OrderType.MARKET)
    assert first.client_order_id == retry.client_order_id
    assert first.client_order_id != intent(leg=1).client_order_id


# --------------------------------------------------------------------------- fill rules


def test_filled_can_never_shrink() -> None:
    partly = order().transition(S.PARTIALLY_FILLED, 1_700_000_100_001, filled=D("0.004"))
    with pytest.raises(InvalidInputError, match=r"cannot shrink; found 0\.003 after 0\.004"):
        partly.transition(S.PARTIALLY_FILLED, 1_700_000_100_002, filled=D("0.003"))


def test_a_filled_order_is_filled_in_full() -> None:
    opened = order().transition(S.OPEN, 1_700_000_100_001)
    with pytest.raises(InvalidInputError, match=r"FILLED order must have filled == amount"):
        opened.transition(S.FILLED, 1_700_000_100_002, filled=D("0.004"))
    done = opened.transition(S.FILLED, 1_700_000_100_002, filled=opened.amount)
    assert done.remaining == 0
