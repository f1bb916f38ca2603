"""Dendritic-segment neurons on the chip (hnnbio.chip.segments) against hand-computed timings and
Brian2.

The hand-computed cases are those of tests/neurons/test_segments.py (dt = 1 ms; one neuron, a
proximal segment of theta 2 on inputs 0, 1, 2 and a distal one of theta 2 on inputs 3, 4;
window 3 ms; w_proximal 10 mV, v_threshold 15 mV, tau_mem 20 ms, distal_shift 8 mV): an input
pair at steps (a, a + 1) makes its segment's event at a + 2, the soma is tested from the next
step, a distal event at m lowers the threshold at m + 1 .. m + p (p the whole steps below the
plateau).
"""

import math

import numpy as np
import pytest
from brian2 import ms, mV

from hnnbio.chip.segments import compile_segments, run_segments_on_chip
from hnnbio.errors import DataError, DesignRuleError
from hnnbio.neurons.segments import SegmentParams

PROXIMAL, DISTAL = [0, 1], [3, 4]
CHANNEL, SEGMENT = [0, 1, 2, 3, 4], [0, 0, 0, 1, 1]
STEPS = 60


def params(**overrides):
    settings = dict(n_proximal=1, n_distal=1, window=3 * ms, plateau=20.5 * ms,
                    w_proximal=10 * mV, v_threshold=15 * mV, distal_shift=8 * mV,
                    tau_mem=20 * ms)
    settings.update(overrides)
    return SegmentParams(**settings)


def chip_run(proximal_pairs=(), distal_pairs=(), inputs=(), **overrides):
    x = np.zeros((1, STEPS, 5), dtype=np.int8)
    for pairs, lines in ((proximal_pairs, PROXIMAL), (distal_pairs, DISTAL)):
        for a in pairs:
            x[0, a, lines[0]] = x[0, a + 1, lines[1]] = 1
    for step, line in inputs:
        x[0, step, line] = 1
    compiled = compile_segments(CHANNEL, [0] * 5, SEGMENT, [[2, 2]], 1, params(**overrides),
                                n_channels=5, steps=STEPS)
    res = run_segments_on_chip(compiled, x)
    soma = np.flatnonzero(res["soma"][0, :, 0]).tolist()
    events = sorted([(int(t), 0) for t in np.flatnonzero(res["proximal"][0, :, 0])]
                    + [(int(t), 1) for t in np.flatnonzero(res["distal"][0, :, 0])])
    return soma, events


def test_two_proximal_events_within_the_leak_fire_one_alone_does_not():
    # v = 10 exp(-10/20) + 10 = 16.07 mV >= 15 after the event at 12 -> spike at 13
    assert chip_run(proximal_pairs=[0, 10]) == ([13], [(2, 0), (12, 0)])
    assert 10 * math.exp(-1.5) + 10 < 15
    assert chip_run(proximal_pairs=[0, 30])[0] == []
    assert chip_run(proximal_pairs=[0])[0] == []


def test_a_segment_fires_once_per_crossing_of_its_theta():
    # inputs 0, 1, 2 at steps 0, 1, 2 (window 3): count 2, 3, 2 at steps 2, 3, 4, then 1 at 5:
    # one event at 2; a new pair at 10 crosses again -> a second event at 12
    _, events = chip_run(inputs=[(0, 0), (1, 1), (2, 2), (10, 0), (11, 2)])
    assert events == [(2, 0), (12, 0)]
    # the same two inputs 3 steps apart never coincide within the window
    assert chip_run(inputs=[(0, 0), (3, 1)])[1] == []


def test_a_distal_event_lowers_the_threshold_for_its_plateau():
    # distal event at 2 (plateau 20.5 ms: steps 3 .. 22); one proximal event (10 mV) then fires
    assert chip_run(proximal_pairs=[5], distal_pairs=[0]) == ([8], [(2, 1), (7, 0)])
    assert chip_run(proximal_pairs=[19], distal_pairs=[0])[0] == [22]
    assert chip_run(proximal_pairs=[20], distal_pairs=[0])[0] == []
    assert chip_run(distal_pairs=[0, 5, 10, 15])[0] == []  # distal events alone never fire


