"""The live sidecar: exact 1-minute candles from Binance trade streams into PostgreSQL."""
