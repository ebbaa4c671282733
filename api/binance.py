"""Binance's wire forms: error bodies, parameter rules, kline rows and kline stream events."""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson
from starlette.responses import Response

from api.klines import KlinesRequest, Row
from include.platform.intervals import INTERVALS, SECOND, bucket_end
from include.platform.markets import pair_of

SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
# <symbol>@kline_<interval>, and @+08:00 after it: the one zone Binance's kline streams take.
STREAM_RE = re.compile(r"^([a-z0-9\-_.]{1,20})@kline_([0-9]+[smhdwM])(@\+08:00)?$")
# Futures' <pair>_<contractType>@continuousKline_<interval>: the perpetual's is the one held.
CONTINUOUS_RE = re.compile(r"^([a-z0-9]{1,20})_perpetual@continuousKline_([0-9]+[smhdwM])$")
# Every interval Binance serves: 1s only for SECOND_CANDLE_SYMBOLS (the caller checks).
SERVED_INTERVALS = (SECOND, *INTERVALS)
STREAM_ZONE = "@+08:00"
STREAM_ZONE_MS = 8 * 3_600_000
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500
# Binance's timeZone: hours, or hours and minutes, within -12:00..+14:00.
TIMEZONE_RE = re.compile(r"^([+-]?)([0-9]{1,2})(?::([0-9]{2}))?$")


def json_response(payload: object, status: int = 200) -> Response:
    """A JSON answer, encoded as every handler of the API encodes them (orjson)."""
    return Response(orjson.dumps(payload), status, media_type="application/json")


class BinanceError(Exception):
    """An error in Binance's form: HTTP status and {"code", "msg"}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

    def body(self) -> dict:
        """The JSON body Binance sends."""
        return {"code": self.code, "msg": self.msg}


def mandatory(query: Mapping[str, str], name: str) -> str:
    """A parameter that must be present and non-empty (-1102 otherwise)."""
    value = query.get(name, "")
    if not value:
        raise BinanceError(
            400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def optional_int(query: Mapping[str, str], name: str) -> int | None:
    """An integer parameter, or None when absent (-1100 when it is not an integer)."""
    value = query.get(name)
    if value is None or value == "":
        return None
    if not re.fullmatch(r"-?[0-9]{1,20}", value):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^(-)?[0-9]{1,20}$'.",
        )
    return int(value)


def symbol_param(query: Mapping[str, str], name: str = "symbol") -> str:
    """A symbol as Binance spells it (upper case, -1100 otherwise)."""
    value = mandatory(query, name)
    if not SYMBOL_RE.match(value):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^[A-Z0-9-_.]{1,20}$'.",
        )
    return value


def symbols_param(query: Mapping[str, str], name: str = "symbols") -> list[str]:
    """``symbols=["A","B"]`` as Binance takes it (-1100 when it is not that)."""
    value = query.get(name, "")
    try:
        symbols = orjson.loads(value)
    except orjson.JSONDecodeError:
        symbols = None
    if (
        not isinstance(symbols, list)
        or not symbols
        or not all(isinstance(s, str) and SYMBOL_RE.match(s) for s in symbols)
    ):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            '\'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$\'.',
        )
    return list(dict.fromkeys(symbols))


def interval_param(query: Mapping[str, str]) -> str:
    """One of Binance's 16 intervals (-1120 otherwise)."""
    value = mandatory(query, "interval")
    if value not in SERVED_INTERVALS:
        raise BinanceError(400, -1120, "Invalid interval.")
    return value


