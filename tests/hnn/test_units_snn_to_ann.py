"""SNN -> ANN hybrid units: what a network receives, against values computed by hand.

A per-step input drives a threshold (x > 0.5, no dynamics), so the population's spikes are the
input pattern exactly; a recording network keeps every batch it is called with. Values are sums
of at most a few float32 products of 0/1 spikes and kernel weights: compared with a tolerance of
a few float32 ulps (rtol 1e-6), except where they are exact (0/1 outputs).
"""

import numpy as np
import pytest
import torch

from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, simulate

RTOL = 1e-6  # float32 rounding of a sum of <= 5 terms of magnitude <= 1


class Recorder(torch.nn.Module):
    """Records each (batch, n_in) input; returns zeros (batch, 1)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return torch.zeros(x.shape[0], 1)


def received(pattern: np.ndarray, **unit) -> np.ndarray:
    """What the network receives at the end of each step, shape (steps, B, n)."""
    n_samples, steps, size = pattern.shape
    rec = Recorder()
    graph = HNN("u", inputs=[Input("pat", size)],
                populations=[Population("p", size, equations="x : 1", threshold="x > 0.5",
                                        reset="", input="pat", input_variable="x")],
                networks=[Network("net", rec, inputs=("hu",))],
                units=[HybridUnit("hu", "p", "net", **unit)])
    rec.seen.clear()  # the graph called it once on zeros to learn its output size
    result = simulate(graph, pattern, steps=steps)
    spikes = result.spikes["p"]
    made = np.zeros_like(pattern)
    made[spikes.sample, spikes.step, spikes.neuron] = 1
    np.testing.assert_array_equal(made, pattern)  # the spikes are the pattern
    assert len(rec.seen) == steps  # called at the end of every step
    return torch.stack(rec.seen).numpy()


def pattern_one_neuron(spike_steps, steps=7):
    p = np.zeros((1, steps, 1), dtype=np.float32)
    p[0, list(spike_steps), 0] = 1
    return p


def random_pattern(seed=0, shape=(2, 15, 4), p=0.4):
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)


def test_rate_window_by_hand():
    # one neuron spiking at steps 1 and 2, window 3, mean rate: the spikes within the last 3
    # steps (including this one) over 3
    got = received(pattern_one_neuron([1, 2]), window=3, kernel="rate")[:, 0, 0]
    np.testing.assert_allclose(got, [0, 1 / 3, 2 / 3, 2 / 3, 1 / 3, 0, 0], rtol=RTOL)


def test_rate_window_on_a_random_pattern():
    pattern, length = random_pattern(), 4
    got = received(pattern, window=length, kernel="rate")
    steps = pattern.shape[1]
    for t in range(steps):
        want = sum(pattern[:, t - k] for k in range(length) if t - k >= 0) / length
        np.testing.assert_allclose(got[t], want, rtol=RTOL, atol=0)


def test_exponential_kernel():
    # weight exp(-age / tau) for age 0 (this step) .. L - 1
    pattern, length, tau = random_pattern(1), 3, 1.5
    got = received(pattern, window=length, kernel="exponential", tau_steps=tau)
    for t in range(pattern.shape[1]):
        want = sum(np.exp(-k / tau) * pattern[:, t - k] for k in range(length) if t - k >= 0)
        np.testing.assert_allclose(got[t], want, rtol=RTOL, atol=0)
    # by hand, one spike at step 1: 0, 1, e^(-1/1.5), e^(-2/1.5), 0, ...
    one = received(pattern_one_neuron([1], 6), window=3, kernel="exponential", tau_steps=1.5)
    np.testing.assert_allclose(one[:, 0, 0], [0, 1, np.exp(-2 / 3), np.exp(-4 / 3), 0, 0],
                               rtol=RTOL)


@pytest.mark.parametrize("as_array", [False, True])
def test_explicit_kernel_newest_last(as_array):
    kernel = [0.25, -1.0, 2.0]  # oldest first: age 2, age 1, age 0
    one = received(pattern_one_neuron([1], 6), window=3,
                   kernel=np.array(kernel) if as_array else kernel)
    np.testing.assert_allclose(one[:, 0, 0], [0, 2.0, -1.0, 0.25, 0, 0], rtol=RTOL)


def test_no_kernel_is_the_count_over_the_window():
    got = received(pattern_one_neuron([1, 2, 5]), window=2)
    np.testing.assert_array_equal(got[:, 0, 0], [0, 1, 2, 1, 0, 1, 1])


@pytest.mark.parametrize("nested", [False, True])
def test_coincidence_with_certain_keep_is_an_or_of_three_steps(nested):
    # keep = [1, 1, 1]: every coin says keep, so the output is exactly the OR of the spikes of
    # ages 0, 1, 2 (exact: 0/1 values)
    pattern = random_pattern(2, p=0.2)
    got = received(pattern, window=3, kernel="coincidence", keep=(1.0, 1.0, 1.0), nested=nested)
    for t in range(pattern.shape[1]):
        want = np.max([pattern[:, t - k] for k in range(3) if t - k >= 0], axis=0)
        np.testing.assert_array_equal(got[t], want)


def test_coincidence_with_zero_keep_forgets_old_spikes():
    # keep = [1, 0, 0]: only this step's spikes pass
    pattern = random_pattern(3)
    got = received(pattern, window=3, kernel="coincidence", keep=(1.0, 0.0, 0.0))
    np.testing.assert_array_equal(got, pattern.transpose(1, 0, 2))


def test_nonlinearity_and_threshold_quantiser_after_the_kernel():
    pattern = random_pattern(4)
    rate = received(pattern, window=2, kernel="rate")
    sig = received(pattern, window=2, kernel="rate", nonlinearity="sigmoid")
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-rate.astype(np.float64))), rtol=RTOL)
    q = received(pattern, window=2, kernel="rate", quantiser="threshold", theta=0.75)
    np.testing.assert_array_equal(q, (rate >= 0.75).astype(np.float32))
    fp = received(pattern, window=3, kernel="rate", quantiser="fixed_point", bits=2)
    np.testing.assert_array_equal(fp, np.round(received(pattern, window=3, kernel="rate") * 4) / 4)
