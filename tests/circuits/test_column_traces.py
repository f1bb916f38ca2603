"""analyses/column_traces.py runs on one image for a few cycles, writes its PNG and JSON, and the
recorded spikes obey the column's wiring (interneuron after a relayed spike, coincidence after
two relayed spikes within its window)."""

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "column_traces.py"


def _module():
    spec = importlib.util.spec_from_file_location("column_traces", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_traces_run_writes_figure_and_obeys_the_wiring(tmp_path):
    mod = _module()
    assert mod.main(["--model", "bars", "--images", "1", "--cycles", "4", "--record", "1",
                     "--out", str(tmp_path)]) == 0
    assert (tmp_path / "column_traces.png").stat().st_size > 10_000
    data = json.loads((tmp_path / "column_traces.json").read_text())
    n_steps, m = data["steps_per_cycle"], data["chains"]
    assert data["sheet_params"]["plateau_threshold"] == 0.15
    assert data["sheet_params"]["inhibition_steps"] == 3
    assert len(data["columns"]) == 2
    assert data["columns"][0]["object"] != data["columns"][1]["object"]
    for variables in data["traces"].values():
        for values in variables.values():
            assert np.shape(values)[1] == n_steps
    assert np.min(data["traces"]["self_inhibiting"]["i_self"]) >= 0
    spikes = data["spikes"]
    for c in data["columns"]:
        relays = [t for k in range(m)
                  for t in spikes["self_inhibiting"][str(c["neuron"] * m + k)]]
        relays = np.bincount(relays, minlength=n_steps + 2)
        assert relays.sum() > 0
        for t in spikes["interneuron"][str(c["neuron"])]:  # k = 1: one relay the step before
            if t >= 1:
                assert relays[t - 1] >= 1, t
        for t in spikes["coincidence"][str(c["neuron"])]:  # 2 of the chains within 2 steps
            if t >= 2:
                assert relays[t - 2] + relays[t - 1] >= 2, t
        assert len(spikes["coincidence"][str(c["neuron"])]) > 0
