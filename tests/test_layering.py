"""Dependencies point down: no subpackage imports one above it, and no two import each other.

The floors (docs/concepts.md draws them): errors; config, data (below everything that trains)
and outputs (checked, atomic output files); neurons and ann; hybrid (the HU stages); hnn (the
graph, its files and the engine); circuits, analysis, chip and nir (each reads the graph or its
result, none knows another or binding); binding and experiments; sweep and run; the CLI on top.
A package imports only floors below it.
"""

import ast
from pathlib import Path

import hnnbio

FLOORS = {
    "errors": 0, "shipped_models": 0,
    "config": 1, "data": 1, "outputs": 1,
    "neurons": 2, "ann": 2, "info": 2,
    "hybrid": 3,
    "hnn": 4,
    "circuits": 5, "analysis": 5, "chip": 5, "nir": 5,
    "binding": 6, "experiments": 6,
    "sweep": 7, "run": 7,
    "cli": 8,
    "__main__": 9, "__init__": 9,
}
ROOT = Path(hnnbio.__file__).parent


def _imports() -> set[tuple[str, str, str]]:
    """(importing package, imported package, file) for every import of hnnbio inside hnnbio."""
    out = set()
    for f in ROOT.rglob("*.py"):
        src = f.relative_to(ROOT).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "hnnbio" and len(parts) > 1 and parts[1] != src:
                    out.add((src, parts[1], str(f.relative_to(ROOT))))
    return out


def test_every_package_has_a_floor():
    packages = {p.name.removesuffix(".py") for p in ROOT.iterdir()
                if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    assert packages <= set(FLOORS), sorted(packages - set(FLOORS))


def test_no_package_imports_one_above_or_beside_it():
    bad = sorted(f"{where}: {src} (floor {FLOORS[src]}) imports {dst} (floor {FLOORS[dst]})"
                 for src, dst, where in _imports() if FLOORS[dst] >= FLOORS[src])
    assert not bad, "\n".join(bad)


def test_no_two_packages_import_each_other():
    pairs = {(s, d) for s, d, _ in _imports()}
    assert not [(s, d) for s, d in pairs if (d, s) in pairs]
