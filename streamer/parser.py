"""Wire JSON to typed records: trade and aggTrade events as scaled integers, no I/O."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import orjson

logger = logging.getLogger(__name__)

# Prices and quantities are integers scaled by 10**8: Binance strings carry 8 decimals, and
# integer sums are exact and faster than Decimal. p*q is then scaled by 10**16.
SCALE = 8
ONE = 10**SCALE


# The exact layout Binance sends for a combined-stream trade, matched whole: one regex is
# several times cheaper than building two dicts. Any other layout takes the JSON path.
_TRADE_FRAME = re.compile(
    rb'\{"stream":"[a-z0-9]+@trade","data":\{"e":"trade","E":(\d{1,18}),"s":"([A-Z0-9]{1,30})",'
    rb'"t":(\d{1,18}),"p":"(\d{1,20})\.(\d{8})","q":"(\d{1,20})\.(\d{8})","T":(\d{1,18}),'
    rb'"m":(true|false),"M":(?:true|false)\}\}'
)


class FrameError(ValueError):
    """A frame that is not JSON, or not a message the streamer understands."""


# Not frozen: a frozen dataclass's __init__ costs several times more, and this is the hot path.
@dataclass(slots=True)
class Trade:
    """One trade (``@trade``) or one aggregate trade (``@aggTrade``, several raw trades).

    ``seq`` is the id whose sequence proves completeness: the trade id, or the aggregate id.
    ``first_id``..``last_id`` are the raw trade ids it covers.
    """

    symbol: str
    seq: int
    first_id: int
    last_id: int
    price: int
    qty: int
    time_ms: int
    buyer_maker: bool
    # Exchange time of the message (0 for REST rows): how far the socket is proven complete.
    event_ms: int = 0

    @property
    def count(self) -> int:
        """How many raw trades this record stands for."""
        return self.last_id - self.first_id + 1


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to a SUBSCRIBE/UNSUBSCRIBE request."""

    id: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """Binance announces a maintenance disconnect: reconnect at once."""


Frame = Trade | Ack | ServerShutdown


def to_scaled(text: object, field_name: str = "value") -> int:
    """A non-negative decimal string as an integer scaled by 10**8; exact or an error."""
    # Binance always prints 8 decimals: one slice, one check, one int().
    if type(text) is str and len(text) > 9 and text[-9] == ".":
        digits = text[:-9] + text[-8:]
        if digits.isdigit() and digits.isascii():
            return int(digits)
    if type(text) is str and text.isascii():
        whole, dot, frac = text.partition(".")
        if whole.isdigit() and (not dot or frac.isdigit()):
            if len(frac) > SCALE:
                if frac[SCALE:].strip("0"):
                    raise FrameError(f"{field_name}: {text!r} has more than {SCALE} decimals")
                frac = frac[:SCALE]
            return int(whole + frac.ljust(SCALE, "0"))
    raise FrameError(f"{field_name}: {text!r} is not a decimal string")


def format_scaled(value: int, scale: int = SCALE) -> str:
    """An integer scaled by 10**scale as an exact decimal string."""
    if value >= 0 and scale == SCALE:
        # Seven of these per candle row, every flush: the common case in one f-string.
        return f"{value // ONE}.{value % ONE:08d}"
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}"


