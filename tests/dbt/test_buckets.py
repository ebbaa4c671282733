"""dbt's bucket sizes and week origin are vars (dbt_project.yml), pinned here to the platform's
one owner of the intervals (include/platform/intervals.py): a mart cannot drift from the API's
roll-ups or the quality checks' grid."""

from __future__ import annotations

import re

import yaml

from include.platform.intervals import INTERVAL_MS, STORED, WEEK_ORIGIN_MS
from include.platform.settings import PROJECT_ROOT
from include.platform.times import MINUTE_MS, to_datetime

DBT = PROJECT_ROOT / "dbt_project"
UNIT_MS = {"minute": MINUTE_MS, "hour": 60 * MINUTE_MS, "day": 1440 * MINUTE_MS}


def interval_ms(text: str) -> int:
    """PostgreSQL's 'N unit[s]' as milliseconds."""
    count, unit = re.fullmatch(r"(\d+) (minute|hour|day)s?", text).groups()
    return int(count) * UNIT_MS[unit]


def test_every_mart_bucket_and_the_origin_are_the_platforms() -> None:
    variables = yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"]
    buckets = variables["buckets"]
    assert sorted(buckets) == sorted(tf for tf in STORED if tf != "1m")
    for timeframe, text in buckets.items():
        assert interval_ms(text) == INTERVAL_MS[timeframe], timeframe
    origin = variables["bucket_origin"]
    assert origin == to_datetime(WEEK_ORIGIN_MS).strftime("%Y-%m-%d %H:%M:%S+00")


def test_each_mart_takes_its_bucket_from_the_vars() -> None:
    for timeframe in STORED[1:]:
        model = (DBT / "models" / "marts" / f"candles_{timeframe}.sql").read_text()
        assert model.count(f"var('buckets')['{timeframe}']") == 2, timeframe
        [minutes] = re.findall(r"minutes=(\d+)", model)
        assert int(minutes) * MINUTE_MS == INTERVAL_MS[timeframe], timeframe
        assert not re.search(r"'\d+ (minute|hour|day)s?'", model), timeframe
