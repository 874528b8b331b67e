"""One part of the reliability campaign writes its figures through this module.

Every part (faults, crashes, bad input, load, soak, security) is a program that can be run on
its own and, given ``--json FILE``, writes one JSON object there with :func:`write_part`.
``tools/reliability.py`` runs the parts one after the other and renders ``docs/reliability.md``
from the files, so the page always shows the figures of a real run and says when and where it
was measured.

The object:

- ``part``: a short id (``faults``, ``crashes``, ``fuzz``, ``load``, ``soak``, ``security``);
- ``title``: the section heading;
- ``command``: the command line that produced it (to rerun it);
- ``ok``: whether every target of the part was met;
- ``figures``: the measured numbers, by name (units in the names);
- ``markdown``: the section body (tables, findings), in the project's own words;
- ``started_utc``, ``duration_s``, ``machine``: when, how long, and on what.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PARTS = ("faults", "crashes", "fuzz", "load", "soak", "security")


def machine() -> str:
    """A one-line description of the machine the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


@dataclass
class PartTimer:
    """Started when a part starts; :meth:`write` stamps the start time and the duration."""

    started_utc: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    t0: float = field(default_factory=time.monotonic)

    def write(self, path: Path | str, part: str, title: str, ok: bool,
              figures: dict[str, Any], markdown: str, argv: list[str] | None = None) -> None:
        write_part(path, part=part, title=title, ok=ok, figures=figures, markdown=markdown,
                   started_utc=self.started_utc, duration_s=time.monotonic() - self.t0,
                   argv=argv)


def write_part(path: Path | str, *, part: str, title: str, ok: bool, figures: dict[str, Any],
               markdown: str, started_utc: str, duration_s: float,
               argv: list[str] | None = None) -> None:
    """Write one part's result (atomically: a half-written file never replaces a good one)."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    args = sys.argv if argv is None else argv
    doc = {
        "part": part,
        "title": title,
        "command": "python " + " ".join(shlex.quote(a) for a in args),
        "ok": bool(ok),
        "figures": figures,
        "markdown": markdown.strip() + "\n",
        "started_utc": started_utc,
        "duration_s": round(duration_s, 1),
        "machine": machine(),
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, p)


def read_part(path: Path | str) -> dict[str, Any]:
    """Read a part file back, refusing one that lacks a field."""
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    missing = [k for k in ("part", "title", "command", "ok", "figures", "markdown",
                           "started_utc", "duration_s", "machine") if k not in doc]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)}")
    return doc
