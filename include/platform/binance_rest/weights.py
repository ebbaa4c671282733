"""Binance's request weights and the figures the weight budget paces by."""

# Binance's request weights of every endpoint the platform calls.
WEIGHTS = {
    "/api/v3/klines": 2,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/time": 1,
    "/api/v3/aggTrades": 4,
    "/api/v3/historicalTrades": 25,
    # Without a symbol (every symbol at once), the only way the platform asks for it.
    "/api/v3/ticker/24hr": 80,
}
KLINES_LIMIT = 1000
# Binance counts weight in fixed windows aligned to the clock; a little slack absorbs clock skew
# (capped at a fortieth of the window, so short test windows are not mostly slack).
WINDOW_SLACK_S = 0.25
# Left in each window for other clients of the same IP (Airflow runs several tasks at once):
# their requests in flight are not in any header yet.
RESERVE_SHARE = 0.02
# Requests one job keeps in flight: enough to hide the round trip, few enough to stay gentle
# on a shared IP (the Airflow pool's slots per task follow from it: include/platform/rest_pool.py).
REQUESTS_IN_FLIGHT = 8
INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}
