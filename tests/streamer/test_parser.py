"""The wire parser: exact scaled integers, every Binance shape, clear errors for bad frames."""

from __future__ import annotations

import pytest

from streamer.parser import (
    Ack,
    FrameError,
    ServerShutdown,
    Trade,
    format_quote,
    format_scaled,
    parse_frame,
    parse_rest_agg_trade,
    parse_rest_trade,
    to_scaled,
)

TRADE = (
    '{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":42,"p":"93576.12000000",'
    '"q":"0.00150000","T":1700000000120,"m":false,"M":true}'
)
AGG = (
    '{"e":"aggTrade","E":1700000000123,"s":"ETHUSDT","a":7,"p":"3300.10","q":"1.5",'
    '"f":100,"l":104,"T":1700000000120,"m":true,"M":true}'
)


def test_raw_trade_event() -> None:
    """A raw @trade event becomes a Trade with prices scaled by 1e8."""
    t = parse_frame(TRADE)
    assert t == Trade(
        "BTCUSDT", 42, 42, 42, 9357612000000, 150000, 1700000000120, False, 1700000000123
    )
    assert t.count == 1


def test_combined_stream_wrapper() -> None:
    """A combined-stream message is unwrapped to its data."""
    t = parse_frame('{"stream":"ethusdt@aggTrade","data":' + AGG + "}")
    assert isinstance(t, Trade)
    assert (t.seq, t.first_id, t.last_id, t.count) == (7, 100, 104, 5)
    assert t.price == 330010000000
    assert t.qty == 150000000
    assert t.buyer_maker


def test_answers_and_shutdown() -> None:
    """SUBSCRIBE answers and serverShutdown are recognised."""
    assert parse_frame('{"result":null,"id":3}') == Ack(3)
    assert parse_frame('{"error":{"code":2,"msg":"bad"},"id":4}').error is not None
    assert parse_frame('{"e":"serverShutdown","E":1}') == ServerShutdown()


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "[]",
        '{"e":"kline"}',
        '{"e":"trade","s":"BTCUSDT"}',
        TRADE.replace('"p":"93576.12000000"', '"p":93576.12'),
        TRADE.replace('"p":"93576.12000000"', '"p":"-1.0"'),
        TRADE.replace('"p":"93576.12000000"', '"p":"1e5"'),
        TRADE.replace('"m":false', '"m":"false"'),
        TRADE.replace('"t":42', '"t":"42"'),
        AGG.replace('"l":104', '"l":99'),
        '{"result":null,"id":"x"}',
    ],
)
def test_malformed_frames_raise(frame: str) -> None:
    """Malformed or unexpected frames raise FrameError instead of yielding wrong numbers."""
    with pytest.raises(FrameError):
        parse_frame(frame)


def test_scaled_decimals_are_exact() -> None:
    """Decimal strings become exact integers; more than 8 significant decimals is refused."""
    assert to_scaled("0.00001234") == 1234
    assert to_scaled("12") == 1_200_000_000
    assert to_scaled("1.123456780000") == 112345678
    with pytest.raises(FrameError):
        to_scaled("0.000000001")
    with pytest.raises(FrameError):
        to_scaled("1_000")


def test_formatting_round_trips() -> None:
    """Scaled integers print as exact decimal strings; quote sums keep 16 places only if needed."""
    assert format_scaled(1234) == "0.00001234"
    assert format_scaled(9357612000000) == "93576.12000000"
    assert format_quote(1234 * 10**8) == "0.00001234"
    assert format_quote(1) == "0.0000000000000001"


def test_rest_rows() -> None:
    """historicalTrades and aggTrades rows parse like their stream twins."""
    t = parse_rest_trade(
        "BTCUSDT",
        {
            "id": 5,
            "price": "1.00000000",
            "qty": "2.00000000",
            "quoteQty": "2.00000000",
            "time": 9,
            "isBuyerMaker": True,
            "isBestMatch": True,
        },
    )
    assert (t.seq, t.price, t.qty, t.time_ms, t.buyer_maker) == (5, 10**8, 2 * 10**8, 9, True)
    a = parse_rest_agg_trade(
        "BTCUSDT", {"a": 1, "p": "1.0", "q": "3", "f": 10, "l": 12, "T": 9, "m": False, "M": True}
    )
    assert a.count == 3
