"""The history of market.klines_1m: REST backfill, dump imports, gap healing, reconciliation,
the start-up bootstrap, and the store they all write through."""
