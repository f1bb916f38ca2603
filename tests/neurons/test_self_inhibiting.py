"""Self-inhibiting neurons: the published discrete update by hand; the autapse against theory."""

import numpy as np
import pytest
from brian2 import Mohm, Network, SpikeMonitor, defaultclock, ms, mV, nA

from hnnbio.neurons.self_inhibiting import build_self_inhibiting, build_self_inhibiting_discrete


def test_discrete_form_reproduces_hand_computed_sequence():
    # Neuron 0: leak 0.2, C 1, gamma 0.05, U_rest 0, theta 1. Neuron 1: leak 0.3, C 0.9,
    # gamma 0.1, U_rest 0.1, theta 0.8. Inputs I[t] change every step. By hand:
    # n0: t0 U=0.8*0+0.5=0.5; t1 0.4+0.5=0.9; t2 0.72+0.5=1.22 s=1; t3 reset ->0,
    #     U=0+1*(0.2-0.05)=0.15; t4 0.12+0.7=0.82; t5 0.656+0.5=1.156 s=1; t6 U=0+(0.5-0.05)=0.45
    # n1: t0 U=0.7*0.1+0.03+0.9*0.5=0.55; t1 0.385+0.03+0.45=0.865 s=1;
    #     t2 reset ->0.1: 0.07+0.03+0.9*(0.5-0.1)=0.46; t3 0.322+0.03+0.18=0.532;
    #     t4 0.3724+0.03+0.63=1.0324 s=1; t5 0.07+0.03+0.9*(0.5-0.1)=0.46;
    #     t6 0.322+0.03+0.45=0.802 s=1
    inputs = [0.5, 0.5, 0.5, 0.2, 0.7, 0.5, 0.5]
    v_expected = np.array([[0.5, 0.9, 1.22, 0.15, 0.82, 1.156, 0.45],
                           [0.55, 0.865, 0.46, 0.532, 1.0324, 0.46, 0.802]])
    s_expected = np.array([[0, 0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0, 1]])
    group = build_self_inhibiting_discrete(2, leak=[0.2, 0.3], gain=[1.0, 0.9], w_self=[0.05, 0.1],
                                           v_rest=[0.0, 0.1], v_threshold=[1.0, 0.8])
    spikes = SpikeMonitor(group)
    net = Network(group, spikes)
    v, s = [], []
    for value in inputs:
        group.i_in = value
        net.run(defaultclock.dt)
        v.append(np.array(group.v[:]))
        s.append(np.array(group.s[:]))
    np.testing.assert_allclose(np.array(v).T, v_expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.array(s).T, s_expected)
    steps = np.round(np.asarray(spikes.t / defaultclock.dt)).astype(int)
    pairs = sorted(zip(spikes.i[:].tolist(), steps.tolist(), strict=True))
    assert pairs == [(0, 2), (0, 5), (1, 1), (1, 4), (1, 6)]


def lif_interval(ri_mv, tau_ms, gap_mv=20.0):
    return tau_ms * np.log(ri_mv / (ri_mv - gap_mv))


def test_self_inhibition_lowers_rate_and_lengthens_later_intervals():
    # Neuron 0 has no autapse: a LIF without refractoriness, ISI = tau ln(RI / (RI - 20 mV)).
    # Neuron 1 has the autapse: its first interval is the same (no own spike before it), every
    # later one is longer, growing as i_self accumulates (tau_self = 50 ms >> ISI).
    group = build_self_inhibiting(2, i_bias=0.4 * nA, w_self=[0.0, 0.03] * nA, tau_self=50 * ms,
                                  dt=0.02 * ms)
    mon = SpikeMonitor(group)
    Network(group, mon).run(200 * ms)
    plain, inhibited = (np.asarray(mon.spike_trains()[k] / ms) for k in (0, 1))
    expected = lif_interval(40.0, 10.0)
    # one step of rounding per interval: 0.02 ms / 6.9 ms < 0.3 %
    assert np.diff(plain) == pytest.approx(expected, rel=0.01)
    assert inhibited[0] == pytest.approx(plain[0], abs=1e-9)
    assert inhibited.size < plain.size
    isi = np.diff(inhibited)
    assert isi[0] > expected * 1.01
    assert isi[-1] > isi[0] * 1.2
    assert np.all(np.diff(isi[:5]) > 0)


def test_heterogeneous_parameters_act_per_neuron():
    # One group, three membrane time constants and thresholds: each neuron's first spike time is
    # the LIF interval of its own parameters. Brian2 stamps a spike with the start time of the step
    # whose update crossed the threshold, so the stamp lies in [T - dt, T).
    taus = np.array([5.0, 10.0, 20.0])
    gaps = np.array([20.0, 15.0, 10.0])
    group = build_self_inhibiting(3, i_bias=0.3 * nA, tau_mem=taus * ms,
                                  v_threshold=(-70 + gaps) * mV, r_mem=100 * Mohm, dt=0.01 * ms)
    mon = SpikeMonitor(group)
    Network(group, mon).run(60 * ms)
    first = np.array([float(mon.spike_trains()[k][0] / ms) for k in range(3)])
    expected = taus * np.log(30.0 / (30.0 - gaps))
    assert np.all(first >= expected - 0.01 - 1e-9)
    assert np.all(first <= expected + 1e-9)