@pytest.mark.parametrize("distal_step", [9, 12, 17])
def test_a_plateau_of_whole_steps_ends_before_its_last_tie(distal_step):
    a = distal_step - 2  # plateau 10 ms: lowered at m + 1 .. m + 9
    assert chip_run(proximal_pairs=[a + 8], distal_pairs=[a], plateau=10 * ms)[0] == [a + 11]
    assert chip_run(proximal_pairs=[a + 9], distal_pairs=[a], plateau=10 * ms)[0] == []


def three_proximal_run(pairs, without_correction=False, **overrides):
    """Lines 2s, 2s + 1 -> segment s (0, 1, 2 proximal, 3 distal; theta 2 each); ``pairs`` =
    [(segment, a)]: its two lines at a, a + 1 (event at a + 2)."""
    x = np.zeros((1, STEPS, 8), dtype=np.int8)
    for seg, a in pairs:
        x[0, a, 2 * seg] = x[0, a + 1, 2 * seg + 1] = 1
    compiled = compile_segments(range(8), [0] * 8, np.repeat(np.arange(4), 2), [[2, 2, 2, 2]],
                                1, params(n_proximal=3, **overrides), n_channels=8, steps=STEPS)
    if without_correction:  # the soma's last rows: R = P[k-1] and F[k-2], as many as P[k-1]'s
        weight = compiled.program.arrays["c2.soma.weight"]
        weight[-int(np.sum(weight[:, 0] < 0)):] = 0
    return np.flatnonzero(run_segments_on_chip(compiled, x)["soma"][0, :, 0]).tolist()


def test_the_reset_drops_the_events_of_the_spike_step():
    # events at 2, 3: u[4] = a (10 a + 10) = 18.6 >= 15 (a = e^-1/20) -> spike at 4; Brian2
    # resets after the synapses, so segment 2's event at 4 is lost and segment 0's event at 7
    # alone (9.5 mV) does not fire; kept, it would have: a (10 a^3 + 10) = 17.7 at 8
    a = math.exp(-1 / 20)
    assert a * (10 * a + 10) >= 15 and a * (10 * a ** 3 + 10) >= 15 > 10 * a
    assert three_proximal_run([(0, 0), (1, 1), (2, 2), (0, 5)]) == [4]
    assert three_proximal_run([(0, 0), (1, 1), (0, 5)]) == [4]


def test_a_spike_keeps_the_lowered_threshold_of_its_plateau():
    # distal event at 2 (threshold 7 mV until step 22): events at 5 and 12 each fire alone
    # (9.5 >= 7) at 6 and 13, so after the reset the shifted membrane has its plateau term
    # back (without it: 9.5 + 8 - 8 a^7 = 11.9 < 15 at 13); without the distal event only the
    # sum fires: a (10 a^7 + 10) = 16.2 at 13
    assert three_proximal_run([(3, 0), (0, 3), (1, 10)]) == [6, 13]
    assert three_proximal_run([(3, 0), (0, 3), (1, 10)], without_correction=True) == [6]
    assert three_proximal_run([(0, 3), (1, 10)]) == [13]


