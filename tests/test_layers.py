"""The package's shape: layers that import only downward, no import hidden in a function, files
that read top to bottom.

Layers, each importing only from itself and the ones before it (``seqlab/__init__.py``)::

    device, checks -> data -> models -> train -> bench -> experiments -> viz -> figures, notebook, sweep

An import inside a function would hide a cycle instead of removing it, so seqlab modules are
imported at the top of a module only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "seqlab"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("seqlab", "seqlab.checks", "seqlab.device", "seqlab.metrics"),
    ("seqlab.data",),
    ("seqlab.models", "seqlab.gradients"),
    ("seqlab.train",),
    ("seqlab.bench",),
    ("seqlab.experiments",),
    ("seqlab.viz",),
    ("seqlab.figures", "seqlab.notebook", "seqlab.sweep"),
)
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of a seqlab module: that of the longest listed name it is or lies inside (the
    package ``seqlab`` itself only as itself)."""
    best, found = -1, None
    for i, names in enumerate(LAYERS):
        for name in names:
            inside = module.startswith(name + ".") and name != "seqlab"
            if (module == name or inside) and len(name) > best:
                best, found = len(name), i
    if found is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS")
    return found


FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def _imports(tree: ast.AST) -> list[tuple[ast.AST, str, bool]]:
    """(node, imported seqlab module, inside a function or class?) for every seqlab import."""
    found: list[tuple[ast.AST, str, bool]] = []
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((child, a.name, nested) for a in child.names
                             if a.name.startswith("seqlab"))  # fmt: skip
            elif isinstance(child, ast.ImportFrom) and (child.module or "").startswith("seqlab"):
                for alias in child.names:  # `from seqlab import viz` imports seqlab.viz
                    sub = f"{child.module}.{alias.name}"
                    found.append((child, sub if _is_module(sub) else child.module, nested))
            visit(child, nested or isinstance(child, scopes))

    visit(tree, False)
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module(p))
def test_imports_go_down_the_layers_and_sit_at_the_top(path):
    module = _module(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node, target, nested in _imports(tree):
        where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
        assert not nested, f"{where} imports {target} inside a function: import it at the top"
        assert layer(target) <= layer(module), (
            f"{where}: {module} (layer {layer(module)}) imports {target} "
            f"(layer {layer(target)}), a layer above it"
        )


def test_viz_never_trains_or_times():
    banned = ("seqlab.train", "seqlab.bench", "time", "timeit", "torch.utils.benchmark")
    for path in (PACKAGE / "viz").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(banned), f"{path.name} imports {name}: viz only draws"


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module(p))
def test_every_file_reads_top_to_bottom(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n < MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {n} lines (< {MAX_LINES})"


def test_layers_are_read_from_the_package_docstring():
    import seqlab

    doc = " ".join(seqlab.__doc__.split())
    order = ["device", "data", "models", "train", "bench", "experiments", "viz", "figures"]
    positions = [doc.index(name) for name in order]
    assert positions == sorted(positions)
