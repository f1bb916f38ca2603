"""The one private Brian2 attribute the engine reads: a group's spike space.

:func:`hnnbio.hnn.brian.step_spike_indices` must give, after each step, exactly the indices a
``SpikeMonitor`` records for that step (same values, same order), on a group whose spiking pattern
is known in closed form. No tolerance: spike indices are integers, the comparison is exact. If
Brian2 changes the layout of ``_spikespace``, this test fails loudly.
"""

import numpy as np
from brian2 import Network, NetworkOperation, NeuronGroup, SpikeMonitor, defaultclock, ms

from hnnbio.config import brian_target
from hnnbio.hnn.brian import step_spike_indices

N, STEPS = 7, 12


def expected_pattern(step: int) -> np.ndarray:
    """Neuron i fires at step s iff (i * s) % 5 == 1: some steps silent, some with several."""
    return np.array([i for i in range(N) if (i * step) % 5 == 1], dtype=np.int64)


def test_spike_space_matches_spike_monitor():
    with brian_target():
        group = NeuronGroup(N, "v : 1", threshold="(i * timestep(t, dt)) % 5 == 1", reset="",
                            dt=defaultclock.dt)
        monitor = SpikeMonitor(group)
        seen = []
        op = NetworkOperation(lambda: seen.append(np.array(step_spike_indices(group))),
                              when="end")
        Network(group, monitor, op).run(STEPS * defaultclock.dt)
    assert len(seen) == STEPS
    steps = np.round(np.asarray(monitor.t / defaultclock.dt)).astype(int)
    indices = np.asarray(monitor.i)
    silent = crowded = 0
    for s in range(STEPS):
        by_monitor = indices[steps == s]
        np.testing.assert_array_equal(seen[s], by_monitor)  # same indices, same order
        np.testing.assert_array_equal(np.sort(seen[s]), expected_pattern(s))
        silent += seen[s].size == 0
        crowded += seen[s].size >= 2
    assert silent > 0 and crowded > 0  # the pattern has empty and crowded steps


def test_spike_space_is_empty_without_spikes():
    with brian_target():
        group = NeuronGroup(3, "v : 1", threshold="False", reset="", dt=0.1 * ms)
        seen = []
        op = NetworkOperation(lambda: seen.append(step_spike_indices(group).size), when="end",
                              dt=0.1 * ms)
        Network(group, op).run(5 * 0.1 * ms)
    assert seen == [0] * 5
