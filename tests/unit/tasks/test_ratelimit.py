"""The rate limit's pure parts (tasks/ratelimit.py): the parser, the bucket's arithmetic,
and the waiting loop over an injected clock (no real sleeping)."""

from __future__ import annotations

import threading

import pytest

from proper_mail import ConfigError, RateLimited
from proper_mail.tasks.ratelimit import Bucket, LocalRateLimiter, Rate, parse_rate, take

WHERE = "MAILERS['postmark']"


@pytest.mark.parametrize(
    ("text", "burst", "expected"),
    [
        ("14/s", 1, Rate(14, 1.0)),
        ("100/m", 1, Rate(100, 60.0)),
        ("1000/h", 1, Rate(1000, 3600.0)),
        ("1/s", 5, Rate(1, 1.0, burst=5)),
        ("20/s", 20, Rate(20, 1.0, burst=20)),
    ],
)
def test_a_rate_is_parsed(text: str, burst: int, expected: Rate) -> None:
    """'N/s', 'N/m', 'N/h' and a burst become a Rate."""
    assert parse_rate(WHERE, text, burst) == expected


@pytest.mark.parametrize(
    "text",
    ["14 per s", "0/s", "-1/s", "x/s", "14/d", "14/", "/s", "1.5/s", " 14/s", "14/S", "", 14, None],
)
def test_a_bad_rate_is_a_config_error_naming_the_mailer_and_value(text: object) -> None:
    """Anything but a positive whole number per s, m or h: ConfigError with the value."""
    with pytest.raises(ConfigError) as raised:
        parse_rate(WHERE, text)

    assert f"{WHERE}['rate_limit']" in str(raised.value)
    assert repr(text) in str(raised.value)


@pytest.mark.parametrize("burst", [0, -1, 1.5, "5", True, None])
def test_a_bad_burst_is_a_config_error(burst: object) -> None:
    """rate_burst must be a whole number >= 1."""
    with pytest.raises(ConfigError, match=r"\['rate_burst'\] must be a whole number >= 1"):
        parse_rate(WHERE, "14/s", burst)


def test_a_rate_reads_as_written() -> None:
    """str(Rate) is the setting's spelling (errors and logs show it)."""
    assert [str(r) for r in (Rate(14, 1.0), Rate(100, 60.0, burst=5))] == ["14/s", "100/m, burst 5"]


# take(bucket, now, rate, burst) -> (bucket, wait): rate 8/s (binary-exact times) unless
# said otherwise.
TAKE_TABLE = [
    # no bucket yet is a full one
    ("first take, burst 1", None, 100.0, 8.0, 1, Bucket(0.0, 100.0), 0.0),
    ("first take, burst 3", None, 100.0, 8.0, 3, Bucket(2.0, 100.0), 0.0),
    # empty: the wait is the time to one token
    ("empty, same instant", Bucket(0.0, 100.0), 100.0, 8.0, 1, Bucket(0.0, 100.0), 0.125),
    ("refilling, half way", Bucket(0.0, 100.0), 100.0625, 8.0, 1, Bucket(0.5, 100.0625), 0.0625),
    ("refilled exactly", Bucket(0.0, 100.0), 100.125, 8.0, 1, Bucket(0.0, 100.125), 0.0),
    ("refill capped at burst", Bucket(0.0, 100.0), 200.0, 8.0, 2, Bucket(1.0, 200.0), 0.0),
    ("tokens left", Bucket(2.0, 100.0), 100.0, 8.0, 3, Bucket(1.0, 100.0), 0.0),
    ("a fraction is no token", Bucket(0.75, 100.0), 100.0, 8.0, 1, Bucket(0.75, 100.0), 0.03125),
    # a clock that went back refills nothing and keeps the later stamp
    ("clock went back", Bucket(0.5, 100.0), 99.0, 8.0, 1, Bucket(0.5, 100.0), 0.0625),
    # a slow rate: 100/h
    ("100/h, empty", Bucket(0.0, 0.0), 0.0, 100 / 3600, 1, Bucket(0.0, 0.0), 36.0),
    ("100/h, after 37 s", Bucket(0.0, 0.0), 37.0, 100 / 3600, 1, Bucket(0.0, 37.0), 0.0),
]


