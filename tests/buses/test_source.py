"""The feeds: a live message's device time comes from its arrival; a replay follows its capture."""

from __future__ import annotations

from smallbms.buses.capture import Advert
from smallbms.buses.source import LiveFeed, ReplayFeed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_live_message_is_as_old_as_its_arrival_times_the_speed() -> None:
    clock = Clock()
    feed = LiveFeed(speed=10.0, clock=clock, limit=3)
    clock.now = 100.0
    feed.push("a")
    clock.now = 100.2
    feed.push("b")
    clock.now = 100.5
    got = list(feed.due(50.0))
    assert [m for _, m in got] == ["a", "b"]
    assert [round(t, 6) for t, _ in got] == [45.0, 47.0]  # 0.5 s and 0.3 s ago at 10x
    assert list(feed.due(51.0)) == []


def test_live_feed_is_bounded() -> None:
    feed = LiveFeed(limit=2)
    for n in range(5):
        feed.push(n)
    assert [m for _, m in feed.due(0.0)] == [0, 1]
    assert feed.dropped == 3


def test_replay_gives_each_advert_once_when_due() -> None:
    ads = [Advert(t, "A", 737, b"") for t in (0.0, 0.9, 1.0, 2.5)]
    feed = ReplayFeed(ads)
    assert [a.t for _, a in feed.due(1.0)] == [0.0, 0.9, 1.0]
    assert list(feed.due(2.0)) == []
    assert [a.t for _, a in feed.due(3.0)] == [2.5]
    assert feed.finished