def format_quote(value: int) -> str:
    """A p*q sum (scale 10**16) with 8 decimals when that is exact, as Binance prints it."""
    if value % ONE == 0:
        return format_scaled(value // ONE, SCALE)
    return format_scaled(value, 2 * SCALE)


def _int(data: dict, key: str) -> int:
    value = data.get(key)
    if type(value) is not int:
        raise FrameError(f"field {key!r}: {value!r} is not an integer")
    return value


def _bool(data: dict, key: str) -> bool:
    value = data.get(key)
    if type(value) is not bool:
        raise FrameError(f"field {key!r}: {value!r} is not a boolean")
    return value


def _symbol(data: dict) -> str:
    value = data.get("s")
    if not isinstance(value, str) or not value:
        raise FrameError(f"field 's': {value!r} is not a symbol")
    return value


def parse_event(data: object) -> Frame:
    """One event object (the ``data`` of a combined-stream message) as a record."""
    if not isinstance(data, dict):
        raise FrameError("event is not a JSON object")
    kind = data.get("e")
    if kind == "trade":
        tid = _int(data, "t")
        return Trade(
            _symbol(data),
            tid,
            tid,
            tid,
            to_scaled(data.get("p"), "p"),
            to_scaled(data.get("q"), "q"),
            _int(data, "T"),
            _bool(data, "m"),
            _int(data, "E"),
        )
    if kind == "aggTrade":
        first, last = _int(data, "f"), _int(data, "l")
        if last < first:
            raise FrameError(f"aggTrade: last trade id {last} < first trade id {first}")
        return Trade(
            _symbol(data),
            _int(data, "a"),
            first,
            last,
            to_scaled(data.get("p"), "p"),
            to_scaled(data.get("q"), "q"),
            _int(data, "T"),
            _bool(data, "m"),
            _int(data, "E"),
        )
    if kind == "serverShutdown":
        return ServerShutdown()
    raise FrameError(f"unexpected event type {kind!r}")


def parse_frame(raw: str | bytes) -> Frame:
    """One WebSocket text frame, combined (``{"stream","data"}``) or raw, as a record."""
    m = _TRADE_FRAME.fullmatch(raw.encode() if type(raw) is str else raw)
    if m is not None:
        e, sym, tid, pw, pf, qw, qf, t, maker = m.groups()
        tid = int(tid)
        return Trade(
            sym.decode(),
            tid,
            tid,
            tid,
            int(pw + pf),
            int(qw + qf),
            int(t),
            maker == b"true",
            int(e),
        )
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from exc
    if type(msg) is not dict:
        raise FrameError("message is not a JSON object")
    data = msg.get("data")
    event = msg if data is None else data
    # Fast path for the common, well-formed trade; anything unusual takes the checked path.
    if type(event) is dict and event.get("e") == "trade":
        tid, t, e, m, sym = (
            event.get("t"),
            event.get("T"),
            event.get("E"),
            event.get("m"),
            event.get("s"),
        )
        if (
            type(tid) is int
            and type(t) is int
            and type(e) is int
            and type(m) is bool
            and type(sym) is str
            and sym
        ):
            return Trade(
                sym,
                tid,
                tid,
                tid,
                to_scaled(event.get("p"), "p"),
                to_scaled(event.get("q"), "q"),
                t,
                m,
                e,
            )
    if data is not None:
        return parse_event(data)
    if "id" in msg and ("result" in msg or "error" in msg):
        err = msg.get("error")
        ident = msg["id"]
        if type(ident) is not int:
            raise FrameError(f"answer id {ident!r} is not an integer")
        return Ack(ident, None if err is None else str(err))
    return parse_event(msg)


def parse_rest_trade(symbol: str, row: object) -> Trade:
    """One row of /api/v3/historicalTrades or /api/v3/trades."""
    if not isinstance(row, dict):
        raise FrameError("trade row is not a JSON object")
    tid = _int(row, "id")
    return Trade(
        symbol,
        tid,
        tid,
        tid,
        to_scaled(row.get("price"), "price"),
        to_scaled(row.get("qty"), "qty"),
        _int(row, "time"),
        _bool(row, "isBuyerMaker"),
    )


def parse_rest_agg_trade(symbol: str, row: object) -> Trade:
    """One row of /api/v3/aggTrades (same short keys as the stream)."""
    if not isinstance(row, dict):
        raise FrameError("aggTrade row is not a JSON object")
    first, last = _int(row, "f"), _int(row, "l")
    return Trade(
        symbol,
        _int(row, "a"),
        first,
        last,
        to_scaled(row.get("p"), "p"),
        to_scaled(row.get("q"), "q"),
        _int(row, "T"),
        _bool(row, "m"),
    )
