"""WebSocket side of the fake's USDⓈ-M futures, routed as fstream has been since 2026-04-23:
`/public/ws/...` carries the (undocumented) `<symbol>@trade`, `/market/ws/...` the
`<symbol>@aggTrade`; a stream asked for on the other path, or on the unrouted `/ws`, is
accepted and stays silent, as Binance's does (docs/BINANCE.md, "Futures"). Binance's futures
limits: 10 incoming messages a second, 1,024 streams a connection, a ping every 3 minutes.
COIN-M's dstream is not split: its `/ws` and `/stream` carry `<symbol>@aggTrade` (the fake
serves it under `/dstream`, as BINANCE_COINM_WS_URL's path, beside spot's own `/ws`), with at
most 200 streams a connection.
"""

from __future__ import annotations

import functools

from fakebinance.futures.contracts import units_at
from fakebinance.wsfeed import Formats, WsHub, WsLimits

ROUTES = {"/public": ("trade",), "/market": ("aggTrade",)}
FUTURES_LIMITS = WsLimits(ping_interval=180, pong_timeout=600, max_incoming_per_sec=10)
COIN_LIMITS = WsLimits(
    ping_interval=180, pong_timeout=600, max_incoming_per_sec=10, max_streams=200
)
# Where the fake serves dstream's paths.
COIN_WS_PREFIX = "/dstream"


class FuturesWsHub(WsHub):
    """A WsHub whose paths deliver the futures' routed feeds, framed as fstream frames them."""

    def kinds_for(self, path: str) -> tuple[str, ...]:
        """`/public/...` the trades, `/market/...` the aggTrades, anything else the public
        feeds (an unrouted connection gets only /public data)."""
        for prefix, kinds in ROUTES.items():
            if path.startswith(f"{prefix}/"):
                return kinds
        return ROUTES["/public"]

    def formats(self, symbol: str) -> Formats:
        """Prices to the contract's tick, quantities to its step."""
        spec = self.market.spec(symbol)
        return (
            functools.partial(units_at, decimals=spec.price_decimals),
            functools.partial(units_at, decimals=spec.qty_decimals),
        )

    @staticmethod
    def trade_frame(symbol: str, event_ms: int, fmt: Formats, row: tuple) -> bytes:
        """One `<symbol>@trade` message as fstream's /public sends it (`X`: the trade's type)."""
        price, qty = fmt
        i, p, q, t, m = row
        return (
            f'{{"e":"trade","E":{event_ms},"T":{t // 1000},"s":"{symbol}","t":{i},'
            f'"p":"{price(p)}","q":"{qty(q)}","X":"MARKET","m":{"true" if m else "false"}}}'
        ).encode()

    @staticmethod
    def agg_frame(symbol: str, event_ms: int, fmt: Formats, row: tuple) -> bytes:
        """One `<symbol>@aggTrade` message as /market sends it (`nq`: without RPI orders)."""
        price, qty = fmt
        i, p, q, f, last, t, m = row
        return (
            f'{{"e":"aggTrade","E":{event_ms},"s":"{symbol}","a":{i},"p":"{price(p)}",'
            f'"q":"{qty(q)}","nq":"{qty(q)}","f":{f},"l":{last},"T":{t // 1000},'
            f'"m":{"true" if m else "false"}}}'
        ).encode()


class CoinWsHub(FuturesWsHub):
    """dstream (COIN-M): not split, every path carries the documented ``<symbol>@aggTrade``."""

    def kinds_for(self, path: str) -> tuple[str, ...]:
        return ("aggTrade",)
