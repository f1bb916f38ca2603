"""chip/ reads the HNN graph and runs programs: it imports nothing of binding, nor Brian2 (ast scan
of every module of hnnbio/chip, imports inside functions included)."""

import ast
from pathlib import Path

import hnnbio.chip

FORBIDDEN = ("hnnbio.binding", "brian2")


def _imported(tree) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from ..binding import y
                names.append("hnnbio." + ("chip." if node.level == 1 else "")
                             + (node.module or ""))
            else:
                names.append(node.module or "")
                names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", "")) in ("import_module", "__import__"):
            names += [a.value for a in node.args if isinstance(a, ast.Constant)]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "hnnbio":  # import hnnbio; hnnbio.binding.evaluate(...)
            names.append(f"hnnbio.{node.attr}")
    return names


def test_chip_imports_nothing_of_binding_or_brian2():
    folder = Path(hnnbio.chip.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 10
    bad = []
    for f in files:
        for name in _imported(ast.parse(f.read_text())):
            if any(name == m or name.startswith(m + ".") for m in FORBIDDEN):
                bad.append(f"{f.name}: {name}")
    assert not bad, bad


def test_the_scan_sees_what_it_forbids():
    tree = ast.parse("def f():\n    from hnnbio.binding.spec import load_spec\n"
                     "import brian2 as b2\nfrom hnnbio import binding\n"
                     "importlib.import_module('hnnbio.binding.evaluate')\n"
                     "import hnnbio\nhnnbio.binding.bind\n")
    names = _imported(tree)
    assert {"hnnbio.binding.spec", "brian2", "hnnbio.binding", "hnnbio.binding.evaluate"} <= \
        set(names)
