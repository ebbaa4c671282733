"""The chart page in headless Chromium: the last candle drawn is the database's."""

from __future__ import annotations

import html
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from api.config import ApiConfig
from tests.support.api import running_api, write_live
from tests.support.chart import CHROMIUM, FILL, chromium
from tests.support.setup_tools import require


@pytest.mark.slow  # a browser
async def test_chart_draws_the_database_candles(api, conn, tmp_path: Path) -> None:
    """History plus a forming live minute: the page's last candle and volume equal the database."""
    require("chromium", CHROMIUM is not None, "the chart page's browser test")
    conn.execute(FILL)
    forming = ("93010.5", "93030", "93001.25", "93020.75", "3.25", "302300", 9, "1", "93000")
    write_live(conn, "BTCUSDT", datetime(2025, 5, 5, 5, 59, tzinfo=UTC), forming, False)
    url = f"{api.http}/?symbol=BTCUSDT&interval=1m"

    dom = await chromium("--virtual-time-budget=8000", "--dump-dom", url)
    found = re.search(r'<pre id="last">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    state = orjson.loads(html.unescape(found.group(1)))
    last_db = conn.execute(
        "select open, high, low, close, volume from market.candles_1m_live where symbol = 'BTCUSDT'"
    ).fetchone()
    assert state["bars"] == 360
    assert state["last"] == {
        "time": int(datetime(2025, 5, 5, 5, 59, tzinfo=UTC).timestamp()),
        "open": float(last_db[0]),
        "high": float(last_db[1]),
        "low": float(last_db[2]),
        "close": float(last_db[3]),
    }
    assert state["volume"] == float(last_db[4])
    assert state["raw"][1:6] == [
        "93010.50000000",
        "93030.00000000",
        "93001.25000000",
        "93020.75000000",
        "3.25000000",
    ]

    shot = tmp_path / "chart.png"
    await chromium("--virtual-time-budget=8000", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000
    if os.environ.get("API_SCREENSHOT"):
        shutil.copy(shot, os.environ["API_SCREENSHOT"])


@pytest.mark.slow  # a browser
async def test_chart_signs_in_with_a_token_in_the_fragment(
    database_url: str, conn, tmp_path: Path
) -> None:
    """Exposed with API_TOKENS, the page opened as /#token=... turns the token into its
    session cookie (no token in any request URL, which the API refuses when exposed) and draws
    the candles, its WebSocket signed in by the same cookie; without a symbol asked for it opens
    on one with candles, and marks a listed symbol without any."""
    require("chromium", CHROMIUM is not None, "the chart page's browser test")
    conn.execute(FILL)
    # Listed by exchangeInfo, first by name, without a candle: the chart opens on BTCUSDT.
    conn.execute("insert into market.symbols (symbol, status) values ('AAAUSDT', 'TRADING')")
    config = ApiConfig(database_url=database_url, host="0.0.0.0", port=0, tokens={"t0ken"})
    async with running_api(config) as exposed:
        url = f"{exposed.http}/?interval=1m#token=t0ken"
        # Chromium's virtual time does not wait for a WebSocket's handshake: on a loaded machine
        # the page can be dumped while its socket is still connecting ("359 candles"), so that
        # state is looked at again; a refused socket shows "reconnecting…" and fails at once.
        for _ in range(3):
            dom = await chromium("--virtual-time-budget=8000", "--dump-dom", url)
            status = re.search(r'<span id="status">(.*?)</span>', dom, re.S)
            assert status, dom[-2000:]
            if status.group(1) != "359 candles":
                break
    found = re.search(r'<pre id="last">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    assert orjson.loads(html.unescape(found.group(1)))["bars"] == 359
    assert status.group(1) == "live", f"the WebSocket did not sign in: {status.group(1)}"
    assert '<option value="AAAUSDT">AAAUSDT (no candles)</option>' in dom
