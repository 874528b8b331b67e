"""The sweep's HTML page: a recommendation line, heat maps of the days with the loads cut over
two axes, each variant's daily true-SoC band over the run, and the results table.

One self-contained file (plots as inline SVG, no script), laid out in a grid of cards that
folds to one column on a phone.
"""

from __future__ import annotations

import html
import io
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smallbms.sweep.metrics import METRICS
from smallbms.sweep.spec import Axis, AxisValue, Sweep

Row = dict[str, Any]

#: Axis keys that size the system (everything else is a condition it must cope with).
SIZING_KEYS = ("bank.battery", "bank.series", "bank.parallel")
SIZING_FIELDS = ("peak_w", "max_current_a", "current_a")
#: At most this many heat-map panels and SoC bands on the page.
MAX_PANELS = 12
MAX_BANDS = 48

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
main{max-width:1200px;margin:auto;padding:12px}
h1{font-size:1.35em;margin:.4em 0} h2{font-size:1.1em;margin:1.2em 0 .4em}
.rec{background:#fff;border-left:5px solid #2b8a3e;padding:10px 14px;margin:10px 0}
.rec.none{border-color:#c92a2a}
.meta{color:#556;font-size:.9em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px}
.card{background:#fff;border-radius:6px;padding:6px;box-shadow:0 1px 2px #0002}
.card svg{width:100%;height:auto;display:block}
.scroll{overflow-x:auto;background:#fff;border-radius:6px}
table{border-collapse:collapse;font-size:.85em;white-space:nowrap}
th,td{padding:3px 8px;border-bottom:1px solid #e3e7eb;text-align:right}
th{position:sticky;top:0;background:#e9edf1}
tr.ok td{background:#ebfbee}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:g}"
    return str(v)


def _is_sizing(axis: Axis) -> bool:
    return axis.key in SIZING_KEYS or (
        axis.key.startswith("component.") and axis.key.rsplit(".", 1)[-1] in SIZING_FIELDS)


def aggregate(rows: Sequence[Row]) -> dict[int, Row]:
    """One row per variant over its seeds: the worst seed's figures (most days cut, least SoC…)."""
    worst = {"lowest_true_soc_pct": min, "min_cell_v": min}
    out: dict[int, Row] = {}
    for r in rows:
        v = int(r["variant"])
        if v not in out:
            out[v] = dict(r)
            out[v]["seeds"] = 1
            continue
        a = out[v]
        a["seeds"] += 1
        for m in METRICS:
            pick = worst.get(m, max)
            a[m] = pick(a[m], r[m])
    return out


def recommendations(sweep: Sweep, rows: Sequence[Row]) -> list[str]:
    """Plain sentences: for each combination of the condition axes, the smallest system (bank
    energy, then solar power) without a day with the loads cut or a damaged battery."""
    per = aggregate(rows)
    cond = [a for a in sweep.axes if not _is_sizing(a)]
    size = [a for a in sweep.axes if _is_sizing(a)]
    groups: dict[tuple[AxisValue, ...], list[Row]] = {}
    for r in per.values():
        groups.setdefault(tuple(r[a.name] for a in cond), []).append(r)
    lines: list[str] = []
    for key in sorted(groups, key=lambda k: [str(x) for x in k])[:MAX_PANELS]:
        where = ", ".join(f"{a.name} = {_fmt(v)}" for a, v in zip(cond, key, strict=True))
        prefix = f"With {where}: " if where else ""
        group = groups[key]
        ok = [r for r in group if r["days_loads_cut"] == 0 and r["damaged_batteries"] == 0]
        if ok:
            best = min(ok, key=lambda r: (r["bank_kwh"], r["solar_w"], r["variant"]))
            what = ", ".join(f"{a.name} = {_fmt(best[a.name])}" for a in size) or "every variant"
            lines.append(
                f"{prefix}smallest system with no load cut: {what} "
                f"({best['bank_kwh']:g} kWh of battery, {best['solar_w']:g} W of solar; lowest "
                f"true SoC {best['lowest_true_soc_pct']:g} %).")
        else:
            best = min(group, key=lambda r: (r["days_loads_cut"], r["energy_not_served_kwh"]))
            what = ", ".join(f"{a.name} = {_fmt(best[a.name])}" for a in size) or "the system"
            lines.append(
                f"{prefix}no variant kept the loads on; the fewest days cut: {what} "
                f"({best['days_loads_cut']} days, {best['energy_not_served_kwh']:g} kWh not "
                "served).")
    return lines


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def heat_maps(sweep: Sweep, rows: Sequence[Row]) -> list[str]:
    """SVG heat maps of the days with the loads cut (worst seed) over the first two axes, one
    per combination of the other axes' values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = aggregate(rows)
    axes = list(sweep.axes)
    x_ax = axes[0]
    y_ax = axes[1] if len(axes) > 1 else None
    rest = axes[2:]
    out: list[str] = []
    for combo in list(itertools.product(*(a.values for a in rest)))[:MAX_PANELS]:
        ys = y_ax.values if y_ax is not None else ("",)
        grid = [[math.nan] * len(x_ax.values) for _ in ys]
        for r in per.values():
            if any(r[a.name] != v for a, v in zip(rest, combo, strict=True)):
                continue
            i = ys.index(r[y_ax.name]) if y_ax is not None else 0
            grid[i][x_ax.values.index(r[x_ax.name])] = float(r["days_loads_cut"])
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(x_ax.values), 1.0 + 0.55 * len(ys)))
        top = max([1.0, *(v for row in grid for v in row if not math.isnan(v))])
        ax.imshow(grid, cmap="YlOrRd", vmin=0, vmax=top, aspect="auto", origin="lower")
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                label = "…" if math.isnan(v) else f"{v:g}"
                ax.text(j, i, label, ha="center", va="center", fontsize=9,
                        color="white" if v > 0.6 * top else "black")
        ax.set_xticks(range(len(x_ax.values)), [_fmt(v) for v in x_ax.values])
        ax.set_xlabel(x_ax.name)
        ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys])
        if y_ax is not None:
            ax.set_ylabel(y_ax.name)
        title = ", ".join(f"{a.name} = {_fmt(v)}" for a, v in zip(rest, combo, strict=True))
        ax.set_title(f"days with the loads cut{': ' + title if title else ''}", fontsize=10)
        out.append(_svg(fig))
    return out


def soc_bands(sweep: Sweep, rows: Sequence[Row], floor_pct: float | None) -> list[str]:
    """One small SVG per variant (its first seed): the daily band of true SoC over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    firsts: dict[int, Row] = {}
    for r in rows:
        firsts.setdefault(int(r["variant"]), r)
    out: list[str] = []
    for v in sorted(firsts)[:MAX_BANDS]:
        r = firsts[v]
        lo, hi = r["soc_day_min"], r["soc_day_max"]
        days = range(len(lo))
        fig, ax = plt.subplots(figsize=(4.2, 1.9))
        cut = r["days_loads_cut"] > 0
        ax.fill_between(days, lo, hi, color="#e8590c" if cut else "#2b8a3e", alpha=0.45, lw=0)
        ax.plot(days, lo, color="#1d2733", lw=0.6)
        if floor_pct:
            ax.axhline(floor_pct, color="#c92a2a", lw=0.8, ls="--")
        ax.set_ylim(0, 100)
        ax.set_xlim(0, max(1, len(lo) - 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("day", fontsize=8)
        ax.set_ylabel("true SoC %", fontsize=8)
        ax.tick_params(labelsize=7)
        name = ", ".join(f"{a.name} = {_fmt(r[a.name])}" for a in sweep.axes)
        ax.set_title(f"{name}\n{r['days_loads_cut']} days cut", fontsize=8)
        out.append(_svg(fig))
    return out


def write_report(sweep: Sweep, rows: Sequence[Row], path: Path, complete: bool = True) -> Path:
    """Write the page for the rows there are (``complete`` False: an interrupted sweep)."""
    total = sweep.combinations * len(sweep.seeds)
    floor = sweep.scenario(sweep.variants()[0]).settings.discharge_floor_pct if rows else None
    recs = recommendations(sweep, rows) if rows else ["No variant has finished."]
    ok = any(" no load cut" in x for x in recs)
    cols = ["variant", "seed", *(a.name for a in sweep.axes), "bank_kwh", "solar_w", *METRICS]
    e = html.escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>sweep: {e(sweep.name)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>Sweep: {e(sweep.name)}</h1>",
        f"<p class=meta>{len(rows)} of {total} runs"
        f"{'' if complete else ' (interrupted: the rest did not run)'}; "
        f"{sweep.duration_s / 86400:g} days each, BMS in the loop; seeds "
        f"{', '.join(str(s) for s in sweep.seeds)}; base {e(Path(sweep.base_source).name)}.</p>",
        *(f"<p class='rec{'' if ok else ' none'}'>{e(x)}</p>" for x in recs),
    ]
    if rows:
        parts.append("<h2>Days with the loads cut (A-B01, A-B07, A-B08), worst seed</h2>")
        parts.append("<div class=grid>")
        parts.extend(f"<div class=card>{s}</div>" for s in heat_maps(sweep, rows))
        parts.append("</div><h2>True SoC, daily lowest to highest</h2><div class=grid>")
        parts.extend(f"<div class=card>{s}</div>" for s in soc_bands(sweep, rows, floor))
        parts.append("</div>")
    parts.append("<h2>Every run</h2><div class=scroll><table><tr>")
    parts.extend(f"<th>{e(c)}</th>" for c in cols)
    parts.append("</tr>")
    for r in rows:
        good = r["days_loads_cut"] == 0 and r["damaged_batteries"] == 0
        parts.append(f"<tr class={'ok' if good else 'cut'}>")
        parts.extend(f"<td>{e(_fmt(r[c]))}</td>" for c in cols)
        parts.append("</tr>")
    parts.append("</table></div></main></body></html>\n")
    path.write_text("".join(parts), encoding="utf-8")
    return path
