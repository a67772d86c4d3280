"""A backtest result as self-checking bytes, and back, bit for bit.

Layout: ``b"XBRC"``, the format number (uint16 little-endian), blake2b-256 of the body,
then the body: an ``np.savez_compressed`` archive (never pickled) of the curves, the trade
columns and a JSON ``meta`` record (identity, params, settings). Arrays travel as raw
bytes, so every float64 comes back with the same bits, NaN payloads and -0.0 included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
import zipfile
from typing import Any

import numpy as np

from xraybot.backtest.cache_keys import canonical_json, settings_document, settings_from_document
from xraybot.backtest.results import BacktestResult, TradeRecords
from xraybot.model.errors import InvalidInputError

PAYLOAD_FORMAT = 1
_MAGIC = b"XBRC"
_HEADER = struct.Struct("<4sH")
_DIGEST_SIZE = 32
_CURVES = ("ts_ms", "equity", "exposure", "close")
_TRADE_COLUMNS = tuple(f.name for f in dataclasses.fields(TradeRecords))


class UnusablePayloadError(Exception):
    """A stored payload cannot be trusted; the message is the reason, for the log."""


def encode_result(result: BacktestResult) -> bytes:
    """Encode a result as a self-checking payload (see the module docstring)."""
    arrays: dict[str, np.ndarray[Any, Any]] = {
        name: np.asarray(getattr(result, name)) for name in _CURVES
    }
    for name in _TRADE_COLUMNS:
        arrays[f"trades.{name}"] = np.asarray(getattr(result.trades, name))
    for name, values in arrays.items():
        if values.dtype.hasobject:
            raise InvalidInputError(
                f"result column {name} holds Python objects; found dtype {values.dtype}. "
                "Backtest results are numeric arrays."
            )
    meta = {
        "exchange": result.exchange,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "strategy": result.strategy,
        "params": dict(result.params),
        "settings": settings_document(result.settings),
    }
    arrays["meta"] = np.frombuffer(canonical_json(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    body = buffer.getvalue()
    checksum = hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest()
    return _HEADER.pack(_MAGIC, PAYLOAD_FORMAT) + checksum + body


def _body(payload: bytes | None) -> bytes:
    if not payload:
        raise UnusablePayloadError("the stored row has no payload")
    start = _HEADER.size + _DIGEST_SIZE
    if len(payload) < start:
        raise UnusablePayloadError(f"the payload is truncated to {len(payload)} bytes")
    magic, fmt = _HEADER.unpack_from(payload)
    if magic != _MAGIC:
        raise UnusablePayloadError(f"the payload is not a cached result (header {magic!r})")
    if fmt != PAYLOAD_FORMAT:
        raise UnusablePayloadError(
            f"the payload has format {fmt}; this xraybot reads format {PAYLOAD_FORMAT}"
        )
    body = payload[start:]
    if hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest() != payload[_HEADER.size : start]:
        raise UnusablePayloadError("checksum mismatch: the payload was altered or truncated")
    return body


def decode_result(payload: bytes | None) -> BacktestResult:
    """Decode a payload from :func:`encode_result`; raise UnusablePayloadError saying why not."""
    body = _body(payload)
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        trades = TradeRecords(**{name: arrays.pop(f"trades.{name}") for name in _TRADE_COLUMNS})
        result = BacktestResult(
            exchange=meta["exchange"],
            symbol=meta["symbol"],
            timeframe=meta["timeframe"],
            strategy=meta["strategy"],
            params=meta["params"],
            settings=settings_from_document(meta["settings"]),
            ts_ms=arrays.pop("ts_ms"),
            equity=arrays.pop("equity"),
            exposure=arrays.pop("exposure"),
            trades=trades,
            close=arrays.pop("close"),
        )
    except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise UnusablePayloadError(
            f"the payload could not be read ({type(e).__name__}: {e})"
        ) from e
    except InvalidInputError as e:
        raise UnusablePayloadError(f"the payload's settings are no longer valid ({e})") from e
    _check_shapes(result)
    return result


def _check_shapes(result: BacktestResult) -> None:
    n = result.candles
    if result.ts_ms.shape != (n,):
        raise UnusablePayloadError(f"ts_ms has shape {result.ts_ms.shape}; expected 1-D")
    for name in ("equity", "exposure"):
        shape = getattr(result, name).shape
        if shape != (n,):
            raise UnusablePayloadError(f"{name} has shape {shape}; the result has {n} candles")
    if result.close.shape not in ((0,), (n,)):
        raise UnusablePayloadError(f"close has shape {result.close.shape}; expected ({n},)")
    rows = len(result.trades)
    for name in _TRADE_COLUMNS:
        if getattr(result.trades, name).shape != (rows,):
            raise UnusablePayloadError(f"trade column {name} does not have {rows} rows")


__all__ = ["PAYLOAD_FORMAT", "UnusablePayloadError", "decode_result", "encode_result"]
