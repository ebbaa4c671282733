"""The hub's fan-out (api/push/hub.py): each face encodes a candle once per stream, and a
subscriber cut off mid-publish stops no other."""

from __future__ import annotations

from typing import ClassVar

from api.metrics import Metrics
from api.push import Hub, Subscriber
from api.push.event import CandleEvent
from include.platform.markets import USDM

KLINE = "btcusdt@kline_1m"
CONTINUOUS = "btcusdt_perpetual@continuousKline_1m"
ROW = (0, "1.0", "1.0", "1.0", "1.0", "1.0", "1.0", 1, "0.5", "0.5")


class Face(Subscriber):
    """A face that counts its encodings and keeps what it is given (or cannot keep up)."""

    encoded: ClassVar[list[str]] = []

    def __init__(self, hub: Hub, stream: str, keeps_up: bool = True) -> None:
        self.hub, self.stream, self.keeps_up = hub, stream, keeps_up
        self.got: list[object] = []
        hub.subscribe(self, stream, "BTCUSDT", "1m")

    @staticmethod
    def encode(hub: Hub, stream: str, candle: CandleEvent) -> str:
        Face.encoded.append(stream)
        return f"{stream} {candle.row[4]}"

    def deliver(self, form: object) -> bool:
        self.got.append(form)
        return self.keeps_up

    def cut(self) -> None:
        self.hub.unsubscribe(self, self.stream, "BTCUSDT", "1m")


def test_each_stream_is_encoded_once_and_a_cut_alias_stops_no_other() -> None:
    """Two subscribers of the kline stream share one encoding; a continuousKline subscriber
    too slow to keep up is cut while its alias is being published, and the publish goes on."""
    Face.encoded = []
    hub = Hub(None, "", Metrics(), market=USDM)  # type: ignore[arg-type]
    first, second = Face(hub, KLINE), Face(hub, KLINE)
    slow = Face(hub, CONTINUOUS, keeps_up=False)

    hub.publish(KLINE, CandleEvent("BTCUSDT", "1m", ROW, False, 1))

    assert Face.encoded.count(KLINE) == 1
    assert first.got == second.got == [f"{KLINE} 1.0"]
    assert slow.got == [f"{CONTINUOUS} 1.0"]
    assert not hub.wants(CONTINUOUS)
    assert KLINE not in hub.continuous
    hub.publish(KLINE, CandleEvent("BTCUSDT", "1m", ROW, True, 2))
    assert len(first.got) == 2
    assert len(slow.got) == 1
