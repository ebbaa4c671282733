"""Binance's request weights and the figures the weight budget paces by."""

from include.platform.markets import SPOT

# Binance's request weights of every spot endpoint the platform calls (markets.SPOT's, by path;
# a futures market's weigh by markets.Market.weight).
WEIGHTS = {SPOT.path(endpoint): weight for endpoint, weight in SPOT.weights.items()}
KLINES_LIMIT = SPOT.klines_page
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
