"""The closed loop: delay semantics, bottom-up window and refractoriness, with stand-in networks."""

import numpy as np
import pytest
import torch

from hnnbio.binding.spec import load_spec
from hnnbio.circuits.reference import ReferenceSheet
from hnnbio.errors import DataError, ParameterError
from hnnbio.hybrid.loop import run_loop

D, R = 6, 1


def _spec(keep=(1.0, 0.5, 0.25)):
    return load_spec("bars").replace(
        loop={"steps_per_cycle": D, "cycles": 4, "readout_cycles": 1},
        bottom_up={"keep": list(keep)},
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


def test_feedback_of_step_t_applies_at_step_t_plus_d():
    images = np.ones((2, 5))
    net = Counter()
    out = run_loop(ReferenceSheet(2, 5, R), net, images, _spec(), seed=1)
    n_steps = out["n_steps"]
    assert n_steps == 4 * D and net.calls == n_steps
    for k in range(D):  # attention at step s of the last cycle = output of call s - D
        s = n_steps - D + k
        np.testing.assert_allclose(out["attention"][:, k], ((s - D) % 7) / 7, rtol=1e-6)


def test_window_input_and_refractoriness():
    images = (np.random.default_rng(0).random((3, 30)) < 0.6).astype(float)
    images[:, 0] = 1
    net = Counter()
    out = run_loop(ReferenceSheet(3, 30, R), net, images, _spec(), seed=2)
    raster = np.zeros((out["n_steps"], 3, 30), bool)
    raster[out["spike_step"], out["spike_image"], out["spike_pixel"]] = True
    assert not raster[:, images == 0].any()  # background never fires
    for t, x in enumerate(net.inputs):  # window: all of step t, a subset of t-1 and t-2
        x = x.numpy() > 0
        assert (x >= raster[t]).all()
        allowed = raster[max(0, t - 2) : t + 1].any(0)
        assert (x <= allowed).all()
    for b in range(3):  # at least R silent steps after each spike
        for p in range(30):
            times = np.flatnonzero(raster[:, b, p])
            assert (np.diff(times) > R).all()


def test_zero_feedback_silences_the_sheet_after_one_cycle():
    class Zero(torch.nn.Module):
        def forward(self, x):
            return torch.zeros_like(x)

    out = run_loop(ReferenceSheet(2, 8, R), Zero(), np.ones((2, 8)), _spec(), seed=0)
    assert out["spike_step"].size > 0
    assert out["spike_step"].max() < D


def test_same_seed_same_spikes():
    images = np.ones((2, 6))
    a = run_loop(ReferenceSheet(2, 6, R), Counter(), images, _spec(), seed=5)
    b = run_loop(ReferenceSheet(2, 6, R), Counter(), images, _spec(), seed=5)
    assert np.array_equal(a["spike_step"], b["spike_step"])
    assert np.array_equal(a["spike_pixel"], b["spike_pixel"])


def test_bad_arguments():
    with pytest.raises(DataError, match="images"):
        run_loop(ReferenceSheet(2, 6, R), Counter(), np.ones((3, 6)), _spec())
    with pytest.raises(ParameterError, match="cycles"):
        run_loop(ReferenceSheet(2, 6, R), Counter(), np.ones((2, 6)), _spec(), cycles=0)


def test_sparse_first_layer_equals_the_dense_network():
    from hnnbio.ann.autoencoder import DenoisingAutoencoder
    from hnnbio.hybrid.loop import _sparse_input_forward

    torch.manual_seed(0)
    for layers, hidden in (
        ([30, 16, 30], ["sigmoid"]),
        ([30, 20, 8, 20, 30], ["relu", "sigmoid", "relu"]),
    ):
        net = DenoisingAutoencoder(layers, hidden).eval()
        forward = _sparse_input_forward(net, 4, 30)
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
    assert _sparse_input_forward(Counter(), 4, 30) is None
