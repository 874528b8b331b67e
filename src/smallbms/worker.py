"""One background thread, started and stopped the same way everywhere.

Every long-lived thread of the product (the device's tick loop, the store's writer, the MQTT
publisher and command threads, the CAN sender, the Instant Readout broadcaster) is a daemon
thread with a name, a stop flag its loop looks at, and a stop that waits a bounded time and
says so in the log when the thread did not end. :class:`Worker` is that pattern written once.

This module imports nothing from the rest of the package, so any layer may use it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: How long :meth:`Worker.stop` waits for the thread by default, in seconds.
DEFAULT_STOP_TIMEOUT_S = 5.0


class Worker:
    """A named daemon thread that runs ``target`` once, and a flag that asks it to end.

    ``target`` is expected to loop until :attr:`stopping` is set (it may also wait on it, as
    ``worker.stopping.wait(s)``, to sleep and still react at once). Several workers may share
    one flag (pass the same ``stopping`` event) so that one ``set()`` asks all of them to end.
    A stopped worker can be started again.
    """

    def __init__(self, name: str, target: Callable[[], object], *,
                 stopping: threading.Event | None = None) -> None:
        self.name = name
        self.target = target
        self.stopping = stopping if stopping is not None else threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """True from :meth:`start` until :meth:`stop` (even if ``target`` has returned)."""
        return self._thread is not None

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Clear the stop flag and start the thread; RuntimeError if it was already started."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        self.stopping.clear()
        self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = DEFAULT_STOP_TIMEOUT_S,
             wake: Callable[[], object] | None = None) -> bool:
        """Set the stop flag, call ``wake`` (to end a wait the flag cannot interrupt), and wait
        up to ``timeout_s`` (None: for as long as it takes) for the thread to end.

        Returns True when the thread has ended (or was never started). A thread that is still
        alive after the timeout is logged as an error and left to die with the process (it is
        a daemon); the worker forgets it either way, so it can be started again.
        """
        self.stopping.set()
        if wake is not None:
            wake()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return True  # asked from its own thread: it ends when ``target`` returns
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("thread %s did not stop within %.1f s", self.name, timeout_s or 0.0)
            return False
        return True
