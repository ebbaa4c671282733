"""The one retry policy of the long-running loops: doubling delays, a cap, a reset, jitter."""

from include.platform.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_over_after_a_reset() -> None:
    backoff = Backoff(0.2, 1.0, jitter=False)
    assert [backoff.next() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next() == 0.2


def test_jitter_spreads_each_delay_around_its_unjittered_value() -> None:
    plain = Backoff(1.0, 60.0, jitter=False)
    jittered = Backoff(1.0, 60.0)
    for _ in range(6):
        base = plain.next()
        assert 0.5 * base <= jittered.next() < 1.5 * base
