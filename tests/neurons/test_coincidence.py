"""Coincidence detector: k inputs within the window fire, k - 1 or k spread beyond it do not."""

import numpy as np
import pytest
from brian2 import Network, SpikeGeneratorGroup, SpikeMonitor, ms

from hnnbio.neurons.coincidence import build_coincidence, connect_coincidence

# k = 3, window = 4 ms, dt = 1 ms: the window holds the inputs of the last 4 steps. The detector
# sees an input one step after it arrives, so it fires one step after the k-th input.
CASES = [
    # input steps, expected output steps
    ([0, 1, 2], [3]),                 # 3 inputs within 3 steps
    ([0, 0, 3], [4]),                 # 3 inputs, span 3 steps < window
    ([5, 5, 5], [6]),                 # all at once
    ([0, 1], []),                     # k - 1 inputs
    ([0, 2, 4], []),                  # span 4 ms = window: the first has left when the third comes
    ([0, 5, 10], []),                 # spread far beyond the window
    ([0, 1, 2, 3], [3]),              # k + 1 within the window: one coincidence, one spike
    ([0, 1, 2, 10, 11, 12], [3, 13]),  # two separate coincidences
    ([0, 1, 5, 6], []),               # two pairs, never three within the window
]


@pytest.mark.parametrize("inputs, expected", CASES)
def test_coincidence_table(inputs, expected):
    n = len(inputs)
    source = SpikeGeneratorGroup(n, np.arange(n), np.array(inputs) * ms, dt=1 * ms)
    detector = build_coincidence(1, k_inputs=3, window=4 * ms, dt=1 * ms)
    syn = connect_coincidence(source, detector, i=np.arange(n), j=np.zeros(n, dtype=int))
    mon = SpikeMonitor(detector)
    Network(source, detector, syn, mon).run(20 * ms)
    assert np.round(np.asarray(mon.t / ms)).astype(int).tolist() == expected


def test_threshold_is_midway_between_k_minus_one_and_k_inputs():
    from brian2 import mV

    from hnnbio.neurons.coincidence import CoincidenceParams

    p = CoincidenceParams(k_inputs=4, w_in=2 * mV)
    assert float(p.v_threshold / mV) == pytest.approx(7.0)


def test_per_neuron_k():
    # Detector 0 needs 2, detector 1 needs 3 inputs within 4 steps; both see the same 2 inputs.
    source = SpikeGeneratorGroup(2, [0, 1], [0, 1] * ms, dt=1 * ms)
    detector = build_coincidence(2, k_inputs=[2, 3], window=4 * ms, dt=1 * ms)
    syn = connect_coincidence(source, detector, i=[0, 1, 0, 1], j=[0, 0, 1, 1])
    mon = SpikeMonitor(detector)
    Network(source, detector, syn, mon).run(10 * ms)
    assert mon.count[:].tolist() == [1, 0]
