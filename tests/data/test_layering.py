"""data/ is below everything that trains: its modules import nothing of hnnbio but errors/config."""

import ast
from pathlib import Path

import hnnbio.data

ALLOWED = {"hnnbio.errors", "hnnbio.config", "hnnbio.data"}


def _hnnbio_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {n for n in names if n == "hnnbio" or n.startswith("hnnbio.")}


def test_data_imports_only_errors_config_and_itself():
    files = sorted(Path(hnnbio.data.__file__).parent.glob("*.py"))
    assert {f.name for f in files} >= {"datasets.py", "shapes.py", "idx.py", "digits.py"}
    for f in files:
        imported = _hnnbio_imports(f)
        bad = {n for n in imported if not any(n == a or n.startswith(a + ".") for a in ALLOWED)}
        assert not bad, f"{f.name} imports {sorted(bad)}"