def test_the_shipped_network_matches_brian2_event_for_event():
    """neutnn-digits on 20 evaluation digits: every segment event at the same step as Brian2's,
    somatic spike counts equal for >= 99% of the neurons, the same predictions."""
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments import neutnn as N

    graph, settings, design = N.read_model(N.Path("models/neutnn-digits.toml"))
    w = N.load_weights(graph, settings, design)
    nets = N.networks_of(w["prototypes"], w["labels"], w["mean_usage"], design)
    grey, _ = load_digits("eval")
    grey, b, steps = grey[:20], 20, 60
    structure = nets.full
    theta = N.thetas(structure, design)
    idx, step = N.encode(grey, steps, design, np.random.default_rng([0, 0]))
    ref = N.simulate(structure, theta, design, b, idx, step, steps)
    compiled = N.compile_network(structure, design, steps, "t")
    x = np.zeros((b, steps, N.N_CHANNELS), dtype=np.int8)
    x[idx // N.N_CHANNELS, step, idx % N.N_CHANNELS] = 1
    chip = run_segments_on_chip(compiled, x)
    n, n_seg = structure.n_neurons, structure.n_segments
    seg = np.zeros((b, steps, n * n_seg), dtype=np.int8)
    sample, index = np.divmod(ref["segment_index"], n * n_seg)
    seg[sample, ref["segment_steps"], index] = 1
    seg = seg.reshape(b, steps, n, n_seg)
    assert seg.sum() > 1000
    assert np.array_equal(seg[..., :design.n_proximal].reshape(b, steps, -1), chip["proximal"])
    assert np.array_equal(seg[..., design.n_proximal:].reshape(b, steps, -1), chip["distal"])
    assert ref["soma"].sum() > 100
    assert np.mean(chip["soma_counts"] == ref["soma"]) >= 0.99
    pred = N.readout(ref["soma"], ref["proximal"], nets.labels)
    assert np.array_equal(N.readout(chip["soma_counts"], chip["proximal_counts"], nets.labels),
                          pred)


def test_removing_a_synapse_from_the_program_changes_the_events():
    """Mutation: zero one count weight (line 0 onto the proximal segment) -> the pair (0, 1)
    no longer reaches theta, the pair (1, 2) still does."""
    compiled = compile_segments(CHANNEL, [0] * 5, SEGMENT, [[2, 2]], 1, params(), n_channels=5,
                                steps=STEPS)
    x = np.zeros((1, STEPS, 5), dtype=np.int8)
    x[0, 0, 0] = x[0, 1, 1] = x[0, 20, 1] = x[0, 21, 2] = 1
    assert np.flatnonzero(run_segments_on_chip(compiled, x)["proximal"][0, :, 0]).tolist() \
        == [2, 22]
    weight = compiled.program.arrays["c0.count.weight"]
    lines = weight.shape[0] // 2  # the core reads lines 0, 1, 2 (its segment's)
    assert lines == 3
    weight[[0, lines], 0] = 0  # line 0's +1 (delay 1) and -1 (delay W + 1) rows
    assert np.flatnonzero(run_segments_on_chip(compiled, x)["proximal"][0, :, 0]).tolist() \
        == [22]


@pytest.mark.parametrize("overrides, rule, word", [
    (dict(distal_gain=0.5), "segment_neuron", "distal_gain"),
    (dict(refractory=2 * ms), "segment_neuron", "refractory"),
    (dict(window=2.5 * ms), "segment_neuron", "window"),
])
def test_what_the_program_cannot_compute_is_refused_by_name(overrides, rule, word):
    with pytest.raises(DesignRuleError) as info:
        compile_segments(CHANNEL, [0] * 5, SEGMENT, [[2, 2]], 1, params(**overrides),
                         n_channels=5, steps=STEPS)
    assert info.value.rule == rule and word in str(info.value) and "\n" not in str(info.value)


def test_too_many_input_lines_are_refused_and_bad_spikes_named():
    with pytest.raises(DesignRuleError) as info:
        compile_segments([0], [0], [0], [[1, 1]], 1, params(), n_channels=200, steps=STEPS)
    assert info.value.rule == "fan_in"
    compiled = compile_segments(CHANNEL, [0] * 5, SEGMENT, [[2, 2]], 1, params(), n_channels=5,
                                steps=STEPS)
    for bad in (np.zeros((1, STEPS, 4)), np.full((1, STEPS, 5), 2), np.zeros((STEPS, 5))):
        with pytest.raises(DataError, match="spikes: expected"):
            run_segments_on_chip(compiled, bad)


def test_a_design_without_distal_segments_reports_no_distal_events():
    # the proximal segment alone (inputs 0, 1, 2): events at 2 and 12 fire the soma at 13, as in
    # the first test; the distal keys are there, empty, for every design
    compiled = compile_segments([0, 1, 2], [0] * 3, [0, 0, 0], [[2]], 1, params(n_distal=0),
                                n_channels=3, steps=STEPS)
    x = np.zeros((2, STEPS, 3), dtype=np.int8)
    x[0, [0, 1, 10, 11], [0, 1, 0, 1]] = 1
    res = run_segments_on_chip(compiled, x)
    assert np.flatnonzero(res["soma"][0, :, 0]).tolist() == [13]
    assert res["soma_counts"].tolist() == [[1], [0]]
    assert res["distal"].shape == (2, STEPS, 0)
    assert res["distal_counts"].tolist() == [[0], [0]]
