"""The base of the configuration tables: a validated table that is also the value read.

May import: :mod:`smallbms.schema` and :mod:`smallbms.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import ValidationError

from smallbms.errors import ConfigError
from smallbms.schema import Table, first_problem


class Record(Table):
    """A configuration table (strict, frozen, unknown keys refused) that can be built like a
    dataclass, by position or by name (subclasses say ``kw_only=False``), and read from a file
    with :meth:`from_table`.

    A bad value raises :attr:`error` (a :class:`~smallbms.errors.ConfigError`) whose message
    gives the key path, prefixed by :attr:`table` (``mqtt.port: ...``).
    """

    #: The table's name at the start of key paths ("mqtt"); empty: the caller names it.
    table: ClassVar[str] = ""
    #: What a bad table or constructor argument raises.
    error: ClassVar[type[ConfigError]] = ConfigError

    def __init_subclass__(cls, kw_only: bool = True, **kwargs: Any) -> None:
        # ``class X(Record, kw_only=False)`` tells type checkers that X is built by position
        # too (as :meth:`__init__` allows); pydantic has no use for the flag.
        super().__init_subclass__(**kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = list(type(self).model_fields)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} values")
        kwargs.update(zip(names, args, strict=False))
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            key, message = first_problem(exc, root=self.root())
            raise self.error(f"{key or 'table'}: {message}") from None

    # Like pydantic's own RootModel: validation (``model_validate``, a nested table) need not
    # go through this constructor, which only maps positions to names and words the errors.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def replace(self, **changes: Any) -> Self:
        """A copy with some values changed, checked like a new one (``dataclasses.replace``)."""
        return type(self)(**{**{name: getattr(self, name) for name in type(self).model_fields},
                             **changes})

    @classmethod
    def root(cls) -> tuple[str, ...]:
        """The key path of the table itself (``("mqtt",)``; empty when the caller names it)."""
        return (cls.table,) if cls.table else ()

    @classmethod
    def from_table(cls, table: Any, where: str, base: Path | None = None) -> Self:
        """Validate a TOML table. ``where`` (the file) starts every message; relative paths
        are taken from ``base`` (the file's folder; default the working directory)."""
        if not isinstance(table, Mapping):
            raise cls.error(f"{where}: {cls.table or 'table'}: must be a table")
        try:
            return cls.model_validate(dict(table), context={"base": base or Path.cwd()})
        except ValidationError as exc:
            key, message = first_problem(exc, root=cls.root())
            raise cls.error(f"{where}: {key or 'table'}: {message}") from None
