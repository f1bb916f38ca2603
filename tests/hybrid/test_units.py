"""Hybrid units against hand computations and binomial statistics."""

import math

import numpy as np
import pytest
import torch

from hnnbio.errors import ParameterError
from hnnbio.hybrid.units import (
    CoincidenceWindow,
    HybridUnit,
    Modulation,
    Transmission,
    coincidence_step_sparse,
    exponential_kernel,
    exponential_trace_step,
    quantise,
    rate_kernel,
)

N = 40000


def _within_binomial(count, n, p, sigmas=5.0):
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1e-9


def test_coincidence_window_keep_probabilities_dense():
    """A spike at step 0 is passed on at ages 0, 1, 2 with probability 1, 0.5, 0.25, then never."""
    hu = CoincidenceWindow([1.0, 0.5, 0.25])
    spikes = torch.zeros(N, 5, dtype=torch.bool)
    spikes[:, 0] = True
    out = hu(spikes, generator=torch.Generator().manual_seed(1))
    counts = out.sum(0).numpy()
    assert counts[0] == N
    assert _within_binomial(counts[1], N, 0.5)
    assert _within_binomial(counts[2], N, 0.25)
    assert counts[3] == 0 and counts[4] == 0


def test_coincidence_window_keep_probabilities_sparse():
    keep = np.array([1.0, 0.5, 0.25])
    rng = np.random.default_rng(3)
    past = [np.zeros(0, int)] * 2
    idx0 = np.arange(N)
    counts = []
    for t in range(4):
        kept, past = coincidence_step_sparse(idx0 if t == 0 else np.zeros(0, int), past, keep, rng)
        counts.append(np.unique(kept).size)
    assert counts[0] == N
    assert _within_binomial(counts[1], N, 0.5)
    assert _within_binomial(counts[2], N, 0.25)
    assert counts[3] == 0


def test_coincidence_window_is_an_or():
    """Two spikes in the window of one neuron give one output of 1, not 2."""
    hu = CoincidenceWindow([1.0, 1.0, 1.0])
    spikes = torch.tensor([[1, 0, 1, 0, 0, 0]], dtype=torch.bool)
    out = hu(spikes)
    assert out.tolist() == [[1, 1, 1, 1, 1, 0]]


def test_rate_window_is_a_moving_average():
    hu = HybridUnit(window_length=3, kernel="rate")
    x = torch.tensor([3.0, 0.0, 6.0, 3.0, 0.0])
    # hand: windows [0,0,3] [0,3,0] [3,0,6] [0,6,3] [6,3,0] -> means 1, 1, 3, 3, 3
    assert torch.allclose(hu(x), torch.tensor([1.0, 1.0, 3.0, 3.0, 3.0]))


def test_exponential_kernel_impulse_response_and_trace():
    tau, length = 2.5, 6
    hu = HybridUnit(window_length=length, kernel="exponential", tau_steps=tau)
    impulse = torch.zeros(8)
    impulse[0] = 1.0
    expected = [math.exp(-k / tau) for k in range(length)] + [0.0, 0.0]
    assert torch.allclose(hu(impulse), torch.tensor(expected), atol=1e-6)
    trace = torch.zeros(())
    for k in range(length):
        trace = exponential_trace_step(impulse[k], trace, tau)
        assert math.isclose(float(trace), math.exp(-k / tau), rel_tol=1e-6)


def test_step_form_equals_sequence_form():
    hu = HybridUnit(window_length=4, kernel="exponential", tau_steps=1.5, nonlinearity="tanh")
    x = torch.randn(3, 10)
    state = hu.initial_state((3,))
    steps = []
    for t in range(10):
        y, state = hu.step(x[:, t], state)
        steps.append(y)
    assert torch.allclose(torch.stack(steps, -1), hu(x), atol=1e-6)


def test_kernels_by_hand():
    assert torch.allclose(rate_kernel(4), torch.full((4,), 0.25))
    assert torch.allclose(
        exponential_kernel(3, 1.0), torch.tensor([math.exp(-2), math.exp(-1), 1.0])
    )


def test_quantisers():
    y = torch.tensor([0.1, 0.5, 0.49, 0.7])
    assert quantise(y, "threshold", theta=0.5).tolist() == [0, 1, 0, 1]
    assert quantise(torch.tensor([0.3]), "fixed_point", bits=2).tolist() == [0.25]
    p = torch.full((N,), 0.3)
    n = int(quantise(p, "bernoulli", generator=torch.Generator().manual_seed(0)).sum())
    assert _within_binomial(n, N, 0.3)


def test_ann_to_snn_transmission_and_modulation():
    y = torch.tensor([0.0, 0.5, 1.0])
    assert Transmission(gain=2.0)(y).tolist() == [0.0, 1.0, 2.0]
    spikes = Transmission(spikes=True)(torch.ones(5))
    assert spikes.tolist() == [1.0] * 5
    assert Modulation("drive")(torch.tensor([2.0, 2.0, 2.0]), y).tolist() == [0.0, 1.0, 2.0]
    assert Modulation("threshold", scale=0.4)(1.0, y).tolist() == pytest.approx([1.0, 0.8, 0.6])


def test_learnable_hybrid_unit_learns_a_kernel():
    """A learnable HU fitted to the output of an exponential filter recovers the filter's kernel."""
    torch.manual_seed(0)
    target_kernel = exponential_kernel(4, 2.0)
    x = (torch.rand(64, 50) < 0.3).float()
    target = HybridUnit(window_length=4, kernel=target_kernel)(x)
    hu = HybridUnit(window_length=4, kernel=torch.full((4,), 0.1), learnable=True)
    assert isinstance(hu.kernel, torch.nn.Parameter)
    opt = torch.optim.Adam(hu.parameters(), lr=0.05)
    first = None
    for _ in range(400):
        loss = torch.mean((hu(x) - target) ** 2)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 100
    effective = (hu.gain * hu.kernel).detach()
    assert torch.allclose(effective, target_kernel, atol=0.05)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(window_length=0), "window_length"),
        (dict(window_length=2.5), "window_length"),
        (dict(window_length=3, kernel="boxcar"), "kernel"),
        (dict(window_length=3, kernel=torch.ones(2)), "kernel"),
        (dict(nonlinearity="softplus"), "nonlinearity"),
        (dict(quantiser="round"), "quantiser"),
        (dict(window_length=3, kernel="exponential", tau_steps=0), "tau_steps"),
    ],
)
def test_bad_hybrid_unit_arguments(kwargs, name):
    with pytest.raises(ParameterError, match=name):
        HybridUnit(**kwargs)


@pytest.mark.parametrize("keep", [[], [1.0, 1.5], [[1.0]], [-0.1]])
def test_bad_keep(keep):
    with pytest.raises(ParameterError, match="keep"):
        CoincidenceWindow(keep)


def test_bad_modulation_target_and_quantiser():
    with pytest.raises(ParameterError, match="target"):
        Modulation("soma")
    with pytest.raises(ParameterError, match="quantiser"):
        quantise(torch.ones(1), "stochastic")