def klines_request(query: Mapping[str, str], most: int = MAX_LIMIT) -> KlinesRequest:
    """Validate /api/v3/klines parameters as Binance does (the symbol is checked by the caller);
    ``limit`` capped at ``most`` (spot's 1,000; futures' 1,500)."""
    symbol = symbol_param(query)
    interval = interval_param(query)
    start = optional_int(query, "startTime")
    end = optional_int(query, "endTime")
    limit = optional_int(query, "limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    elif limit <= 0:
        raise BinanceError(
            400,
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        )
    if start is not None and end is not None and start > end:
        raise BinanceError(400, -1023, "Start time is greater than end time.")
    offset = timezone_ms(query.get("timeZone"))
    return KlinesRequest(symbol, interval, start, end, min(limit, most), offset)


def timezone_ms(value: str | None) -> int:
    """Binance's ``timeZone`` (``8``, ``-1:00``, ``05:45``; -12:00..+14:00) as an offset in ms
    (-1100 otherwise). The candles are then read in that zone (include/platform/intervals.py);
    startTime and endTime stay UTC."""
    if value is None:
        return 0
    m = TIMEZONE_RE.match(value.strip())
    minutes = None
    if m is not None and (m.group(3) is None or int(m.group(3)) < 60):
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        minutes = -minutes if m.group(1) == "-" else minutes
    if minutes is None or not -12 * 60 <= minutes <= 14 * 60:
        raise BinanceError(
            400,
            -1100,
            "Illegal characters found in parameter 'timeZone'; legal range is "
            "hours or hours:minutes within -12:00 to +14:00.",
        )
    return minutes * 60_000


def rest_row(interval: str, row: Row, offset_ms: int = 0) -> list:
    """A /api/v3/klines row: close time = the next candle's open - 1 ms, the ignored field "0"."""
    t, o, h, lo, c, v, q, n, tv, tq = row
    return [t, o, h, lo, c, v, bucket_end(interval, t, offset_ms) - 1, q, n, tv, tq, "0"]


def stream_name(symbol: str, interval: str) -> str:
    """The stream a kline event travels on, e.g. btcusdt@kline_1m."""
    return f"{symbol.lower()}@kline_{interval}"


def parse_stream(name: str) -> tuple[str, str] | None:
    """(SYMBOL, interval key) of a well-formed kline stream served here, else None; the key is
    the interval, with the zone when the stream names one ("1d@+08:00")."""
    m = STREAM_RE.match(name)
    if m is None or m.group(2) not in SERVED_INTERVALS:
        return None
    return m.group(1).upper(), m.group(2) + (m.group(3) or "")


def parse_continuous(name: str) -> tuple[str, str] | None:
    """(PAIR, interval) of a well-formed perpetual continuousKline stream (futures' only; no
    1s), else None."""
    m = CONTINUOUS_RE.match(name)
    if m is None or m.group(2) not in INTERVALS:
        return None
    return m.group(1).upper(), m.group(2)


def continuous_event(event: dict) -> dict:
    """A perpetual's kline event as its pair's continuousKline stream carries it: the pair and
    contract type outside, no symbol inside (docs/api.md "Futures")."""
    k = {key: value for key, value in event["k"].items() if key != "s"}
    pair = pair_of(event["s"])
    return {"e": "continuous_kline", "E": event["E"], "ps": pair, "ct": "PERPETUAL", "k": k}


def zoned(key: str) -> tuple[str, int]:
    """(interval, offset ms ahead of UTC) of a stream's interval key."""
    if key.endswith(STREAM_ZONE):
        return key[: -len(STREAM_ZONE)], STREAM_ZONE_MS
    return key, 0


def kline_event(
    symbol: str,
    key: str,
    row: Row,
    *,
    closed: bool,
    event_ms: int,
    first_trade_id: int = -1,
    last_trade_id: int = -1,
) -> dict:
    """A ``kline`` stream event in Binance's form (``key``: the stream's interval key)."""
    interval, offset = zoned(key)
    t, o, h, lo, c, v, q, n, tv, tq = row
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": t,
            "T": bucket_end(interval, t, offset) - 1,
            "s": symbol,
            "i": interval,
            "f": first_trade_id,
            "L": last_trade_id,
            "o": o,
            "c": c,
            "h": h,
            "l": lo,
            "v": v,
            "n": n,
            "x": closed,
            "q": q,
            "V": tv,
            "Q": tq,
            "B": "0",
        },
    }
