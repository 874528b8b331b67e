"""Cheap copies of the twin's small state objects, for the trial skips of the twin source.

``copy.copy`` goes through ``__reduce_ex__`` (~2.5 µs a call); the twin takes a snapshot at
every trial skip and copies several small objects each time, so plain attribute copies are
worth a helper.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def shallow_copy(obj: T) -> T:
    """A shallow copy of an instance of a plain class or a (slotted) dataclass."""
    cls = type(obj)
    new: Any = object.__new__(cls)
    d = getattr(obj, "__dict__", None)
    if d is not None:
        new.__dict__.update(d)
    for klass in cls.__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            if hasattr(obj, name):
                object.__setattr__(new, name, getattr(obj, name))
    return new  # type: ignore[no-any-return]
