"""LIF against theory: the analytic f-I curve and the exact subthreshold exponential."""

import numpy as np
import pytest
from brian2 import Mohm, Network, SpikeMonitor, StateMonitor, ms, mV, nA

from hnnbio.neurons.lif import build_lif


def analytic_rate(i, r=100 * Mohm, tau=10 * ms, t_ref=2 * ms, v_rest=-70 * mV, v_th=-50 * mV):
    """f(I) = 1 / (t_ref + tau ln(R I / (R I - (v_th - v_reset)))) with v_reset = v_rest, in Hz."""
    ri = float(r * i / mV)
    gap = float((v_th - v_rest) / mV)
    return 1.0 / (float(t_ref / ms) * 1e-3 + float(tau / ms) * 1e-3 * np.log(ri / (ri - gap)))


def test_rate_matches_analytic_f_i_curve():
    # dt = 0.02 ms: a spike is detected at the first step after the crossing and the clamp ends
    # on the step grid, so each simulated interval differs from the analytic one by less than one
    # step; with intervals >= 4.2 ms (1 nA) that is < 0.5 %, well inside the 2 % asked for.
    currents = np.array([0.22, 0.25, 0.3, 0.4, 0.6, 1.0]) * nA
    group = build_lif(len(currents), i_bias=currents, dt=0.02 * ms)
    mon = SpikeMonitor(group)
    Network(group, mon).run(300 * ms)
    trains = mon.spike_trains()
    for k, current in enumerate(currents):
        t = np.asarray(trains[k] / ms)
        assert t.size >= 10
        measured = 1000.0 / np.mean(np.diff(t))
        expected = analytic_rate(current)
        assert measured == pytest.approx(expected, rel=0.02), float(current / nA)


def test_below_rheobase_never_fires():
    # R I = 19 mV < v_threshold - v_reset = 20 mV: v approaches -51 mV and never crosses.
    group = build_lif(1, i_bias=0.19 * nA)
    mon = SpikeMonitor(group)
    Network(group, mon).run(200 * ms)
    assert mon.num_spikes == 0


def test_subthreshold_step_response_is_the_exact_exponential():
    group = build_lif(2, i_bias=[0.1, 0.15] * nA, tau_mem=[10, 25] * ms)
    mon = StateMonitor(group, "v", record=True)
    Network(group, mon).run(50 * ms)
    t = np.asarray(mon.t / ms)
    for k, (ri, tau) in enumerate([(10.0, 10.0), (15.0, 25.0)]):
        expected = -70.0 + ri * (1 - np.exp(-t / tau))
        np.testing.assert_allclose(np.asarray(mon.v[k] / mV), expected, rtol=0, atol=1e-9)


def test_synaptic_jump_decays_exponentially():
    group = build_lif(1, tau_syn=4 * ms)
    group.i_syn = 0.5 * nA
    mon = StateMonitor(group, "i_syn", record=0)
    Network(group, mon).run(20 * ms)
    expected = 0.5 * np.exp(-np.asarray(mon.t / ms) / 4.0)
    np.testing.assert_allclose(np.asarray(mon.i_syn[0] / nA), expected, rtol=1e-9)
