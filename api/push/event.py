"""The push's one candle event: a candle as the tables hold it, before any face's form. The
hub fans it out; each face (api/ws.py's WebSocket frames, api/grpc_service.py's Candle
messages) encodes it once per stream, in its own form."""

from __future__ import annotations

from dataclasses import dataclass

from api.klines import Row


@dataclass(frozen=True, slots=True)
class CandleEvent:
    """One candle of a stream: its symbol, the stream's interval key ("1h", "1d@+08:00"), the
    klines row (exact decimal strings), closed or not, when it was read, and the trade ids a
    1m candle's trades span (-1 when not known)."""

    symbol: str
    key: str
    row: Row
    closed: bool
    event_ms: int
    first_trade_id: int = -1
    last_trade_id: int = -1
