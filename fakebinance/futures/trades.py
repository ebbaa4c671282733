"""The fake's futures trade endpoints and 24-hour ticker: spot's handlers over the contracts, at
their tick and step (USDⓈ-M), and COIN-M's names for the base asset's quantities."""

from __future__ import annotations

from decimal import Decimal

import orjson
from aiohttp import web

from fakebinance.futures.contracts import pair_of, units_at
from fakebinance.market.units import fmt8
from fakebinance.rest import Formats, RestApi, json_response


def places(value: Decimal, decimals: int) -> str:
    """A decimal printed with exactly ``decimals`` places, as fapi prints a contract's values."""
    return f"{value.quantize(Decimal(1).scaleb(-decimals)):f}"


class ContractTrades(RestApi):
    """Spot's trade endpoints and 24-hour ticker over the contracts, prices at their tick and
    quantities at their step as fapi prints them (charged by FuturesRestApi's middleware)."""

    def formats(self, symbol: str) -> Formats:
        spec = self.market.spec(symbol)
        return (
            lambda units: units_at(units, spec.price_decimals),
            lambda units: units_at(units, spec.qty_decimals),
            fmt8,
        )


class CoinTrades(ContractTrades):
    """COIN-M's trades (``baseQty`` for ``quoteQty``) and 24-hour ticker (``pair`` and
    ``baseVolume`` for ``quoteVolume``; its weighted average price is contracts x size over the
    base volume); ContractTrades' formats, the base quantity at 8 decimals as fmt8 prints it."""

    async def historical_trades(self, request: web.Request) -> web.Response:
        return _base_qty(await super().historical_trades(request))

    async def recent_trades(self, request: web.Request) -> web.Response:
        return _base_qty(await super().recent_trades(request))

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        answer = await super().ticker_24hr(request)
        rows = orjson.loads(answer.body)
        one = isinstance(rows, dict)
        out = [self._coin_ticker(row) for row in ([rows] if one else rows)]
        return json_response(out[0] if one else out)

    def _coin_ticker(self, row: dict) -> dict:
        spec = self.market.spec(row["symbol"])
        volume, base = Decimal(row["volume"]), Decimal(row["quoteVolume"])
        average = volume * spec.contract_size / base if base else Decimal(0)
        out = {"symbol": row["symbol"], "pair": pair_of(spec)}
        for key, value in row.items():
            if key == "quoteVolume":
                out["baseVolume"] = value
            elif key == "weightedAvgPrice":
                out[key] = places(average, spec.price_decimals)
            elif key != "symbol":
                out[key] = value
        return out


def _base_qty(answer: web.Response) -> web.Response:
    """A trades answer with COIN-M's field names: baseQty, no isBestMatch."""
    rows = orjson.loads(answer.body)
    return json_response(
        [
            {("baseQty" if k == "quoteQty" else k): v for k, v in row.items() if k != "isBestMatch"}
            for row in rows
        ]
    )
