"""The read side: Binance-compatible klines, live kline streams, UDF, gRPC and a chart page."""
