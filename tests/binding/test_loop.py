"""The binding loop as an HNN graph on the engine: delay semantics, the bottom-up window and
refractoriness, with stand-in networks (what the old hard-wired loop was tested for)."""

import numpy as np
import pytest
import torch

from hnnbio.errors import DataError, ParameterError
from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, Simulation, simulate

D, R = 6, 1


def loop_graph(n_pixels, net, keep=(1.0, 0.5, 0.25), nested=False):
    """Stochastic gated units (P = x * c, R silent steps), a window unit up, a delay-D unit down."""
    return HNN(
        "loop",
        inputs=[Input("image", n_pixels)],
        populations=[
            Population("sheet", n_pixels, model="stochastic", params={"refractory_steps": R},
                       input="image", input_variable="drive")
        ],
        networks=[Network("net", net, inputs=("window",))],
        units=[
            HybridUnit("window", "sheet", "net", window=len(keep), kernel="coincidence",
                       keep=keep, nested=nested),
            HybridUnit("attention", "net", "sheet", kind="modulation", variable="gain",
                       operation="set", delay_steps=D, initial="soft_assignment",
                       record_steps=D),
        ],
    )


class Counter(torch.nn.Module):
    """Returns the constant (call number mod 7) / 7 everywhere and records its inputs."""

    def __init__(self):
        super().__init__()
        self.calls, self.inputs = 0, []

    def forward(self, x):
        self.inputs.append(x.clone())
        value = (self.calls % 7) / 7
        self.calls += 1
        return torch.full_like(x, value)


def _raster(result, n_samples, n_pixels):
    s = result.spikes["sheet"]
    raster = np.zeros((result.n_steps, n_samples, n_pixels), bool)
    raster[s.step, s.sample, s.neuron] = True
    return raster


def test_feedback_of_step_t_applies_at_step_t_plus_d():
    net = Counter()
    graph = loop_graph(5, net)
    net.calls, net.inputs = 0, []  # the graph's size probe called it once
    out = simulate(graph, np.ones((2, 5)), steps=4 * D, seed=1)
    assert net.calls == 4 * D
    attention = out.applied["attention"]
    assert attention.shape == (2, D, 5)
    for k in range(D):  # attention at step s of the last cycle = output of call s - D
        s = 4 * D - D + k
        np.testing.assert_allclose(attention[:, k], ((s - D) % 7) / 7, rtol=1e-6)


@pytest.mark.parametrize("nested", [False, True])
def test_window_input_and_refractoriness(nested):
    images = (np.random.default_rng(0).random((3, 30)) < 0.6).astype(float)
    images[:, 0] = 1
    net = Counter()
    graph = loop_graph(30, net, nested=nested)
    net.inputs = []
    out = simulate(graph, images, steps=4 * D, seed=2)
    raster = _raster(out, 3, 30)
    assert not raster[:, images == 0].any()  # background never fires
    for t, x in enumerate(net.inputs):  # window: all of step t, a subset of t-1 and t-2
        x = x.numpy() > 0
        assert (x >= raster[t]).all()
        assert (x <= raster[max(0, t - 2) : t + 1].any(0)).all()
    for b in range(3):  # at least R silent steps after each spike
        for p in range(30):
            assert (np.diff(np.flatnonzero(raster[:, b, p])) > R).all()


def test_zero_feedback_silences_the_sheet_after_one_cycle():
    class Zero(torch.nn.Module):
        def forward(self, x):
            return torch.zeros_like(x)

    out = simulate(loop_graph(8, Zero()), np.ones((2, 8)), steps=4 * D, seed=0)
    steps = out.spikes["sheet"].step
    assert steps.size > 0 and steps.max() < D


def test_same_seed_same_spikes_and_store_restore():
    images = np.ones((2, 6))
    a = simulate(loop_graph(6, Counter()), images, steps=3 * D, seed=5).spikes["sheet"]
    b = simulate(loop_graph(6, Counter()), images, steps=3 * D, seed=5).spikes["sheet"]
    assert np.array_equal(a.step, b.step) and np.array_equal(a.neuron, b.neuron)
    sim = Simulation(loop_graph(6, torch.nn.Identity()), images, seed=5)
    sim.store()
    first = sim.run(2 * D).spikes["sheet"]
    sim.restore()
    again = sim.run(2 * D).spikes["sheet"]
    assert np.array_equal(first.step, again.step) and np.array_equal(first.neuron, again.neuron)


def test_bad_arguments():
    with pytest.raises(DataError, match="image"):
        simulate(loop_graph(6, Counter()), np.ones((3, 7)), steps=D)
    with pytest.raises(ParameterError, match="steps"):
        simulate(loop_graph(6, Counter()), np.ones((2, 6)), steps=0)


def test_sparse_first_layer_equals_the_dense_network():
    from hnnbio.ann.autoencoder import DenoisingAutoencoder, sparse_input_forward

    torch.manual_seed(0)
    for layers, hidden in (
        ([30, 16, 30], ["sigmoid"]),
        ([30, 20, 8, 20, 30], ["relu", "sigmoid", "relu"]),
    ):
        net = DenoisingAutoencoder(layers, hidden).eval()
        forward = sparse_input_forward(net, 4, 30)
        active = np.unique(np.random.default_rng(1).integers(0, 120, 25))
        dense = torch.zeros(120)
        dense[active] = 1
        with torch.no_grad():
            torch.testing.assert_close(
                forward(active), net(dense.view(4, 30)), atol=1e-6, rtol=1e-5
            )
            slot = torch.full((4, 30), -1.0)  # written in place (the delay slot)
            forward(active, out=slot)
            torch.testing.assert_close(slot, net(dense.view(4, 30)), atol=1e-6, rtol=1e-5)
    assert sparse_input_forward(Counter(), 4, 30) is None
