"""HIFI (issue 12.2): the twin of the discrete self-inhibiting neuron against a hand-computed
sequence and against Brian2; bad parameters refused by name at construction; ``hnnbio run`` on a
few evaluation images.

Hand-computed sequence of one neuron (leak tau = 0.25, gamma = 0.2, C = 0.8, U_rest = 0.1,
theta = 1.0, constant input I = 1.0, starting at v = U_rest, s = 0), with the published update
v = (1 - tau)(v (1 - s) + U_rest s) + tau U_rest + C (I - gamma s), s = [v >= theta]:

- step 1: 0.75 * 0.1 + 0.025 + 0.8 * 1.0 = 0.9, no spike;
- step 2: 0.75 * 0.9 + 0.025 + 0.8 = 1.5, spike;
- step 3: reset to U_rest and self-inhibition: 0.75 * 0.1 + 0.025 + 0.8 * (1 - 0.2) = 0.74, none;
- step 4: 0.75 * 0.74 + 0.025 + 0.8 = 1.38, spike.

With gamma = 0 step 3 would give 0.9 again (the self-inhibition costs 0.8 * 0.2 = 0.16).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hnnbio.cli import main
from hnnbio.errors import ModelSpecError, ParameterError
from hnnbio.hybrid.si_twin import HifiNetwork, SILayer

MODEL = Path(__file__).resolve().parents[2] / "models" / "hifi-digits.toml"
NEURON = dict(leak=0.25, w_self=0.2, gain=0.8, v_rest=0.1, v_threshold=1.0)
V_HAND = [0.9, 1.5, 0.74, 1.38]
S_HAND = [0, 1, 0, 1]


def test_twin_follows_the_hand_computed_sequence():
    layer = SILayer(1, **NEURON)
    got_v, got_s = [], []
    with torch.no_grad():
        values = layer.values(torch.float64)
        v, s = layer.initial_state(1)
        for _ in range(4):
            v, s = layer.step(v, s, torch.tensor([[1.0]], dtype=torch.float64), values)
            got_v.append(float(v))
            got_s.append(int(s))
    assert got_v == pytest.approx(V_HAND, abs=1e-12)
    assert got_s == S_HAND


def test_brian2_discrete_neuron_follows_the_hand_computed_sequence():
    from brian2 import Network, SpikeMonitor, StateMonitor, ms

    from hnnbio.config import brian_target
    from hnnbio.neurons.self_inhibiting import build_self_inhibiting_discrete

    with brian_target():
        group = build_self_inhibiting_discrete(1, dt=1 * ms, **NEURON)
        group.i_in = 1.0
        state = StateMonitor(group, "v", record=0, when="end")
        spikes = SpikeMonitor(group)
        Network(group, state, spikes).run(4 * ms)
        assert np.asarray(state.v[0]) == pytest.approx(V_HAND, abs=1e-12)
        assert np.round(np.asarray(spikes.t / ms)).astype(int).tolist() == [1, 3]  # steps 2, 4


def _random_network(task: str, seed: int):
    """A task's HIFI network with spread per-neuron parameters (so heterogeneity is exercised)."""
    from hnnbio.experiments.hifi import Design

    design = Design(temporal_recurrent=True, hidden=40, temporal_hidden=40)
    net = design.network(task, True, seed=seed).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (net.hidden.leak_raw, net.hidden.w_self_raw, net.hidden.threshold_raw):
            p.add_(0.7 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        net.w_in.mul_(1.5)
    return design, net


@pytest.mark.parametrize("task", ["static", "temporal"])
def test_twin_and_brian2_give_the_same_spikes(task):
    """Per-neuron spike counts of Brian2 (the learned values as per-neuron constants, recurrent
    synapses in the temporal task) and of the float64 twin on 12 evaluation images."""
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.hifi import network_arrays, simulate, task_inputs, twin_run

    design, net = _random_network(task, 3)
    grey, _ = load_digits("eval")
    x = task_inputs(task, grey[:12].reshape(12, -1), design, 8)
    brian = simulate(network_arrays(net), x)
    twin = twin_run(net, x)
    assert brian["counts"].sum() > 200 and brian["counts"].std() > 0  # spikes to compare
    assert np.corrcoef(brian["counts"].ravel(), twin["counts"].ravel())[0, 1] >= 0.99
    assert np.array_equal(brian["logits"].argmax(1), twin["logits"].argmax(1))
    assert np.allclose(brian["logits"], twin["logits"], atol=1e-9)


def test_per_neuron_parameters_are_per_neuron_in_brian2():
    """Two neurons with the same input and different learned leak fire differently in Brian2 as
    the published update says: I = 0.3, theta = 1, from v = 0: v_k = 0.9 v_(k-1) + 0.3 =
    3 (1 - 0.9^k) with leak 0.1: 0.3, 0.57, 0.813, 1.0317 (spike at step 4), then 0.3 - 0.05 =
    0.25 and 0.525 (steps 5, 6); leak 0.5 gives 0.6 (1 - 0.5^k) < 0.6: never."""
    from hnnbio.experiments.hifi import simulate

    arrays = dict(w_in=np.eye(2), b_in=np.zeros(2), w_out=np.ones((2, 1)), b_out=np.zeros(1),
                  w_rec=None, v_rest=0.0, gain=1.0, leak=np.array([0.1, 0.5]),
                  w_self=np.array([0.05, 0.05]), v_threshold=np.array([1.0, 1.0]))
    res = simulate(arrays, np.full((1, 6, 2), 0.3))
    assert res["spike_index"].tolist() == [0] and res["spike_step"].tolist() == [3]  # step 4


def test_bad_neuron_parameters_are_refused_by_name():
    for kwargs, name in ((dict(leak=-0.2), "leak"), (dict(leak=1.5), "leak"),
                         (dict(w_self=-0.05), "w_self"),
                         (dict(v_threshold=-0.5, v_rest=0.0), "v_threshold"),
                         (dict(gain=-1.0), "gain")):
        with pytest.raises(ParameterError, match=name) as info:
            SILayer(4, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(ParameterError, match="n_hidden"):
        HifiNetwork(64, 0, 10)
    with pytest.raises(ParameterError, match="heterogeneous"):
        SILayer(4, heterogeneous=("tau_self",))
    only_leak = SILayer(4, heterogeneous=("leak",))  # ablations: one parameter per neuron
    assert [p.numel() for p in (only_leak.leak_raw, only_leak.w_self_raw,
                                only_leak.threshold_raw)] == [4, 1, 1]


@pytest.mark.parametrize("line, name", [("leak = -0.1", "leak"),
                                        ("v_threshold = -1.0", "v_threshold"),
                                        ("w_self = -0.05", "w_self"),
                                        ("hidden = 0", "hidden")])
def test_bad_model_file_values_are_refused_by_name(line, name, tmp_path, capsys):
    from hnnbio.experiments.hifi import read_model

    key = line.split(" = ")[0]
    text = "\n".join(line if row.startswith(f"{key} ") else row
                     for row in MODEL.read_text().splitlines())
    copy = tmp_path / MODEL.name
    copy.write_text(text + "\n")
    with pytest.raises(ModelSpecError, match=name):
        read_model(copy)
    assert main(["run", str(copy), "--images", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert name in err and len(err.splitlines()) == 1


def test_hnnbio_run_prints_the_rows(capsys):
    assert main(["run", str(MODEL), "--images", "4", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("accuracy", "baseline", "brian2_torch_spike_correlation",
                "synaptic_ops_per_sample", "temporal", "parameters"):
        assert key in rows, key
    assert rows["samples"] == 4 and rows["steps"] == 8
    for row in (rows, rows["baseline"], rows["temporal"], rows["temporal"]["baseline"]):
        assert 0 <= row["accuracy"] <= 1
        assert row["brian2_torch_spike_correlation"] >= 0.99
        assert row["synaptic_ops_per_sample"] >= 0
    assert 0 <= rows["temporal"]["baseline_accuracy"] <= 1
    # the shipped baseline is homogeneous (one value per parameter), the HIFI network is not
    assert all(p["min"] == p["max"] for p in rows["baseline"]["parameters"].values())
    assert all(p["max"] - p["min"] > 0.01 for p in rows["parameters"].values())


def test_analysis_script_writes_the_figure(tmp_path):
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "analyses" / "hifi_digits.py"
    spec = importlib.util.spec_from_file_location("hifi_digits", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    assert (tmp_path / "hifi_digits.png").stat().st_size > 10_000
    assert (tmp_path / "hifi_latency.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "hifi_digits.json").read_text())
    for task in ("static", "temporal"):
        leak = rows[task]["leak"]
        assert 0 < leak["min"] <= leak["mean"] <= leak["max"] < 1  # the sigmoid's range
        assert rows[task]["w_self"]["min"] >= 0 and rows[task]["v_threshold"]["min"] > 0
    latency = rows["latency"]
    assert len(latency["hifi"]) == len(latency["baseline"]) == len(latency["steps"])
    assert all(0.1 < a <= 1 for a in latency["hifi"] + latency["baseline"])  # above chance


def test_training_is_deterministic_and_keeps_the_baseline_homogeneous():
    from hnnbio.experiments.train_hifi import train

    runs = [train(MODEL, seed=0, epochs=1, n_images=100, log=lambda line: None, save=False)
            for _ in range(2)]
    for task in ("static", "temporal"):
        for variant in ("hifi", "baseline"):
            a, b = (r[task][variant].state_dict() for r in runs)
            assert all(torch.equal(a[k], b[k]) for k in a)
        with torch.no_grad():
            het = runs[0][task]["hifi"].hidden.values()
            hom = runs[0][task]["baseline"].hidden.values()
        assert runs[0][task]["baseline"].hidden.leak_raw.numel() == 1
        assert all(float(v.max() - v.min()) == 0 for v in hom.values())
        assert float(het["leak"].max() - het["leak"].min()) > 0  # per neuron after one epoch
