"""The PyTorch twin (hnnbio.hybrid.twin) against theory and against Brian2.

Theory: under a constant drive v_inf the membrane equation tau dv/dt = v_inf - v has the solution
v(t) = v_inf (1 - exp(-t / tau)) from v = 0, so the neuron reaches v_threshold after
T = tau ln(v_inf / (v_inf - v_threshold)); sampled at whole steps with a strict threshold, it fires
at the first step k with k dt > T and resets, so its ISI is the smallest integer k > T / dt.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hnnbio.hybrid.twin import FeedforwardTwin, LIFLayer, decay_factor, integrate, reset, spike

MODEL = Path(__file__).resolve().parents[2] / "models" / "attention-digits.toml"


def isi_theory(v_inf, v_threshold, tau_ms, dt_ms):
    t_cross = tau_ms * math.log(v_inf / (v_inf - v_threshold))  # continuous time to threshold
    return math.floor(t_cross / dt_ms) + 1  # smallest whole number of steps strictly beyond it


DRIVES = [21.0, 25.0, 30.0, 40.0, 60.0, 80.0, 200.0]  # mV; threshold 20 mV


def test_twin_exact_step_matches_the_analytic_solution():
    tau, dt = 5.0, 1.0
    v = torch.zeros(1, dtype=torch.float64)
    for k in range(1, 30):
        v = integrate(v, 15.0, decay_factor(tau, dt))
        assert float(v) == pytest.approx(15.0 * (1 - math.exp(-k * dt / tau)), rel=1e-12)


@pytest.mark.parametrize("tau", [5.0, 10.0])
def test_twin_isi_matches_the_formula(tau):
    dt, th = 1.0, 20.0
    drive = torch.tensor(DRIVES, dtype=torch.float64)
    v = torch.zeros_like(drive)
    times = [[] for _ in DRIVES]
    for step in range(400):
        v = integrate(v, drive, decay_factor(tau, dt))
        s = spike(v, th)
        v = reset(v, s, 0.0)
        for i in np.flatnonzero(s.numpy()):
            times[i].append(step)
    for i, v_inf in enumerate(DRIVES):
        isis = np.diff([-1, *times[i]])  # the first spike counts from the start (v = 0 at -1)
        assert set(isis.tolist()) == {isi_theory(v_inf, th, tau, dt)}, v_inf


def test_twin_below_threshold_never_fires():
    v = torch.zeros(3, dtype=torch.float64)
    for _ in range(500):
        v = integrate(v, torch.tensor([5.0, 19.0, 20.0], dtype=torch.float64), 0.8)
        assert not spike(v, 20.0).any()


def test_brian2_encoding_layer_isi_matches_the_formula():
    """The model file's encoding population in Brian2 (method exact) under constant pixels."""
    from hnnbio.hnn.engine import simulate
    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(MODEL)
    enc = graph.node("enc")
    v_drive = float(enc.namespace["v_drive"] / enc.namespace["v_drive"].get_best_unit())
    pixels = np.array(DRIVES + [10.0]) / v_drive  # i_in such that v_drive * i_in = drive
    x = np.zeros((1, 64))
    x[0, :len(pixels)] = pixels
    import dataclasses

    only_enc = dataclasses.replace(graph, populations=[enc], synapses=[], networks=[], units=[])
    result = simulate(only_enc, x, steps=200, seed=0)
    s = result.spikes["enc"]
    tau = float(enc.namespace["tau_mem"] / enc.namespace["tau_mem"].get_best_unit())
    for i, v_inf in enumerate(DRIVES):
        steps = np.sort(s.step[s.neuron == i])
        assert set(np.diff([-1, *steps]).tolist()) == {isi_theory(v_inf, 20.0, tau, 1.0)}
    assert not np.any(s.neuron == len(DRIVES))  # 10 mV < threshold: silent


def _random_weights(seed):
    from hnnbio.experiments.classification import experiment_settings, twin_parameters
    from hnnbio.experiments.train_classification import make_twin
    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(MODEL)
    settings = experiment_settings(graph)
    params = twin_parameters(graph, settings)
    kwargs = dict(n_features=params["hidden"].size, n_hidden=64, n_pixels=64)
    twins = {"baseline": make_twin(params, None, seed), "attention": make_twin(params, kwargs,
                                                                               seed)}
    with torch.no_grad():  # a strong attention signal, so that it changes spikes
        twins["attention"].attention.layers[2].weight.mul_(20.0)
        twins["attention"].attention.layers[2].bias.fill_(0.0)
    data = {"model": graph.name, "format": 1}
    for which, twin in twins.items():
        st = twin.state_dict()
        data[which] = dict(w_in=st["w_in"] * 1.5, w_out=st["w_out"], bias=st["bias"])
        if which == "attention":
            data[which]["network"] = twin.attention.state_dict()
    return data, params, twins


