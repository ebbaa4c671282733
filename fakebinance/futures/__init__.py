"""The fake's futures, USDⓈ-M and COIN-M: perpetual contracts trading through the spot engine
at their own tick and step (COIN-M's in contracts of a face value), their mark, index and
premium index series and funding (``prices``), served on /fapi/v1 and /dapi/v1 with the
futures' own weights and limits (``rest``). See docs/BINANCE.md, "Futures".
"""

from fakebinance.futures.contracts import (
    SEED_OFFSET,
    coin_contracts,
    default_contracts,
    synthetic_coin_contracts,
)
from fakebinance.futures.rest import FUTURES_INTERVALS, FuturesRestApi, kline_weight

__all__ = [
    "FUTURES_INTERVALS",
    "SEED_OFFSET",
    "FuturesRestApi",
    "coin_contracts",
    "default_contracts",
    "kline_weight",
    "synthetic_coin_contracts",
]