@pytest.mark.parametrize(
    ("bucket", "now", "rate", "burst", "after", "wait"),
    [row[1:] for row in TAKE_TABLE],
    ids=[row[0] for row in TAKE_TABLE],
)
def test_take(
    bucket: Bucket | None, now: float, rate: float, burst: int, after: Bucket, wait: float
) -> None:
    """The bucket's arithmetic, row by row."""
    got, waited = take(bucket, now, rate, burst)

    assert got.tokens == pytest.approx(after.tokens, abs=1e-9)
    assert got.stamp == after.stamp
    assert waited == pytest.approx(wait, abs=1e-9)


@pytest.mark.parametrize(("rate", "burst"), [(20.0, 1), (20.0, 5), (0.5, 3)])
def test_no_window_gets_more_than_rate_times_length_plus_burst(rate: float, burst: int) -> None:
    """Taking whenever allowed, at the exact instants take() names: in any window of T
    seconds at most rate * T + burst tokens are taken, and the long-run rate is *rate*."""
    bucket: Bucket | None = None
    now, times = 0.0, list[float]()
    while len(times) < 200:
        bucket, wait = take(bucket, now, rate, burst)
        if wait == 0:
            times.append(now)
        else:
            now += wait

    for i, start in enumerate(times):
        inside = [t for t in times[i:] if t < start + 1.0]
        assert len(inside) <= rate * 1.0 + burst + 1e-9
    assert times[-1] - times[0] == pytest.approx((200 - burst) / rate, rel=1e-6)


class FakeTime:
    """A clock that only moves when the limiter sleeps (and by what it sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_acquire_sleeps_until_the_next_slot() -> None:
    """10/s, burst 2: two slots at once, then one every 0.1 s, slept for, not raised."""
    fake = FakeTime()
    limiter = LocalRateLimiter("p", Rate(10, 1.0, 2), clock=fake.clock, sleep=fake.sleep)

    for _ in range(4):
        limiter.acquire()

    assert fake.slept == pytest.approx([0.1, 0.1])


def test_acquire_raises_rate_limited_when_the_wait_is_longer_than_max_wait() -> None:
    """1/h: the second send would wait an hour; RateLimited with retry_after, no sleep."""
    fake = FakeTime()
    limiter = LocalRateLimiter(
        "p", Rate(1, 3600.0), max_wait=10, clock=fake.clock, sleep=fake.sleep
    )
    limiter.acquire()

    with pytest.raises(RateLimited) as raised:
        limiter.acquire()

    assert raised.value.retry_after == pytest.approx(3600.0)
    assert fake.slept == []
    assert "p: over its rate limit (1/h)" in str(raised.value)


def test_max_wait_is_measured_from_the_first_try() -> None:
    """Waits that each fit in max_wait but not together: RateLimited once the total would
    pass it (others keep taking the slots in between)."""
    fake = FakeTime()
    limiter = LocalRateLimiter("p", Rate(1, 1.0), max_wait=2.5, clock=fake.clock)

    def sleep_while_another_thread_takes_the_slot(seconds: float) -> None:
        fake.sleep(seconds)
        limiter._bucket = Bucket(0.0, fake.now)

    limiter._sleep = sleep_while_another_thread_takes_the_slot
    limiter.acquire()

    with pytest.raises(RateLimited):
        limiter.acquire()

    assert fake.slept == pytest.approx([1.0, 1.0])


def test_the_local_limiter_hands_each_slot_to_one_thread() -> None:
    """8 threads at once on a bucket of 5 (rate 1/h, so no refill): exactly 5 get a slot."""
    limiter = LocalRateLimiter("p", Rate(1, 3600.0, burst=5), max_wait=0.0)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def send() -> None:
        start.wait()
        try:
            limiter.acquire()
            outcomes.append("sent")
        except RateLimited:
            outcomes.append("limited")

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(outcomes) == ["limited"] * 3 + ["sent"] * 5
