"""The one Binance spot REST client: weight table, weight budget and retry policy, sync and async.

Every part that calls Binance REST goes through here: the batch jobs through BinanceRest
(threads), the streamer's repairs through AsyncBinanceRest (its event loop). Both spend the
request-weight budget fully and never get banned.

weights holds Binance's request weights and the pacing figures; errors what a request fails
with; budget the one process's WeightBudget; shared the SharedWeightBudget every process shares
through PostgreSQL (not "shared_budget": that is the name of its function, re-exported here);
retry the RetryPolicy; client the core both faces share and BinanceRest; async_client
AsyncBinanceRest. The names are re-exported here, where callers have always imported them.
"""

from __future__ import annotations

from include.platform.binance_rest.async_client import (
    ASYNC_MAX_IN_FLIGHT,
    URGENT_IN_FLIGHT,
    URGENT_PATHS,
    URGENT_SHARE,
    AsyncBinanceRest,
)
from include.platform.binance_rest.budget import WeightBudget
from include.platform.binance_rest.client import (
    JOB_EXCHANGE_INFO_AGE_S,
    BinanceRest,
    RestStats,
    tls_context,
)
from include.platform.binance_rest.errors import (
    BinanceError,
    IpBannedError,
    RetryableError,
    ThrottledError,
)
from include.platform.binance_rest.retry import (
    MAX_SERVER_ERRORS,
    MISSING_RETRY_AFTER_S,
    RetryPolicy,
    retry_after_seconds,
)
from include.platform.binance_rest.shared import (
    BLOCK_SHARED,
    PURGE_SHARED,
    RESERVE_SHARED,
    SHARED_BUDGET,
    SHARED_RETRY_S,
    SharedWeightBudget,
    shared_budget,
)
from include.platform.binance_rest.weights import (
    INTERVAL_SECONDS,
    KLINES_LIMIT,
    REQUESTS_IN_FLIGHT,
    RESERVE_SHARE,
    WEIGHTS,
    WINDOW_SLACK_S,
)

__all__ = [
    "ASYNC_MAX_IN_FLIGHT",
    "BLOCK_SHARED",
    "INTERVAL_SECONDS",
    "JOB_EXCHANGE_INFO_AGE_S",
    "KLINES_LIMIT",
    "MAX_SERVER_ERRORS",
    "MISSING_RETRY_AFTER_S",
    "PURGE_SHARED",
    "REQUESTS_IN_FLIGHT",
    "RESERVE_SHARE",
    "RESERVE_SHARED",
    "SHARED_BUDGET",
    "SHARED_RETRY_S",
    "URGENT_IN_FLIGHT",
    "URGENT_PATHS",
    "URGENT_SHARE",
    "WEIGHTS",
    "WINDOW_SLACK_S",
    "AsyncBinanceRest",
    "BinanceError",
    "BinanceRest",
    "IpBannedError",
    "RestStats",
    "RetryPolicy",
    "RetryableError",
    "SharedWeightBudget",
    "ThrottledError",
    "WeightBudget",
    "retry_after_seconds",
    "shared_budget",
    "tls_context",
]
