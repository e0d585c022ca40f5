"""Imports go one way, as docs/architecture.md draws them: a maintainer who adds an import
against the data flow (the store reaching up into the pipeline, the sync worker into the
daemon, the runtime into the simulator) or an import cycle gets a failing test that names it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own part, or any part of a lower layer; parts of
# the same layer stay independent of each other, except in the foundation, whose small
# modules build on one another (the cycle check still holds there).
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "edge.errors",
        "edge.jsonfile",
        "edge.jpeg",
        "edge.keypoints",
        "edge.measurements",
        "edge.config",
        "edge.argtypes",
        "edge.config_reference",
    ),
    ("edge.geometry", "edge.service"),
    (
        "edge.detect",
        "edge.measure",
        "edge.camera",
        "edge.store",
        "edge.trigger",
        "edge.calibrate",
        "edge.registry",
        "edge.herd",
    ),
    ("edge.pipeline", "edge.sim", "cloud_sync"),
    ("edge.api", "edge.training"),
    ("edge.daemon", "edge.labels"),
    ("edge.cli",),
)
FOUNDATION = LAYERS[0]

# Besides the layers: what the sync worker may use of the edge package (the store it reads,
# and the vocabulary and service plumbing both daemons share), and what the simulator must
# not lean on (it renders goats; it does not detect them).
SYNC_MAY_IMPORT = (
    "edge.errors",
    "edge.config",
    "edge.jsonfile",
    "edge.keypoints",
    "edge.measurements",
    "edge.service",
    "edge.store",
)
FORBIDDEN = (("edge.sim", "edge.detect"), ("edge.sim", "edge.training"))

# Imports deliberately made inside a function, against the layers: the simulated camera
# loads the renderer only when one is configured.
LAZY_EXCEPTIONS = {("edge.camera.simulated", "edge.sim")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _part_of(module: str, parts: tuple[str, ...]) -> str | None:
    return next((p for p in parts if module == p or module.startswith(p + ".")), None)


ALL_PARTS = tuple(p for layer in LAYERS for p in layer)


def _layer(part: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if part in layer)


class _Imports(ast.NodeVisitor):
    """Every import of edge or cloud_sync in a module: (imported module, line, made inside a
    function, only for type checking)."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.found: list[tuple[str, int, bool, bool]] = []
        self._depth = 0
        self._type_checking = 0

    def _add(self, name: str, line: int) -> None:
        if name.split(".")[0] in ("edge", "cloud_sync"):
            self.found.append((name, line, self._depth > 0, self._type_checking > 0))

    def visit_FunctionDef(self, node):  # noqa: N802 (ast's naming)
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):  # noqa: N802
        checking = isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        self._type_checking += checking
        self.generic_visit(node)
        self._type_checking -= checking

    def visit_Import(self, node):  # noqa: N802
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node):  # noqa: N802
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        for alias in node.names:
            # `from edge.store import outbox` imports the module edge.store.outbox
            candidate = f"{base}.{alias.name}"
            self._add(candidate if (ROOT / (candidate.replace(".", "/") + ".py")).is_file() else base, node.lineno)


def _imports() -> dict[str, list[tuple[str, int, bool, bool]]]:
    found = {}
    for top in ("edge", "cloud_sync"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_name(path)
            visitor = _Imports(module, path.name == "__init__.py")
            visitor.visit(ast.parse(path.read_text(), str(path)))
            found[module] = visitor.found
    return found


IMPORTS = _imports()


def _violation(importer: str, imported: str, lazy: bool) -> str | None:
    mine, theirs = _part_of(importer, ALL_PARTS), _part_of(imported, ALL_PARTS)
    if mine is None:
        return f"{importer} belongs to no layer of docs/architecture.md"
    if theirs is None:
        return f"{imported} belongs to no layer of docs/architecture.md"
    if mine == theirs:
        return None
    if lazy and (importer, theirs) in LAZY_EXCEPTIONS:
        return None
    if mine.startswith("cloud_sync") and theirs.startswith("edge") and theirs not in SYNC_MAY_IMPORT:
        return f"the sync worker imports {theirs}"
    if (mine, theirs) in FORBIDDEN:
        return f"{mine} must not import {theirs}"
    if _layer(theirs) < _layer(mine) or (mine in FOUNDATION and theirs in FOUNDATION):
        return None
    return f"{mine} (layer {_layer(mine)}) imports {theirs} (layer {_layer(theirs)})"


def test_every_import_goes_down_the_layers():
    wrong = [
        f"{importer}:{line} imports {imported}: {why}"
        for importer, imports in IMPORTS.items()
        for imported, line, lazy, _ in imports
        if (why := _violation(importer, imported, lazy))
    ]
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules():
    graph = {
        m: {i for i, _, lazy, typing in imports if not lazy and not typing and i in IMPORTS and i != m}
        for m, imports in IMPORTS.items()
    }
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for nxt in sorted(graph[module]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize(
    ("importer", "imported", "lazy"),
    [
        ("edge.store.records", "edge.measure.estimate", False),
        ("cloud_sync.cli", "edge.daemon.run", False),
        ("cloud_sync.rows", "edge.measure.estimate", False),
        ("edge.calibrate.photos", "edge.sim.effects", False),
        ("edge.sim.dataset", "edge.detect.closeup", False),
        ("edge.detect.detector", "edge.pipeline.gate", False),
        ("edge.camera.simulated", "edge.sim.capture", False),  # at module level: every Pi would load the renderer
    ],
)
def test_the_check_refuses_the_uphill_imports_it_was_written_for(importer, imported, lazy):
    assert _violation(importer, imported, lazy) is not None
