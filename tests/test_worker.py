"""The background-thread helper: start, stop through the flag or a wake call, restart, and the
log line for a thread that does not end in time. Every wait is an event with a deadline."""

from __future__ import annotations

import logging
import threading

import pytest

from smallbms.worker import Worker

DEADLINE_S = 5.0


def test_a_worker_runs_named_daemon_thread_until_asked_to_stop() -> None:
    seen: list[threading.Thread] = []
    entered = threading.Event()

    def loop() -> None:
        seen.append(threading.current_thread())
        entered.set()
        while not w.stopping.wait(0.01):
            pass

    w = Worker("test-loop", loop)
    assert not w.started and not w.running
    w.start()
    assert entered.wait(DEADLINE_S)
    assert w.started and w.running
    assert seen[0].name == "test-loop" and seen[0].daemon
    assert w.stop(DEADLINE_S)
    assert not w.started and not w.running
    assert not seen[0].is_alive()


def test_starting_twice_is_refused() -> None:
    release = threading.Event()
    w = Worker("twice", lambda: release.wait(DEADLINE_S) and None)
    w.start()
    try:
        with pytest.raises(RuntimeError, match="twice is already running"):
            w.start()
    finally:
        release.set()
        assert w.stop(DEADLINE_S)


def test_stop_without_start_and_a_second_stop_are_harmless() -> None:
    w = Worker("idle", lambda: None)
    assert w.stop(DEADLINE_S)
    w.start()
    assert w.stop(DEADLINE_S)
    assert w.stop(DEADLINE_S)


def test_a_stopped_worker_starts_again_with_its_flag_cleared() -> None:
    runs: list[bool] = []
    w = Worker("again", lambda: runs.append(w.stopping.is_set()))
    for _ in range(2):
        w.start()
        assert w.stop(DEADLINE_S)
    assert runs == [False, False]


def test_wake_ends_a_wait_the_flag_cannot_interrupt() -> None:
    gate = threading.Event()  # the thread waits here, not on the stop flag

    def loop() -> None:
        gate.wait()

    w = Worker("gated", loop)
    w.start()
    assert w.stop(DEADLINE_S, wake=gate.set)
    assert gate.is_set()


def test_workers_sharing_a_flag_are_signalled_by_the_first_stop() -> None:
    flag = threading.Event()
    ended = [threading.Event(), threading.Event()]

    def loop(i: int) -> None:
        flag.wait()
        ended[i].set()

    a = Worker("a", lambda: loop(0), stopping=flag)
    b = Worker("b", lambda: loop(1), stopping=flag)
    a.start()
    b.start()
    assert a.stop(DEADLINE_S)
    assert ended[1].wait(DEADLINE_S)  # b saw the flag before its own stop
    assert b.stop(DEADLINE_S)


def test_a_thread_that_does_not_end_in_time_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    w = Worker("stubborn", lambda: release.wait(DEADLINE_S) and None)
    w.start()
    with caplog.at_level(logging.ERROR, logger="smallbms.worker"):
        assert not w.stop(0.01)
    assert "thread stubborn did not stop" in caplog.text
    release.set()


def test_a_worker_may_stop_itself_from_its_own_thread() -> None:
    result: list[bool] = []
    done = threading.Event()

    def loop() -> None:
        result.append(w.stop(DEADLINE_S))
        done.set()

    w = Worker("self-stop", loop)
    w.start()
    assert done.wait(DEADLINE_S)
    assert result == [True]
    assert w.stopping.is_set() and not w.started
