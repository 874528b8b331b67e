"""A quicker ``__init__`` for the frozen, slotted dataclasses built on every tick.

A frozen dataclass sets each field through ``object.__setattr__`` looked up by name, which costs
~0.2 µs a field. The twin builds a :class:`~smallbms.core.types.BatteryReport` for every battery
on every reading (50 on a 400-cell bank) and an ``IntervalExtremes`` for every physics segment,
so that adds up. :func:`quick_init` swaps in an ``__init__`` with the same signature that writes
each field through its slot descriptor: the same object, built in about half the time. The class
stays frozen (assignment still raises ``FrozenInstanceError``): only construction changes.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """Replace the dataclass-generated ``__init__`` of the frozen, slotted dataclass ``cls``.

    Only plain fields are supported (positional, with or without a plain default): a field with
    a default factory, ``init=False`` or keyword-only, or a ``__post_init__``, raises TypeError
    (the generated ``__init__`` would do more than set fields).
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__")
    names: list[str] = []
    args: list[str] = []
    ns: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # checked above
        if (not f.init or f.kw_only is True
                or f.default_factory is not dataclasses.MISSING):
            raise TypeError(f"{cls.__name__}.{f.name} is not a plain field")
        names.append(f.name)
        ns[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
        if f.default is dataclasses.MISSING:
            args.append(f.name)
        else:
            ns[f"_default_{f.name}"] = f.default
            args.append(f"{f.name}=_default_{f.name}")
    body = "".join(f"    _set_{n}(self, {n})\n" for n in names) or "    pass\n"
    source = f"def __init__(self, {', '.join(args)}):\n{body}"
    exec(source, ns)  # the way dataclasses itself builds __init__
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    type.__setattr__(cls, "__init__", init)
    return cls
