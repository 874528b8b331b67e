"""One process at a time on a data directory.

``smallbms run`` holds the directory while it runs; ``smallbms pin reset`` needs it too, so it
refuses (naming the running process) instead of changing the store under a running device.
The hold is an advisory ``flock`` on ``smallbms.lock`` in the directory: the kernel drops it
when the process ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = "smallbms.lock"
DATA_DIR_MODE = 0o700


class DataDirBusy(Exception):
    """Another process holds the data directory; the message names it and says what to do."""


@contextlib.contextmanager
def hold_data_dir(data_dir: Path, purpose: str) -> Iterator[None]:
    """Hold ``data_dir`` (created with mode 0700 if missing) for the ``with`` block.

    Raises :class:`DataDirBusy` when another process holds it; ``purpose`` says in that
    message what could not be done (e.g. "reset the PIN").
    """
    data_dir.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise DataDirBusy(
                f"cannot {purpose}: smallbms is running on {data_dir}{who}; stop it first "
                "(Ctrl-C, or `systemctl stop` for a service)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # also releases the lock
