"""REST errors, limits and access as Binance answers them."""

from __future__ import annotations

import os
import sys

import httpx
import pytest

from api.config import ApiConfig
from tests.support.api import running_api
from tests.support.cli import run_in_project
from tests.support.klines import flat_minutes

FILL_1M = flat_minutes(1200)


@pytest.fixture
def filled(conn) -> None:
    """1200 minutes of BTCUSDT official klines, nothing built by dbt yet."""
    conn.execute(FILL_1M)


async def _get(api, **params) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.http) as client:
        return await client.get("/api/v3/klines", params=params)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"interval": "1m"}, -1102),
        ({"symbol": "BTCUSDT"}, -1102),
        ({"symbol": "BTCUSDT", "interval": "2m"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "3d"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "1s"}, -1120),
        ({"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        ({"symbol": "btcusdt", "interval": "1m"}, -1100),
        ({"symbol": "BTCUSDT' or '1'='1", "interval": "1m"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "startTime": "1;drop table x"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "0"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "startTime": "2", "endTime": "1"}, -1023),
        ({"symbol": "BTCUSDT", "interval": "1m", "timeZone": "+15:00"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "timeZone": "-12:30"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "timeZone": "8:60"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "timeZone": "UTC"}, -1100),
    ],
)
async def test_bad_parameters_get_binance_errors(api, filled, params, code) -> None:
    """Bad or missing parameters answer HTTP 400 with Binance's code and message."""
    response = await _get(api, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["msg"], str)
    assert body["msg"]


async def test_limit_defaults_to_500_and_is_clamped_to_1000(api, filled) -> None:
    """No limit: the newest 500; limit 5000: 1000 rows; close time is open + 1 m - 1 ms."""
    newest = (await _get(api, symbol="BTCUSDT", interval="1m")).json()
    assert len(newest) == 500
    assert newest[-1][0] == 1735689600000 + 1199 * 60_000
    assert newest[-1][6] == newest[-1][0] + 59_999
    assert newest[-1][1:6] == [
        "100.00000000",
        "101.00000000",
        "99.00000000",
        "100.50000000",
        "2.00000000",
    ]
    assert newest[-1][7:] == ["201.00000000", 3, "1.00000000", "100.50000000", "0"]
    many = (await _get(api, symbol="BTCUSDT", interval="1m", startTime=0, limit=5000)).json()
    assert len(many) == 1000
    assert many[0][0] == 1735689600000
    utc = (await _get(api, symbol="BTCUSDT", interval="1h", limit=2, timeZone="0")).json()
    assert [r[0] for r in utc] == [1735689600000 + 18 * 3_600_000, 1735689600000 + 19 * 3_600_000]
    # An offset of whole intervals leaves the candles where UTC's are (Binance's rule for a
    # zone): served as they are, as every format Binance takes.
    for tz, interval in (("8", "1h"), ("+08:00", "4h"), ("-1:00", "15m"), ("05:45", "15m")):
        shifted = await _get(api, symbol="BTCUSDT", interval=interval, limit=3, timeZone=tz)
        assert shifted.status_code == 200, (tz, interval, shifted.text)
        assert (
            shifted.json() == (await _get(api, symbol="BTCUSDT", interval=interval, limit=3)).json()
        ), (tz, interval)
    assert utc[-1][5] == "120.00000000"


async def test_an_end_before_any_candle_answers_an_empty_list(api, filled) -> None:
    """A negative or pre-history endTime matches no candle: [] as Binance answers, never a 500,
    on a stored interval, one summed in the statement and the calendar month."""
    for interval in ("1m", "1h", "3m", "6h", "1M"):
        for end in ("-1", "-86400000", "0"):
            response = await _get(api, symbol="BTCUSDT", interval=interval, endTime=end)
            assert response.status_code == 200, (interval, end, response.text)
            assert response.json() == [], (interval, end)
        both = await _get(api, symbol="BTCUSDT", interval=interval, startTime=-5, endTime=-1)
        assert both.status_code == 200, (interval, both.text)
        assert both.json() == []


