"""A learnable HU trained in PyTorch on generated spike data, then used in a Brian2 run.

The targets come from an independent formula (numpy), ``y_t = sigmoid(sum_k g_k x_{t-k} - b)``;
the fitted unit goes into an HNN graph as ``kernel = "learnable"``, and what the network receives
in the Brian2 run is checked against (a) the fitted unit's exported numbers to float32 rounding
and (b) the true formula within a bound derived from the fit's mean squared error.
"""

import numpy as np
import torch

from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, simulate
from hnnbio.hybrid.learn import fit_hybrid_unit
from hnnbio.hybrid.units import HybridUnit as LearnableUnit

G = np.array([0.25, 0.5, 1.0, 2.0])  # oldest first, newest last
B_TRUE = 1.0


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _target(x):
    """Independent formula over spike trains x (n, T): windows of 4 steps, zeros before 0."""
    pad = np.concatenate([np.zeros((x.shape[0], 3)), x], axis=1)
    windows = np.stack([pad[:, k : k + x.shape[1]] for k in range(4)], axis=-1)
    return _sigmoid(windows @ G - B_TRUE)


class Recorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.clone())
        return x


def test_fitted_unit_runs_in_brian2_as_fitted():
    rng = np.random.default_rng(3)
    x = (rng.random((64, 50)) < 0.3).astype(np.float32)
    unit = LearnableUnit(window_length=4, learnable=True, nonlinearity="sigmoid")
    fit = fit_hybrid_unit(unit, torch.from_numpy(x), torch.from_numpy(_target(x)).float(),
                          steps=1500, learning_rate=0.05, seed=0)
    assert fit.final_loss < 1e-5
    unit.eval()
    with torch.no_grad():
        mse = float(((unit(torch.from_numpy(x)).numpy() - _target(x)) ** 2).mean())
    # a binary window takes one of 16 patterns, each seen with frequency f_p in training; the
    # squared error of pattern p is at most mse / f_p, so every error is <= sqrt(mse / min f_p)
    pad = np.concatenate([np.zeros((x.shape[0], 3)), x], axis=1)
    codes = sum(pad[:, k : k + x.shape[1]] * 2**k for k in range(4)).astype(int).ravel()
    freq = np.bincount(codes, minlength=16) / codes.size
    assert freq.min() > 0  # every pattern was seen
    bound = np.sqrt(mse / freq.min()) + 1e-6

    n, steps = 5, 40
    spikes = (rng.random((1, steps, n)) < 0.3).astype(np.float32)
    recorder = Recorder()
    graph = HNN(
        "learned",
        inputs=[Input("drive", n)],
        populations=[Population("p", n, equations="x : 1", threshold="x > 0.5",
                                input="drive", input_variable="x")],
        networks=[Network("net", recorder, inputs=("hu",))],
        units=[HybridUnit("hu", "p", "net", kernel="learnable", window=4, module=unit)],
    )
    recorder.inputs = []
    result = simulate(graph, spikes, steps=steps)
    s = result.spikes["p"]
    raster = np.zeros((steps, n))
    raster[s.step, s.neuron] = 1
    np.testing.assert_array_equal(raster, spikes[0])  # the population fires the given pattern
    received = torch.cat(recorder.inputs).numpy()  # (steps, n)

    e = unit.export()
    pad = np.concatenate([np.zeros((3, n)), raster])
    windows = np.stack([pad[k : k + steps] for k in range(4)], axis=-1)
    as_fitted = _sigmoid(e["gain"] * (windows @ e["kernel"]) + e["bias"])
    np.testing.assert_allclose(received, as_fitted, atol=1e-6)  # float32 rounding
    assert np.abs(received - _target(raster.T).T).max() <= bound
