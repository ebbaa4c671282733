"""Unit tests of the per-IP weight limiter."""

from __future__ import annotations

from fakebinance.ratelimit import WeightLimiter


def test_ban_doubles_for_repeat_offenders():
    """Each new ban lasts twice as long as the last, capped at three days."""
    now = [0.0]
    lim = WeightLimiter(limit=1, window=60, ban_base=120, now=lambda: now[0])
    durations = []
    for _ in range(13):
        assert lim.check("1.2.3.4", 2).status == 429
        verdict = lim.check("1.2.3.4", 1)
        assert verdict.status == 418
        durations.append(verdict.retry_after)
        now[0] += verdict.retry_after + 0.5
        now[0] = (now[0] // 60 + 1) * 60  # fresh window
    assert durations[:3] == [120, 240, 480]
    assert durations[-1] == 3 * 86_400
    assert lim.check("5.6.7.8", 1).status == 200  # per IP


def test_window_resets_usage():
    """Usage restarts at zero in each new fixed window."""
    now = [10.0]
    lim = WeightLimiter(limit=100, window=60, now=lambda: now[0])
    assert lim.check("ip", 60).used == 60
    assert lim.check("ip", 30).headers["x-mbx-used-weight-1m"] == "90"
    now[0] = 61.0
    verdict = lim.check("ip", 5)
    assert verdict.status == 200
    assert verdict.used == 5
    assert lim.total_weight() == 95
