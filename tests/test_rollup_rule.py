"""The roll-up rule (first open, highest high, lowest low, last close, sums) has one owner, dbt's
`rollup_candles` macro; the read API keeps copies in its SQL for speed (a forming candle, a
roll-up of stored rows, the tickers), and the export one for the intervals no mart holds, each
pinned here to the owner's expressions. The quality
checks' cross-timeframe rule is written differently on purpose: an oracle shares no code with
what it checks."""

from __future__ import annotations

import re

from include.platform.settings import PROJECT_ROOT
from include.platform.times import CANDLE_FIELDS

OWNER = PROJECT_ROOT / "dbt_project" / "macros" / "candles.sql"
API_SQL = PROJECT_ROOT / "api" / "sql"
NAMED = re.compile(r"^\s*(?P<expr>\S.*?) as (?P<name>\w+),?$")


def aggregates(text: str, names=CANDLE_FIELDS) -> dict[str, str]:
    """``expr as name`` lines of a statement, for the candle's fields, whitespace normalised."""
    found = {}
    for line in text.splitlines():
        if (m := NAMED.match(line)) and m["name"] in names and m["expr"] != m["name"]:
            found.setdefault(m["name"], " ".join(m["expr"].split()))
    return found


def owner_rule() -> dict[str, str]:
    text = OWNER.read_text()
    block = text[text.index("rolled_up as (") : text.index("from members")]
    rule = aggregates(block)
    assert sorted(rule) == sorted(CANDLE_FIELDS)
    return rule


def test_the_forming_candles_roll_up_is_the_owners() -> None:
    assert aggregates((API_SQL / "klines.sql").read_text()) == owner_rule()


def test_the_tickers_window_is_the_owners() -> None:
    text = (API_SQL / "ticker_window.sql").read_text()
    block = text[text.index("stats as (") :]
    rule, owner = aggregates(block), owner_rule()
    assert rule == {name: owner[name] for name in rule}
    assert set(rule) >= {"open", "high", "low", "volume", "quote_volume", "trade_count"}
    # Its last price is the owner's close.
    assert aggregates(block, ("last",))["last"] == owner["close"]


def test_the_stored_rows_sum_is_the_owners() -> None:
    text = (API_SQL / "klines_sum_buckets.sql").read_text()
    select = text[text.index("r.bucket,") + len("r.bucket,") : text.index("count(*)")]
    columns = dict(zip("tohlcvqn", ("open_time", *CANDLE_FIELDS[:7]), strict=False))
    columns |= {"tv": "taker_buy_volume", "tq": "taker_buy_quote_volume"}
    exprs = []
    exprs, rounded = [], []
    for part in (p.strip() for p in select.strip().rstrip(",").split(",\n")):
        part = re.sub(r"::(numeric|text)", "", part)
        # Each decimal is summed exact and rounded once, to Binance's 8 places.
        if once := re.fullmatch(r"round\((.*), 8\)", part):
            part = once[1]
            rounded.append(True)
        exprs.append(re.sub(r"\br\.(tv|tq|[tohlcvqn])\b", lambda m: columns[m[1]], part))
    owner = owner_rule()
    assert exprs == [owner[name] for name in CANDLE_FIELDS]
    assert len(rounded) == len(CANDLE_FIELDS) - 1  # every value but the trade count


def test_the_exports_roll_up_is_the_owners() -> None:
    text = (PROJECT_ROOT / "include" / "sql" / "select_export_rolled.sql").read_text()
    rule = {name: expr.removesuffix("::text") for name, expr in aggregates(text).items()}
    assert rule == owner_rule()