def test_twin_and_brian2_give_the_same_spikes():
    """Per-neuron spike counts of both models on 12 evaluation images: correlation >= 0.99
    (float64 twin; the few exact ties of float rounding are the only possible differences)."""
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.classification import evaluate, model_graphs

    data, params, twins = _random_weights(3)
    graph, baseline, settings = model_graphs(MODEL, weights=data)
    grey, labels = load_digits("eval")
    grey = grey[:12].reshape(12, -1).astype(np.float64)
    for which, g in (("attention", graph), ("baseline", baseline)):
        brian = evaluate(g, settings, grey, labels[:12], seed=0)
        twin = twins[which]
        twin.load_state_dict({**twin.state_dict(), "w_in": data[which]["w_in"]})
        with torch.no_grad():
            out = twin(torch.tensor(grey / 16.0), g.steps)
        a = np.concatenate([out["spikes_encoding"].numpy().ravel(),
                            out["spikes_hidden"].numpy().ravel()])
        b = np.concatenate([brian["counts"]["enc"].ravel(), brian["counts"]["hid"].ravel()])
        assert b.sum() > 1000 and b.std() > 0  # the comparison has spikes to compare
        assert np.corrcoef(a, b)[0, 1] >= 0.99, which
        assert np.array_equal(out["logits"].numpy().argmax(1), brian["predictions"])
    # the attention changed the encoding spikes (the comparison covers the modulation unit)
    assert not np.array_equal(evaluate(graph, settings, grey, seed=0)["counts"]["enc"],
                              evaluate(baseline, settings, grey, seed=0)["counts"]["enc"])


def test_layer_parameters_are_checked():
    from hnnbio.errors import ParameterError

    with pytest.raises(ParameterError):
        LIFLayer(4, -1.0, 20.0)
    with pytest.raises(ParameterError):
        decay_factor(0.0, 1.0)
    assert FeedforwardTwin(LIFLayer(4, 5.0, 20.0), LIFLayer(3, 10.0, 20.0), 2, 1.0, 80.0)(
        torch.zeros(2, 4), 5)["logits"].shape == (2, 2)


def test_conv_weights_are_the_convolution_written_out_by_hand():
    """ConvWeights' dense matrix against a brute-force loop over kernel taps (zero padding):
    hidden (c, i, j) gets pixel (i + a, j + b) with kernel[c, a + 1, b + 1], nothing else."""
    from hnnbio.hybrid.twin import ConvWeights

    torch.manual_seed(3)
    side, channels, k = 5, 2, 3
    conv = ConvWeights(side, channels, k, scale=1.0)
    kern = conv.kernel.detach().numpy()
    expected = np.zeros((side * side, channels * side * side))
    for c in range(channels):
        for i in range(side):
            for j in range(side):
                for a in range(-1, 2):
                    for b in range(-1, 2):
                        if 0 <= i + a < side and 0 <= j + b < side:
                            expected[(i + a) * side + j + b, c * side * side + i * side + j] = \
                                kern[c, 0, a + 1, b + 1]
    np.testing.assert_allclose(conv().detach().numpy(), expected, rtol=1e-6, atol=1e-7)
    # and as the network applies it: the drive of an image is image @ matrix
    img = torch.rand(1, side * side)
    ref = torch.nn.functional.conv2d(img.view(1, 1, side, side), conv.kernel, padding=1)
    torch.testing.assert_close(img @ conv(), ref.reshape(1, -1), rtol=1e-5, atol=1e-6)


def test_conv_twin_refuses_what_is_not_an_image_of_channels():
    from hnnbio.errors import ParameterError

    with pytest.raises(ParameterError, match="conv"):
        FeedforwardTwin(LIFLayer(60, 5.0, 20.0), LIFLayer(120, 10.0, 20.0), 10, 1.0, 80.0,
                        conv=3)
    with pytest.raises(ParameterError, match="odd kernel"):
        from hnnbio.hybrid.twin import ConvWeights
        ConvWeights(8, 2, 4, 1.0)
