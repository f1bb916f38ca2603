"""analyses/synchrony_vs_rate.py runs at CI size and writes its figures and numbers."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "synchrony_vs_rate.py"


@pytest.mark.slow
def test_script_runs_small(tmp_path):
    spec = importlib.util.spec_from_file_location("synchrony_vs_rate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--models", "bars", "--quick", "--quiet", "--out", str(tmp_path)])
    assert [r["model"] for r in rows] == ["bars"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved[0]["score_cycles"] == [1, 4, 7, 10]
    for name in ("scores_over_cycles.png", "scores_vs_ami.png"):
        assert (tmp_path / name).stat().st_size > 0
    # binding by synchrony: the final synchrony score beats the rate score on Bars
    assert saved[0]["mean_synchrony"] > saved[0]["mean_rate"]
