"""The API's answers to what went wrong outside a handler, in Binance's JSON form."""

from __future__ import annotations

import logging

import psycopg
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from api.binance import json_response
from api.guard import BUSY

logger = logging.getLogger("api.app")


async def _not_found(request: Request, exc: Exception) -> Response:
    """An endpoint Binance has and this platform does not serve (order book, account, ...):
    Binance's JSON error, which clients parse, not a plain-text page."""
    if request.url.path.startswith(("/api/", "/sapi/", "/udf/")):
        return json_response({"code": -1020, "msg": "This operation is not supported."}, 404)
    return Response("Not Found", 404, media_type="text/plain")


async def _overloaded(request: Request, exc: Exception) -> Response:
    """Every connection of a pool busy past API's wait: Binance's -1008, to try again later."""
    logger.warning("no database connection free: %s", request.url.path)
    return json_response(BUSY, 503)


async def _timed_out(request: Request, exc: Exception) -> Response:
    """A query past API_STATEMENT_TIMEOUT: Binance's answer for a backend that did not answer."""
    logger.warning("query cancelled after the statement timeout: %s %s", request.url.path, exc)
    return json_response(
        {
            "code": -1007,
            "msg": "Timeout waiting for response from backend server. "
            "Send status unknown; execution status unknown.",
        },
        503,
    )


EXCEPTION_HANDLERS = {
    psycopg.errors.QueryCanceled: _timed_out,
    PoolTimeout: _overloaded,
    404: _not_found,
}
