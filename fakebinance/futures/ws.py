"""WebSocket side of the fake's USDⓈ-M futures, routed as fstream has been since 2026-04-23:
`/public/ws/...` carries the (undocumented) `<symbol>@trade`, `/market/ws/...` the
`<symbol>@aggTrade`; a stream asked for on the other path, or on the unrouted `/ws`, is
accepted and stays silent, as Binance's does (docs/BINANCE.md, "Futures"). Binance's futures
limits: 10 incoming messages a second, 1,024 streams a connection, a ping every 3 minutes.
"""

from __future__ import annotations

from fakebinance.futures.contracts import units_at
from fakebinance.wsfeed import WsHub, WsLimits

ROUTES = {"/public": ("trade",), "/market": ("aggTrade",)}
FUTURES_LIMITS = WsLimits(ping_interval=180, pong_timeout=600, max_incoming_per_sec=10)


class FuturesWsHub(WsHub):
    """A WsHub whose paths deliver the futures' routed feeds, framed as fstream frames them."""

    def kinds_for(self, path: str) -> tuple[str, ...]:
        """`/public/...` the trades, `/market/...` the aggTrades, anything else the public
        feeds (an unrouted connection gets only /public data)."""
        for prefix, kinds in ROUTES.items():
            if path.startswith(f"{prefix}/"):
                return kinds
        return ROUTES["/public"]

    def _encode(
        self, symbol: str, kind: str, start_us: int, end_us: int, event_ms: int
    ) -> tuple[list[int], list[bytes]]:
        spec = self.market.spec(symbol)
        price, qty = spec.price_decimals, spec.qty_decimals
        if kind == "trade":
            a = self.market.trade_arrays(symbol, start_us, end_us)
            times = a.time_us.tolist()
            raw = [
                (
                    f'{{"e":"trade","E":{event_ms},"T":{t // 1000},"s":"{symbol}","t":{i},'
                    f'"p":"{units_at(p, price)}","q":"{units_at(q, qty)}","X":"MARKET",'
                    f'"m":{"true" if m else "false"}}}'
                ).encode()
                for i, p, q, t, m in zip(
                    a.ids.tolist(),
                    a.price.tolist(),
                    a.qty.tolist(),
                    times,
                    a.buyer_maker.tolist(),
                    strict=True,
                )
            ]
            return times, raw
        a = self.market.agg_arrays(symbol, start_us, end_us)
        times = a.time_us.tolist()
        raw = [
            (
                f'{{"e":"aggTrade","E":{event_ms},"s":"{symbol}","a":{i},'
                f'"p":"{units_at(p, price)}","q":"{units_at(q, qty)}","nq":"{units_at(q, qty)}",'
                f'"f":{f},"l":{last},"T":{t // 1000},"m":{"true" if m else "false"}}}'
            ).encode()
            for i, p, q, f, last, t, m in zip(
                a.ids.tolist(),
                a.price.tolist(),
                a.qty.tolist(),
                a.first_id.tolist(),
                a.last_id.tolist(),
                times,
                a.buyer_maker.tolist(),
                strict=True,
            )
        ]
        return times, raw
