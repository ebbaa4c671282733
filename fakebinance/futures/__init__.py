"""The fake's USDⓈ-M futures: perpetual contracts trading through the spot engine at their own
tick and step, their mark, index and premium index series and funding (``prices``), served on
/fapi/v1 with the futures' own weights and limits (``rest``). See docs/BINANCE.md, "Futures".
"""

from fakebinance.futures.contracts import SEED_OFFSET, default_contracts
from fakebinance.futures.rest import FUTURES_INTERVALS, FuturesRestApi, kline_weight

__all__ = [
    "FUTURES_INTERVALS",
    "SEED_OFFSET",
    "FuturesRestApi",
    "default_contracts",
    "kline_weight",
]