async def test_exchange_info_lists_the_symbols_held(api, filled) -> None:
    """exchangeInfo lists every symbol with candles; asking for an unknown one is -1121."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        info = (await client.get("/api/v3/exchangeInfo")).json()
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT"]
        assert info["symbols"][0]["quoteAsset"] == "USDT"
        bad = await client.get("/api/v3/exchangeInfo", params={"symbol": "NOPEUSDT"})
        assert bad.status_code == 400
        assert bad.json()["code"] == -1121


async def test_tokens_are_required_when_set(database_url, filled) -> None:
    """With API_TOKENS, data needs X-MBX-APIKEY or a bearer token; the page and healthz do not."""
    config = ApiConfig(database_url=database_url, port=0, tokens=frozenset({"s3cret"}))
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        params = {"symbol": "BTCUSDT", "interval": "1h"}
        refused = await client.get("/api/v3/klines", params=params)
        assert refused.status_code == 401
        assert refused.json()["code"] == -2014
        wrong = await client.get("/api/v3/klines", params=params, headers={"X-MBX-APIKEY": "no"})
        assert wrong.status_code == 401
        ok = await client.get("/api/v3/klines", params=params, headers={"X-MBX-APIKEY": "s3cret"})
        assert ok.status_code == 200
        assert len(ok.json()) == 20
        bearer = {"Authorization": "Bearer s3cret"}
        assert (await client.get("/udf/config", headers=bearer)).status_code == 200
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


def test_refuses_to_listen_beyond_loopback_without_tokens(database_url) -> None:
    """API_HOST=0.0.0.0 without API_TOKENS: exit 2 with a one-line reason."""
    env = {**os.environ, "API_HOST": "0.0.0.0", "API_PORT": "0", "DATABASE_URL": database_url}
    env.pop("API_TOKENS", None)
    done = run_in_project([sys.executable, "-m", "api"], env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "api: API_HOST=0.0.0.0 is not loopback: set API_TOKENS (space- or comma-separated) "
        "so only clients with a token can read"
    ]


async def test_udf_datafeed(api, filled) -> None:
    """UDF config, symbol, search, history (exact decimals as numbers) and time."""
    async with httpx.AsyncClient(base_url=api.http) as client:
        assert (await client.get("/udf/config")).json()["supports_search"] is True
        info = (await client.get("/udf/symbols", params={"symbol": "BINANCE:BTCUSDT"})).json()
        assert info["name"] == "BTCUSDT"
        assert info["timezone"] == "Etc/UTC"
        # The feed names every multiple it serves, 3D included, so a chart never builds one
        # of its own out of shorter bars (Binance's 3d grid is the symbol's own).
        multiples = {
            *info["intraday_multipliers"],
            *(f"{m}D" for m in info["daily_multipliers"]),
            *(f"{m}W" for m in info["weekly_multipliers"]),
            *(f"{m}M" for m in info["monthly_multipliers"]),
        }
        assert multiples == set(info["supported_resolutions"])
        assert "3D" in multiples
        assert (await client.get("/udf/symbols", params={"symbol": "NOPE"})).json()["s"] == "error"
        found = (await client.get("/udf/search", params={"query": "btc"})).json()
        assert [f["symbol"] for f in found] == ["BTCUSDT"]
        start = 1735689600
        history = await client.get(
            "/udf/history",
            params={"symbol": "BTCUSDT", "resolution": "60", "from": start, "to": start + 7200},
        )
        assert history.text == (
            '{"s":"ok","t":[1735689600,1735693200],"o":[100.00000000,100.00000000],'
            '"h":[101.00000000,101.00000000],"l":[99.00000000,99.00000000],'
            '"c":[100.50000000,100.50000000],"v":[120.00000000,120.00000000]}'
        )
        back = await client.get(
            "/udf/history",
            params={
                "symbol": "BTCUSDT",
                "resolution": "1D",
                "from": 0,
                "to": start + 86400,
                "countback": 5,
            },
        )
        assert back.json()["t"] == [start]
        empty = await client.get(
            "/udf/history",
            params={
                "symbol": "BTCUSDT",
                "resolution": "1",
                "from": start + 86400,
                "to": start + 90000,
            },
        )
        assert empty.json() == {"s": "no_data", "nextTime": start + 1199 * 60}
        assert abs(int((await client.get("/udf/time")).text) - int(__import__("time").time())) < 5


async def test_ticker_price_ui_klines_and_unserved_endpoints(api, filled, conn) -> None:
    """ticker/price as Binance shapes it (an object for one symbol, a list otherwise, only
    symbols with a candle, Binance's weights); uiKlines answers as klines; an endpoint Binance
    has and we do not serve answers Binance's JSON error."""
    conn.execute("insert into market.symbols (symbol, status) values ('AAAUSDT', 'TRADING')")
    async with httpx.AsyncClient(base_url=api.http) as client:
        one = await client.get("/api/v3/ticker/price", params={"symbol": "BTCUSDT"})
        assert one.json() == {"symbol": "BTCUSDT", "price": "100.50000000"}
        assert one.headers["x-mbx-used-weight-1m"] == "2"
        every = await client.get("/api/v3/ticker/price")
        assert every.json() == [{"symbol": "BTCUSDT", "price": "100.50000000"}]
        assert every.headers["x-mbx-used-weight-1m"] == "6"
        some = await client.get("/api/v3/ticker/price", params={"symbols": '["BTCUSDT"]'})
        assert some.json() == [{"symbol": "BTCUSDT", "price": "100.50000000"}]
        unknown = await client.get("/api/v3/ticker/price", params={"symbol": "NOPEUSDT"})
        assert (unknown.status_code, unknown.json()["code"]) == (400, -1121)
        bad = await client.get("/api/v3/ticker/price", params={"symbols": "BTCUSDT"})
        assert (bad.status_code, bad.json()["code"]) == (400, -1100)

        params = {"symbol": "BTCUSDT", "interval": "1h", "limit": 5}
        ui = await client.get("/api/v3/uiKlines", params=params)
        assert ui.json() == (await client.get("/api/v3/klines", params=params)).json()

        depth = await client.get("/api/v3/depth", params={"symbol": "BTCUSDT"})
        assert depth.status_code == 404
        assert depth.json() == {"code": -1020, "msg": "This operation is not supported."}
        assert (await client.get("/no-such-page")).text == "Not Found"


async def test_configured_symbols_are_listed_before_their_first_candle(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SYMBOLS is served from the first second: exchangeInfo lists a configured symbol that has
    no candle yet (ccxt loads its markets once, at start), and its klines are an empty list, as
    Binance answers for a symbol without trades; a symbol neither held nor configured is still
    Binance's -1121."""
    from api.config import load_config

    monkeypatch.setenv("SYMBOLS", "BTCUSDT,NEWUSDT")
    config = load_config().with_(port=0)
    assert config.configured_symbols == frozenset({"BTCUSDT", "NEWUSDT"})
    async with running_api(config) as api, httpx.AsyncClient(base_url=api.http) as client:
        info = (await client.get("/api/v3/exchangeInfo")).json()
        [entry] = [s for s in info["symbols"] if s["symbol"] == "NEWUSDT"]
        assert (entry["status"], entry["baseAsset"], entry["quoteAsset"]) == (
            "TRADING",
            "NEW",
            "USDT",
        )
        klines = await client.get("/api/v3/klines", params={"symbol": "NEWUSDT", "interval": "1m"})
        assert (klines.status_code, klines.json()) == (200, [])
        other = await client.get("/api/v3/klines", params={"symbol": "OTHERUSDT", "interval": "1m"})
        assert other.json()["code"] == -1121
