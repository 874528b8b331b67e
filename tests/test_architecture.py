"""The shape of the package (docs/architecture.md), checked on the source itself.

Layers point one way: the data dictionary (``smallbms.model``) imports nothing else of the
package; the core imports only the dictionary and the catalogue; integrations do not import the
service; no module imports another that imports it back (directly or through others), counting
imports made inside functions and for the type checker too; nothing outside the core reads the
core's internals.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "smallbms"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports, resolved to module names: at any depth of
    the file, inside functions and under ``if TYPE_CHECKING:`` too (a cycle that only the type
    checker sees is still two modules that cannot be understood one without the other)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in modules:
                n = n.rpartition(".")[0]
            if n and n != me:
                out.add(n)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, modules) for m, p in modules.items()}


def _strip_parents(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first; a package's
    ``__init__`` that re-exports its own submodules is not a cycle, so edges from a package to
    its own submodules are dropped."""
    return {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_in_src() -> None:
    assert _cycles(_strip_parents(_graph())) == []


def test_the_data_dictionary_imports_nothing_else_of_the_package() -> None:
    graph = _graph()
    for m, deps in graph.items():
        if m.startswith("smallbms.model"):
            assert {d for d in deps if not d.startswith("smallbms.model")} == set(), m


def test_the_core_imports_only_the_dictionary_the_catalogue_and_the_bank_rules() -> None:
    allowed = ("smallbms.core", "smallbms.model", "smallbms.catalog", "smallbms.bank",
               "smallbms.errors")
    for m, deps in _graph().items():
        if m.startswith("smallbms.core"):
            bad = {d for d in deps if not d.startswith(allowed)}
            assert bad == set(), f"{m} imports {bad}"


def test_integrations_do_not_import_the_service() -> None:
    for m, deps in _graph().items():
        if m.startswith("smallbms.integrations"):
            bad = {d for d in deps if d.startswith("smallbms.service")}
            assert bad == set(), f"{m} imports {bad}"


def test_no_product_module_imports_test_tooling() -> None:
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) tests\b", text, re.M), path


_INTERNALS = re.compile(r"\bcore\.(p|m|latches|la)\.")


def test_nothing_outside_the_core_reads_its_internals() -> None:
    """``core.p`` (persistent state), ``core.m`` (measurements) and the latches are the core's
    own; everything else goes through its public methods and the snapshot."""
    found = []
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "core"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _INTERNALS.search(line):
                found.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert found == []


def test_the_twin_imports_neither_the_scenario_format_nor_the_runners() -> None:
    allowed = ("smallbms.twin", "smallbms.catalog", "smallbms.core.types", "smallbms.durations",
               "smallbms.model", "smallbms.errors")
    for m, deps in _graph().items():
        if m.startswith("smallbms.twin"):
            bad = {d for d in deps if d != "smallbms" and not d.startswith(allowed)}
            assert bad == set(), f"{m} imports {bad}"


def test_every_package_says_what_it_holds_and_what_it_may_import() -> None:
    for init in SRC.rglob("__init__.py"):
        if init.parent.name == "__pycache__":
            continue
        tree = ast.parse(init.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        assert doc, f"{init.relative_to(SRC)} has no docstring"
        if init.parent != SRC:
            assert "may import" in doc.lower(), f"{init.relative_to(SRC)} does not say what it may import"


def test_the_sample_line_precision_agrees_with_the_field_table() -> None:
    """The event contract freezes its own rounding (SAMPLE_LINE); today it equals the field
    table's, so a value reads the same on the pages and in the event log. If a field's display
    precision changes, this fails and says that the contract did not follow."""
    from smallbms.model.fields import FIELDS, SAMPLE_LINE

    for key, fid, precision in SAMPLE_LINE:
        f = FIELDS[fid]
        expected = f.precision if f.kind in ("float", "int") else None
        assert precision == expected, f"sample line {key}: {precision} vs field {fid}: {expected}"
