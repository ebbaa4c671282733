"""The chart page in headless Chromium, and the candles its tests draw."""

from __future__ import annotations

import asyncio
import shutil

FILL = """
insert into market.klines_1m (symbol, open_time, open, high, low, close, volume, quote_volume,
    trade_count, taker_buy_volume, taker_buy_quote_volume, source)
select 'BTCUSDT', t, p, p + 7.5, p - 6.25, p + 1.5, 1.5, 1.5 * p, 4, 0.75, 0.75 * p, 'rest'
from (
    select
        t,
        93000 + 40 * sin(extract(epoch from t) / 1800) + (extract(epoch from t) / 60)::int % 13
            as p
    from generate_series(timestamptz '2025-05-05 00:00', timestamptz '2025-05-05 05:58',
        interval '1 minute') as t
) as prices
"""
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def chromium(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,  # type: ignore[arg-type]
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1280,720",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode()
