"""Dendritic-segment neuron: segment events and somatic spikes against hand-computed timings.

dt = 1 ms. One neuron with one proximal segment (theta 2, inputs 0, 1, 2) and one distal segment
(theta 2, inputs 3, 4); window 3 ms; w_proximal 10 mV, v_threshold 15 mV, tau_mem 20 ms. An input
pair at steps (a, a + 1) makes its segment's event at a + 2; a proximal event changes v in that
step and the soma is tested from the next one. A distal event at step m primes the soma for
t < m + plateau (plateau 20.5 ms: steps m + 1 .. m + 20, no tie with the clock).
"""

import math

import numpy as np
import pytest
from brian2 import Network, SpikeGeneratorGroup, SpikeMonitor, ms, mV

from hnnbio.errors import ParameterError
from hnnbio.neurons.segments import SegmentParams, build_segment_neuron, connect_segments

PROXIMAL, DISTAL = [0, 1], [3, 4]  # the two inputs of each segment that a pair uses


def run(proximal_pairs=(), distal_pairs=(), steps=60, **overrides):
    times, sources = [], []
    for pairs, inputs in ((proximal_pairs, PROXIMAL), (distal_pairs, DISTAL)):
        for a in pairs:
            times += [a, a + 1]
            sources += inputs
    settings = dict(window=3 * ms, plateau=20.5 * ms, w_proximal=10 * mV, v_threshold=15 * mV,
                    distal_shift=8 * mV, tau_mem=20 * ms)
    settings.update(overrides)
    neuron = build_segment_neuron(1, dt=1 * ms, **settings)
    source = SpikeGeneratorGroup(5, sources, np.array(times, dtype=float) * ms, dt=1 * ms)
    syn = connect_segments(source, neuron, i=[0, 1, 2, 3, 4], target=[0] * 5,
                           segment=[0, 0, 0, 1, 1])
    soma, segs = SpikeMonitor(neuron.soma), SpikeMonitor(neuron.segments)
    Network(source, syn, soma, segs, *neuron.objects).run(steps * ms)
    return steps_of(soma), list(zip(steps_of(segs), np.asarray(segs.i).tolist(), strict=True))


def steps_of(monitor) -> list:
    return np.round(np.asarray(monitor.t / ms)).astype(int).tolist()


def test_two_proximal_events_within_the_leak_fire_one_alone_does_not():
    # events at 2 and 12: v = 10 exp(-10/20) + 10 = 16.07 mV >= 15 after step 12 -> spike at 13
    assert 10 * math.exp(-10 / 20) + 10 >= 15
    spikes, events = run(proximal_pairs=[0, 10])
    assert events == [(2, 0), (12, 0)]
    assert spikes == [13]
    # events 30 steps apart: 10 exp(-1.5) + 10 = 12.2 mV < 15
    assert run(proximal_pairs=[0, 30])[0] == []
    assert run(proximal_pairs=[0])[0] == []


def test_a_distal_event_lowers_the_threshold_for_its_plateau():
    # distal event at 2 (plateau: t < 22.5 ms); proximal event at 7 -> v = 10 >= 15 - 8 -> 8
    spikes, events = run(proximal_pairs=[5], distal_pairs=[0])
    assert events == [(2, 1), (7, 0)]
    assert spikes == [8]
    assert run(proximal_pairs=[19], distal_pairs=[0])[0] == [22]  # event 21, tested at 22
    assert run(proximal_pairs=[20], distal_pairs=[0])[0] == []    # tested at 23: plateau over


@pytest.mark.parametrize("distal_step", [9, 12, 17, 20])
def test_a_plateau_of_whole_steps_ends_at_the_same_step_whatever_the_event_step(distal_step):
    # plateau 10 ms from a distal event at m: threshold lowered at m + 1 .. m + 9, never at
    # m + 10 (the tie t_{m+10} = t_m + 10 ms). Brian2's float clock alone would include m + 10
    # for m = 9 and 17 (9 * 0.001 + 0.01 > 0.019) and not for m = 12 and 20.
    a = distal_step - 2
    assert run(proximal_pairs=[a + 8], distal_pairs=[a], plateau=10 * ms)[0] == [a + 11]
    assert run(proximal_pairs=[a + 9], distal_pairs=[a], plateau=10 * ms)[0] == []


def test_distal_events_alone_never_fire():
    spikes, events = run(distal_pairs=[0, 5, 10, 15])
    assert [e for e, _ in events] == [2, 7, 12, 17]
    assert spikes == []


def test_gain_mode_raises_the_proximal_drive_during_the_plateau():
    # distal_gain 0.6: one proximal event adds 16 mV during the plateau, 10 mV outside it
    assert run(proximal_pairs=[5], distal_pairs=[0], distal_shift=0 * mV, distal_gain=0.6)[0] \
        == [8]
    assert run(proximal_pairs=[5], distal_shift=0 * mV, distal_gain=0.6)[0] == []


def test_a_segment_needs_theta_inputs_within_its_window():
    # inputs 0 and 1 three steps apart: the first has left the 3 ms window when the second comes
    neuron = build_segment_neuron(1, dt=1 * ms, window=3 * ms)
    source = SpikeGeneratorGroup(3, [0, 1, 0, 2], [0, 3, 10, 11] * ms, dt=1 * ms)
    syn = connect_segments(source, neuron, i=[0, 1, 2], target=[0, 0, 0], segment=[0, 0, 0])
    mon = SpikeMonitor(neuron.segments)
    Network(source, syn, mon, *neuron.objects).run(20 * ms)
    assert np.round(np.asarray(mon.t / ms)).astype(int).tolist() == [12]


def test_segment_indices_of_a_population():
    neuron = build_segment_neuron(3, n_proximal=2, n_distal=1)
    assert len(neuron.segments) == 9 and len(neuron.soma) == 3
    assert neuron.segment_index([0, 1, 2], [0, 2, 1]).tolist() == [0, 5, 7]
    # proximal segments feed v, distal segments the plateau: 6 and 3 pathways
    assert len(neuron.proximal_events) == 6 and len(neuron.distal_events) == 3
    assert sorted(np.asarray(neuron.distal_events.i[:]).tolist()) == [2, 5, 8]


@pytest.mark.parametrize("overrides, name", [
    (dict(tau_mem=-5 * ms), "tau_mem"),
    (dict(v_threshold=5 * mV, v_reset=10 * mV), "v_reset"),
    (dict(distal_shift=20 * mV), "distal_shift"),
    (dict(theta_proximal=0), "theta_proximal"),
    (dict(n_proximal=0), "n_proximal"),
    (dict(window=2 * mV), "window"),
    (dict(distal_gain=-1.0), "distal_gain"),
    (dict(n_distal=1.5), "n_distal"),
])
def test_parameters_outside_their_range_are_refused_by_name(overrides, name):
    with pytest.raises(ParameterError, match=f"^{name}:"):
        SegmentParams(**overrides)


def test_theta_above_a_segments_synapse_count_is_refused():
    neuron = build_segment_neuron(1, theta_proximal=3)
    source = SpikeGeneratorGroup(2, [], [] * ms)
    with pytest.raises(ParameterError, match="^theta_proximal: 3 is greater than the 2 synapses"):
        connect_segments(source, neuron, i=[0, 1], target=[0, 0], segment=[0, 0])
    with pytest.raises(ParameterError, match="^segment:"):
        connect_segments(source, neuron, i=[0, 1], target=[0, 0], segment=[0, 2])
