"""The layer rule of docs/architecture.md, checked on the source: every ``mxnetseg`` module is
parsed with ``ast`` (nothing is imported) and each import of another project module must point
down (or stay inside its own part); module-level imports must not form a cycle."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mxnetseg"

# part -> layer; a module may import its own part and any part of a lower layer
LAYERS = {
    "registry": 0,
    "data": 1, "models": 1,
    "config": 2,
    "tools": 3,
    "api": 4, "entry": 4,
}
# the command-line entry points: the top, free to import each other; nothing else imports them
ENTRY = {"train", "eval", "convert", "predict", "download", "plot", "bench", "export", "cli",
         "__main__"}
# upward edges that are allowed, each a function-level import with a reason in the doc
ALLOWED_UP = {
    # create_model(..., checkpoint=FILE) loads the weights (PyTorch or MXNet) it was given
    ("mxnetseg.models", "mxnetseg.tools.checkpoint"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def part(module: str) -> str:
    pieces = module.split(".")
    if len(pieces) == 1:
        return "api"            # mxnetseg/__init__.py: the public names
    return "entry" if pieces[1] in ENTRY else pieces[1]


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]                   # relative to the module's package
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path):
    """(imported project module, line, at module level?) for every import in the file;
    ``from pkg import name`` counts as ``pkg.name`` when that is a module."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            src = _resolve(module, path, node)
            targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in MODULES else src
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "mxnetseg":
                yield target, node.lineno, id(node) in top


def _type_checking_only(path: Path) -> set:
    """Lines of imports under ``if TYPE_CHECKING:`` (annotations, never run)."""
    tree = ast.parse(path.read_text())
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            lines |= {n.lineno for n in ast.walk(node) if isinstance(n, ast.ImportFrom)}
    return lines


def _allowed(src: str, dst: str) -> bool:
    return any(src.startswith(a) and dst.startswith(b) for a, b in ALLOWED_UP)


def test_every_part_has_a_layer():
    assert {part(m) for m in MODULES} <= set(LAYERS), "a new top-level part needs a layer"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    path = MODULES[module]
    skip = _type_checking_only(path)
    upward = []
    for target, line, _ in imports(module, path):
        if line in skip or part(target) == part(module) or _allowed(module, target):
            continue
        if LAYERS[part(target)] >= LAYERS[part(module)]:
            upward.append(f"{path.name}:{line} imports {target}")
    assert not upward, (f"{module} ({part(module)}, layer {LAYERS[part(module)]}) imports "
                        f"upward or sideways: {upward}; see docs/architecture.md")


def test_no_module_level_import_cycles():
    graph = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, _, top in imports(module, path):
            # a module's own packages are always initialised before it: not an edge
            if top and target in MODULES and not module.startswith(target + "."):
                graph[module].add(target)
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"module-level import cycles: {cycles}"


def test_no_two_modules_import_each_other():
    """Not even through a function-level import (the old checkpoint <-> mxnet_params pair)."""
    edges = {(m, t) for m, path in MODULES.items() for t, _, _ in imports(m, path)
             if t in MODULES and t != m and not m.startswith(t + ".") and not t.startswith(m + ".")}
    pairs = sorted((a, b) for a, b in edges if (b, a) in edges and a < b)
    assert not pairs, f"modules importing each other: {pairs}"


def test_checker_sees_an_upward_import(tmp_path):
    """The checker itself: a data module importing tools is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from ..tools.visualize import voc_palette\n")
    found = list(imports("mxnetseg.data.bad", bad))
    assert found == [("mxnetseg.tools.visualize", 1, True)]
    assert LAYERS[part(found[0][0])] > LAYERS[part("mxnetseg.data.bad")]
