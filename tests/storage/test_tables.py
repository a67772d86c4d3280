"""The Money column type: exact Decimals in, exact Decimals out, floats refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from xraybot.storage.tables import Money, metadata

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()


@pytest.mark.parametrize("text", ["0.000000000000000001", "-12.3400", "1E-18", "0E-8", "5"])
def test_sqlite_stores_the_canonical_text_and_reads_it_back(text: str) -> None:
    value = Decimal(text)
    stored = Money().process_bind_param(value, SQLITE)

    assert stored == str(value)
    back = Money().process_result_value(stored, SQLITE)
    assert back == value
    assert str(back) == str(value)


def test_postgresql_gets_the_decimal_itself() -> None:
    value = Decimal("123456789012345.123456789012345678")
    assert Money().process_bind_param(value, POSTGRES) is value


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgres"])
def test_positive_exponents_are_written_plainly_on_both(dialect: object) -> None:
    stored = Money().process_bind_param(Decimal("1.5E+3"), dialect)  # type: ignore[arg-type]
    assert str(stored) == "1500"


@pytest.mark.parametrize("value", [1.5, 2, "3.1", Decimal("NaN"), Decimal("Infinity")])
def test_anything_but_a_finite_decimal_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="finite Decimal"):
        Money().process_bind_param(value, SQLITE)


def test_money_columns_use_money() -> None:
    money_names = {"amount", "price", "fee", "fees", "entry_price", "exit_price", "filled"}
    for table in metadata.tables.values():
        for column in table.columns:
            if column.name in money_names:
                assert isinstance(column.type, Money), f"{table.name}.{column.name}"
