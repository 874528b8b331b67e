"""Write the small subset of TOML a scenario file uses (the standard library only reads TOML).

Scalars (strings, booleans, integers, finite floats), arrays of them (nested too), tables and
arrays of tables, one level deep, as scenario files have them. The output parses back with
:mod:`tomllib` to the same data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any


def value(v: Any) -> str:
    """One TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"TOML scenario values must be finite, got {v!r}")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string (ASCII, escaped) is a TOML basic string
    if isinstance(v, Sequence):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as a TOML value")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Mapping) for x in v)


def dumps(doc: Mapping[str, Any]) -> str:
    """A TOML document: top-level keys, then ``[table]`` s, then ``[[array]]`` s."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, list[Mapping[str, Any]]]] = []
    for k, v in doc.items():
        if isinstance(v, Mapping):
            tables.append((k, v))
        elif _is_table_array(v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {value(v)}")
    for k, t in tables:
        lines += ["", f"[{_key(k)}]"] + [f"{_key(a)} = {value(b)}" for a, b in t.items()]
    for k, items in arrays:
        for t in items:
            lines += ["", f"[[{_key(k)}]]"] + [f"{_key(a)} = {value(b)}" for a, b in t.items()]
    return "\n".join(lines) + "\n"
