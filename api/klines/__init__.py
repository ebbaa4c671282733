"""Klines: every candle the API answers with, read with bound parameters.

A 1m candle comes from analytics.candles_1m, a view over the minutes (market.klines_1m, then
market.candles_1m_live where no official kline exists). A candle of a longer interval tf comes
from analytics.candles_<tf> while dbt has built it from final minutes; everything newer is
rolled up in the same statement from analytics' final child candles and the minutes of
analytics.candles_1m. So a request in the middle of an hour gets the forming hour, as Binance
answers. An interval no mart holds (or one read in a zone that moves its candles off the
mart's) is summed from a stored one's rows; 1s candles are the streamer's table's rows.

request.py holds what a request asks, plan.py decides once how it is answered (source, grid,
bounds, direction), execute.py runs that plan, statements.py composes the SQL of api/sql/, and
marts.py knows whether dbt has built the marts yet.
"""

from api.klines.execute import fetch_klines
from api.klines.request import KlinesRequest, Row

__all__ = ["KlinesRequest", "Row", "fetch_klines"]
