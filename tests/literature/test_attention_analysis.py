"""analyses/attention_digits.py runs at a small size and writes its figure and numbers."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "attention_digits.py"


def test_analysis_script_writes_png_and_json(tmp_path):
    spec = importlib.util.spec_from_file_location("attention_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = module.measure(3, noise=(0.0, 0.3))
    assert [r["noise"] for r in data["rows"]] == [0.0, 0.3]
    assert len(data["maps"]) == 10 and len(data["maps"][0]) == 64
    module.plot(data, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(data)  # the numbers are plain JSON
