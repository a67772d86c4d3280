"""The error tree, named for what the caller must do.

::

    XraybotError
    ├── TemporaryError                 retry later, with backoff; the request is safe to repeat
    │   ├── ExchangeUnavailableError   the exchange or network did not answer
    │   ├── RateLimitError             we were throttled; wait ``retry_after_s`` if given
    │   └── OrderStatusUnknownError    the answer was lost; look the order up by its client id
    ├── InvalidInputError              fix the input (config, arguments, data, order) and try again
    │   ├── ConfigError                a configuration value is wrong; ``problems`` lists each one
    │   ├── DataValidationError        a candle series or data file breaks an invariant
    │   ├── InvalidOrderError          the exchange or our rules refuse this order as asked
    │   │   └── InsufficientFundsError the account cannot pay for it
    │   └── UnknownSymbolError         the market does not exist on this exchange
    └── OperationalError               stop and alert a human; repeating cannot help
        ├── AuthenticationError        the exchange refused the user's API keys
        ├── IllegalTransitionError     an order was asked to move between states it cannot
        ├── StrategyError              user strategy code raised
        ├── StorageError               the journal could not be read or written
        └── LiveTradingRefusedError    real money was asked for without the explicit opt-in

Messages say what was found and what to do ("was"/"found", never "got"), and never
contain secrets: the CLI and the log pipeline pass every message through the
redactor as well, but an error should not depend on that.
"""

from __future__ import annotations


class XraybotError(Exception):
    """Base of every error xraybot raises on purpose."""


# -- retry -----------------------------------------------------------------------------


class TemporaryError(XraybotError):
    """Retry later with backoff; the same request is safe to send again."""


class ExchangeUnavailableError(TemporaryError):
    """The exchange or the network did not answer in time."""


class RateLimitError(TemporaryError):
    """The exchange or our own limiter throttled the call."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OrderStatusUnknownError(TemporaryError):
    """An order request's answer was lost; look the order up by client id before resending."""

    def __init__(self, message: str, client_order_id: str) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


# -- fix the input ---------------------------------------------------------------------


class InvalidInputError(XraybotError):
    """Fix the input (configuration, arguments, data, order) and try again."""


class ConfigError(InvalidInputError):
    """One or more configuration values are wrong; ``problems`` holds one line per value."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class DataValidationError(InvalidInputError):
    """Market data breaks an invariant (order, duplicates, prices, shapes)."""


class InvalidOrderError(InvalidInputError):
    """The order, as asked, is refused by the exchange or by our own rules."""


class InsufficientFundsError(InvalidOrderError):
    """The account cannot pay for the order."""


class UnknownSymbolError(InvalidInputError):
    """The symbol is not listed on the exchange."""


# -- stop --------------------------------------------------------------------------------


class OperationalError(XraybotError):
    """Stop and alert a human: repeating the call cannot succeed."""


class AuthenticationError(OperationalError):
    """The exchange refused the user's API keys or their permissions."""


class IllegalTransitionError(OperationalError):
    """An order was asked to move between two states the transition table forbids."""

    def __init__(self, message: str, source: str, target: str) -> None:
        super().__init__(message)
        self.source = source
        self.target = target


class StrategyError(OperationalError):
    """User strategy code raised; the strategy is stopped for that symbol."""


class StorageError(OperationalError):
    """The trade journal or another repository could not be read or written."""


class LiveTradingRefusedError(OperationalError):
    """Live trading was requested without the user's ``live`` setting and ``--allow-live``."""


__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DataValidationError",
    "ExchangeUnavailableError",
    "IllegalTransitionError",
    "InsufficientFundsError",
    "InvalidInputError",
    "InvalidOrderError",
    "LiveTradingRefusedError",
    "OperationalError",
    "OrderStatusUnknownError",
    "RateLimitError",
    "StorageError",
    "StrategyError",
    "TemporaryError",
    "UnknownSymbolError",
    "XraybotError",
]
