"""The package's import graph: no cycles, and no import that runs up a layer.

The layer order is ``omadm_codec._layers``. Every ``.py`` module of the package and every
compiled source (``_ext/omadm_codec/**.pyx|.pxi|.pxd``) is read (not imported): an import
statement is an edge, wherever it stands (module level or inside a function), except under
``if TYPE_CHECKING:`` (annotations only). Importing ``a.b.c`` also runs the packages ``a.b``
and ``a`` unless the importer is inside them, so those count too; the root package (the
public facade, which imports the layers) is left out of that rule.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from omadm_codec._layers import BASE, LAYERS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "omadm_codec"
EXT = ROOT / "_ext"


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _python_modules() -> dict[str, Path]:
    return {_module_name(p, ROOT): p for p in PACKAGE.rglob("*.py")}


def _compiled_modules() -> dict[str, list[Path]]:
    """``omadm_codec.x._y_c`` -> its .pyx and the .pxi/.pxd files it is built from."""
    found: dict[str, list[Path]] = {}
    for pyx in EXT.rglob("*_c.pyx"):
        name = _module_name(pyx, EXT)
        parts = [pyx, pyx.with_suffix(".pxd")]
        parts += sorted(pyx.with_suffix("").glob("*.pxi"))  # _fast_c/*.pxi
        found[name] = [p for p in parts if p.is_file()]
    return found


PY = _python_modules()
COMPILED = _compiled_modules()
MODULES = set(PY) | set(COMPILED)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    parts = importer.split(".")
    if not is_package:
        parts = parts[:-1]
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _targets(name: str, names: list[str]) -> set[str]:
    """``from name import a, b``: each ``name.a`` that is a module, else ``name`` itself."""
    out = set()
    for item in names:
        sub = f"{name}.{item}"
        out.add(sub if sub in MODULES else name)
    return out


def _python_edges(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    edges: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            edges.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            edges.update(_targets(base, [alias.name for alias in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return edges


_CY_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+c?import[ \t]+(?:\(([^)]*)\)|([^\n#]*))"
    r"|c?import[ \t]+([\w.]+))", re.M)


def _compiled_edges(paths: list[Path]) -> set[str]:
    edges: set[str] = set()
    for path in paths:
        for match in _CY_IMPORT.finditer(path.read_text()):
            if match[4]:
                edges.add(match[4])
                continue
            names = [n.split(" as ")[0].strip() for n in (match[2] or match[3]).split(",")]
            edges.update(_targets(match[1], [n for n in names if n and n != "*"]))
    return edges


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        raw = _python_edges(name, PY[name]) if name in PY else _compiled_edges(COMPILED[name])
        edges = set()
        for target in raw:
            if target.split(".")[0] != "omadm_codec" or target == name:
                continue
            while target not in MODULES and "." in target:  # a name inside a module
                target = target.rsplit(".", 1)[0]
            edges.add(target)
            # Importing a.b.c runs the package a.b first (unless the importer is inside it).
            parent = target.rsplit(".", 1)[0]
            while parent != "omadm_codec" and not name.startswith(parent + "."):
                edges.add(parent)
                parent = parent.rsplit(".", 1)[0]
        edges.discard(name)
        graph[name] = edges
    return graph


GRAPH = _graph()


def _layer(name: str) -> int:
    """-1 for the base modules, else the index in ``LAYERS``; the facade ranks as high as
    what it imports."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return max((_layer(t) for t in GRAPH.get(name, ()) if t != name), default=-1)
    if parts[1] in BASE:
        return -1
    assert parts[1] in LAYERS, f"{name} is in no layer: add it to omadm_codec._layers"
    return LAYERS.index(parts[1])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_graph_is_read() -> None:
    # The walk must see the real imports, or the two tests below prove nothing.
    assert "omadm_codec.messages._fast_c" in GRAPH
    assert "omadm_codec.wbxml._xmlscan_c" in GRAPH["omadm_codec.messages._fast_c"]
    assert "omadm_codec.messages.model" in GRAPH["omadm_codec.session.server"]
    assert "omadm_codec.security.auth" in GRAPH["omadm_codec.session.server"]
    assert "omadm_codec.session" in GRAPH["omadm_codec.http.app"]
    assert len(GRAPH) > 60


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_run_down_the_layers(name: str) -> None:
    own = _layer(name)
    upward = sorted(t for t in GRAPH[name] if _layer(t) > own)
    assert upward == [], f"{name} (layer {own}) imports a higher layer"


def test_every_layer_is_a_package_with_a_docstring() -> None:
    import importlib

    for layer in LAYERS:
        module = importlib.import_module(f"omadm_codec.{layer}")
        assert module.__file__ is not None and module.__file__.endswith("__init__.py")
        assert module.__doc__ and "import" in module.__doc__, layer
