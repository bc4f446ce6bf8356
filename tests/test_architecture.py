"""The package's architecture, checked from the source (docs/architecture.md, "Layers").

The import graph of ``federation/`` is built from the AST of every module: every import,
including those inside functions and under ``TYPE_CHECKING``.  It must have no cycle, and
every import must go to the module's own layer or one below.  The few known upward imports
are listed in ``EXCEPTIONS``, each with the issue item that removes it; an entry whose
import is gone fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]

BASE = ("federation.errors", "federation.timebase", "federation.protocol", "federation.address", "federation.keys",
        "federation.logs", "federation.units", "federation.access")  # fmt: skip
LAYERS: tuple[tuple[str, ...], ...] = (
    BASE,  # 0: base, no scenario, no sockets of its own
    ("federation", "federation.api"),  # 1: the user's federate API (the package itself re-exports it)
    ("federation.scenario",),  # 2: the scenario language
    ("federation.decisions", "federation.results"),  # 3: decisions; results read back
    ("federation.engine",),  # 4: plan, scheduler, coordinator, runtime, recorder
    ("federation.fmu",),  # 5: FMUs as federates
    ("federation.app", "federation.console"),  # 6: the command line, sweeps, the terminal, the web console
)
"""Bottom to top: a module imports from its own layer or below.  A name covers a module and, for a
subpackage, everything in it; the top package's name is only its ``__init__``."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("federation.decisions.gate", "federation.app.prompt"):
        "issue 13 item 4: the terminal prompt becomes an object the command line hands to the gate",
    ("federation.decisions.gate", "federation.app.progress"):
        "issue 13 item 4: the gate's status line comes with the prompt the command line hands to it",
}  # fmt: skip
"""Known upward imports: (importer, imported) -> what removes it.  They are left out of the cycle check too."""

PUBLIC = ("federation", "federation.fmu")
"""What the domain federates (``federates/``) may import of the framework."""


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import of a package module in ``path``, wherever it is written; ``from P import m`` of a submodule is ``P.m``."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = root.joinpath(*base.split("."), alias.name)
                is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                found.append(Import(name, f"{base}.{alias.name}" if is_module else base, node.lineno))
    return found


def import_graph(root: Path, package: str = "federation") -> nx.DiGraph:
    """Modules of ``package`` under ``root`` and the imports between them (edge attribute ``line``)."""
    graph = nx.DiGraph()
    for path in sorted((root / package).rglob("*.py")):
        graph.add_node(module_name(path, root))
        for imp in imports_of(path, root):
            if imp.imported == package or imp.imported.startswith(package + "."):
                graph.add_edge(imp.importer, imp.imported, line=imp.line)
    return graph


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching name, layer): the longest name wins
    for index, names in enumerate(layers):
        for name in names:
            covers = module == name or ("." in name and module.startswith(name + "."))
            if covers and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def upward_imports(graph: nx.DiGraph, layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    found = []
    for importer, imported, data in graph.edges(data=True):
        low, high = layer_of(importer, layers), layer_of(imported, layers)
        if low is not None and high is not None and high > low:
            found.append(f"{importer} (layer {low}) imports {imported} (layer {high}) at line {data['line']}")
    return sorted(found)


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (or a module importing itself)."""
    out = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1 or any(graph.has_edge(m, m) for m in component):
            cycle = [edge[0] for edge in nx.find_cycle(graph.subgraph(component))]
            start = cycle.index(min(cycle))
            out.append(cycle[start:] + cycle[:start])
    return sorted(out)


def without_exceptions(graph: nx.DiGraph) -> nx.DiGraph:
    kept = graph.copy()
    kept.remove_edges_from(e for e in EXCEPTIONS if kept.has_edge(*e))
    return kept


# ----------------------------------------------------------------------------- the rules
def test_every_module_has_a_layer() -> None:
    """A new module is put in a layer (LAYERS here, and docs/architecture.md) before it is imported."""
    graph = import_graph(ROOT)
    assert [m for m in graph if layer_of(m) is None] == []


def test_no_import_cycles() -> None:
    graph = without_exceptions(import_graph(ROOT))
    found = cycles(graph)
    tangles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert found == [], ("import cycles, one per tangle:\n" + "\n".join(" -> ".join([*c, c[0]]) for c in found)
                         + "\ntangled modules:\n" + "\n".join(", ".join(t) for t in tangles))  # fmt: skip


def test_imports_go_down_the_layers() -> None:
    found = upward_imports(without_exceptions(import_graph(ROOT)))
    assert found == [], "imports that go up the layers (docs/architecture.md):\n" + "\n".join(found)


def test_every_listed_exception_still_exists() -> None:
    """An exception whose import is gone is removed from the list, so that it cannot come back unnoticed."""
    graph = import_graph(ROOT)
    stale = [f"{a} -> {b} ({why})" for (a, b), why in EXCEPTIONS.items() if not graph.has_edge(a, b)]
    assert stale == [], "remove from EXCEPTIONS:\n" + "\n".join(stale)
    assert all(layer_of(b) > layer_of(a) for a, b in EXCEPTIONS)  # type: ignore[operator]


def test_domain_federates_use_only_the_public_api() -> None:
    found = []
    for path in sorted((ROOT / "federates").rglob("*.py")):
        for imp in imports_of(path, ROOT):
            top = imp.imported.split(".")[0]
            if top == "federation" and not any(imp.imported == p or imp.imported.startswith(p + ".")
                                               for p in PUBLIC[1:]) and imp.imported != "federation":  # fmt: skip
                found.append(f"{path.relative_to(ROOT)}:{imp.line}: {imp.imported}")
    found = sorted(set(found))
    assert found == [], "federates/ imports framework internals (export what it needs from federation):\n" + "\n".join(found)


def test_the_public_api_is_importable() -> None:
    import federation

    for name in federation.__all__:
        assert getattr(federation, name) is not None, name


# ----------------------------------------------------------------------------- the checks themselves
def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


SMALL = (("pkg.base",), ("pkg", "pkg.low"), ("pkg.high",))


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "pkg/__init__.py": "", "pkg/base.py": "",
        "pkg/low/__init__.py": "", "pkg/low/a.py": "from . import b\n",
        "pkg/low/b.py": "def f():\n    from .a import x\n",
    })  # fmt: skip
    assert cycles(import_graph(root, "pkg")) == [["pkg.low.a", "pkg.low.b"]]


def test_an_upward_import_under_type_checking_is_found(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "pkg/__init__.py": "", "pkg/base.py": "",
        "pkg/low/__init__.py": "", "pkg/low/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                   "    from ..high.c import C\n",
        "pkg/high/__init__.py": "", "pkg/high/c.py": "from ..low import a\nfrom pkg import base\n",
    })  # fmt: skip
    found = upward_imports(import_graph(root, "pkg"), SMALL)
    assert found == ["pkg.low.a (layer 1) imports pkg.high.c (layer 2) at line 3"]
    assert cycles(import_graph(root, "pkg")) == [["pkg.high.c", "pkg.low.a"]]


@pytest.mark.parametrize("module, layer", [("federation", 1), ("federation.errors", 0), ("federation.api.federate", 1),
                                           ("federation.scenario.model", 2), ("federation.fmu.loader", 5),
                                           ("federation.newmodule", None)])  # fmt: skip
def test_layer_of(module: str, layer: int | None) -> None:
    assert layer_of(module) == layer
