"""Stochastic gated unit: Bernoulli probability, refractoriness, stationary rate p / (1 + r p)."""

import numpy as np
from brian2 import Network, SpikeMonitor, defaultclock

from hnnbio.neurons.stochastic import build_stochastic


def run_steps(group, steps):
    mon = SpikeMonitor(group)
    Network(group, mon).run(steps * defaultclock.dt)
    step = np.round(np.asarray(mon.t / defaultclock.dt)).astype(int)
    return np.asarray(mon.i[:]), step


def test_spike_probability_is_drive_times_gain():
    n, steps = 2000, 100
    group = build_stochastic(n, drive=1.0, gain=[0.1, 0.4] * (n // 2))
    index, _ = run_steps(group, steps)
    for k, p in enumerate((0.1, 0.4)):
        trials = n // 2 * steps
        count = np.sum(index % 2 == k)
        sigma = np.sqrt(trials * p * (1 - p))
        assert abs(count - trials * p) < 4 * sigma


def test_zero_drive_never_spikes():
    group = build_stochastic(500, drive=0.0, gain=1.0)
    index, _ = run_steps(group, 50)
    assert index.size == 0


def test_refractory_period_and_stationary_rate():
    # r = 4 silent steps: every interval is >= r + 1 steps; the interval is r + geometric(p), so
    # the stationary rate is p / (1 + r p). Counts of independent units after a burn-in of 40
    # steps: the mean must lie within 4 standard errors (estimated across units).
    n, steps, burn, r, p = 2000, 240, 40, 4, 0.3
    group = build_stochastic(n, drive=1.0, gain=p, refractory_steps=r)
    index, step = run_steps(group, steps)
    order = np.lexsort((step, index))
    index, step = index[order], step[order]
    same = index[1:] == index[:-1]
    assert np.min(np.diff(step)[same]) == r + 1
    late = step >= burn
    counts = np.bincount(index[late], minlength=n) / (steps - burn)
    expected = p / (1 + r * p)
    assert abs(counts.mean() - expected) < 4 * counts.std(ddof=1) / np.sqrt(n)
    # and the interval distribution: P(interval = r + 1) = p
    first = np.mean(np.diff(step)[same] == r + 1)
    n_int = same.sum()
    assert abs(first - p) < 4 * np.sqrt(p * (1 - p) / n_int)
