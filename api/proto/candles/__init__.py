"""Generated gRPC code for the candle stream (see generate.sh)."""
