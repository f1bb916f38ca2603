"""Synapses: connection patterns per sample (against brute force), delays (hand-made trace)."""

import numpy as np
import pytest
from brian2 import ms

from hnnbio.errors import ModelSpecError
from hnnbio.hnn import HNN, Input, Population, Simulation, Synapse

B = 3  # samples: every pattern is repeated in each sample's block and never crosses blocks


def silent(name, size, **kwargs):
    return Population(name, size, equations="v : 1", threshold="False", reset="", **kwargs)


def connections(connect, n_pre=4, n_post=5, seed=0, drop=None):
    """The (i, j) group indices of a synapse built by the engine, as a set."""
    pre_kwargs = {}
    inputs, values = [], None
    if drop is not None:
        pre_kwargs = dict(input="drive", input_variable="x", drop_undriven=True)
        inputs, values = [Input("drive", n_pre)], drop
    pre = Population("pre", n_pre, equations="v : 1\nx : 1", threshold="False", reset="",
                     **pre_kwargs)
    graph = HNN("c", inputs=inputs, populations=[pre, silent("post", n_post)],
                synapses=[Synapse("s", "pre", "post", on_pre="v_post += 1", connect=connect)])
    sim = Simulation(graph, values, n_samples=B, seed=seed)
    syn = sim.synapses["s"]
    return set(zip(np.asarray(syn.i).tolist(), np.asarray(syn.j).tolist(), strict=True)), sim


def brute_force(local, n_pre, n_post):
    """The sample's pattern ``local`` (pairs of neuron indices) repeated in every sample."""
    return {(b * n_pre + i, b * n_post + j) for b in range(B) for i, j in local}


def test_one_to_one():
    got, _ = connections("one_to_one", 4, 4)
    assert got == brute_force([(k, k) for k in range(4)], 4, 4)


def test_all_to_all():
    got, _ = connections("all_to_all", 4, 5)
    assert got == brute_force([(i, j) for i in range(4) for j in range(5)], 4, 5)


def test_explicit_pairs():
    pairs = [(0, 4), (3, 0), (1, 1), (3, 4)]
    got, _ = connections({"i": [p[0] for p in pairs], "j": [p[1] for p in pairs]}, 4, 5)
    assert got == brute_force(pairs, 4, 5)


def test_no_pair_at_all_builds_and_runs():
    # p = 0 (or an empty list) draws nothing: an empty Synapses, not a Brian2 error
    for connect in ({"p": 0.0}, {"i": [], "j": []}):
        got, sim = connections(connect, 4, 5)
        assert got == set()
        assert sim.run(3).spikes["post"].step.size == 0


def test_probability_pattern_is_one_draw_shared_by_all_samples():
    n = 20
    got, _ = connections({"p": 0.5}, n, n)
    local = {(i % n, j % n) for i, j in got if i < n}
    assert got == brute_force(local, n, n)  # within samples only, the same in each
    # 400 independent pairs at p = 0.5: mean 200, sd 10; 5 sd is a false alarm of ~6e-7
    assert abs(len(local) - 200) <= 50
    assert connections({"p": 0.0}, n, n)[0] == set()
    assert connections({"p": 1.0}, 4, 5)[0] == connections("all_to_all", 4, 5)[0]
    assert connections({"p": 0.5}, n, n, seed=1)[0] != got  # drawn from the seed


def test_patterns_follow_dropped_neurons():
    # pre neurons 1 and 3 of each sample are undriven and not built; group index k of pre is
    # the k-th driven flat index (0, 2 of each sample); their connections stay.
    drive = np.tile([1.0, 0.0, 1.0, 0.0], (B, 1))
    got, sim = connections("all_to_all", 4, 5, drop=drive)
    driven = np.flatnonzero(drive.ravel())
    expected = {(int(np.searchsorted(driven, b * 4 + i)), b * 5 + j)
                for b in range(B) for i in (0, 2) for j in range(5)}
    assert got == expected
    assert sim.populations["pre"].group.N == 2 * B


def test_one_to_one_needs_equal_sizes():
    with pytest.raises(ModelSpecError, match="s: one_to_one"):
        connections("one_to_one", 4, 5)


def test_explicit_pairs_out_of_range():
    with pytest.raises(ModelSpecError, match="s: connect indices out of range"):
        connections({"i": [4], "j": [0]}, 4, 5)


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], "scalar"])
def test_per_connection_values_repeat_in_every_sample(values):
    # w has one value per connection of a sample; each sample's block gets the same w.
    w = 2.0 if values == "scalar" else values
    graph = HNN("w", populations=[silent("a", 3), silent("b", 3)],
                synapses=[Synapse("s", "a", "b", model="w : 1", on_pre="v_post += w",
                                  values={"w": w})])
    syn = Simulation(graph, n_samples=2).synapses["s"]
    expected = np.tile(np.broadcast_to(w, (3,)), 2)
    np.testing.assert_array_equal(np.asarray(syn.w)[np.argsort(np.asarray(syn.i))], expected)


@pytest.mark.parametrize("delay_steps", [0, 5])
def test_delay_delivers_after_delay_over_dt_steps(delay_steps):
    # The source fires once, at step 2. Brian2 delivers a spike of step s in the synapses slot
    # of step s + delay / dt (after thresholds), so the target's v, monitored at the start of
    # each step, is 0 up to step s + delay / dt and 1 from step s + delay / dt + 1 on:
    # v = [0]*(3 + d) + [1]*(12 - 3 - d). Exact: v only ever takes the values 0 and 1.
    dt = 0.1
    steps = 12
    pattern = np.zeros((1, steps, 1), dtype=np.float32)
    pattern[0, 2, 0] = 1.0
    src = Population("src", 1, equations="x : 1", threshold="x > 0.5", reset="", input="pat",
                     input_variable="x")
    graph = HNN("delay", inputs=[Input("pat", 1)], populations=[src, silent("dst", 1)],
                synapses=[Synapse("s", "src", "dst", on_pre="v_post += 1",
                                  delay=delay_steps * dt * ms if delay_steps else None)],
                dt_ms=dt, monitors=[{"name": "v", "kind": "state", "population": "dst",
                                     "variables": ["v"]}])
    result = Simulation(graph, pattern).run(steps)
    trace = np.asarray(result.monitors["v"].v[0])
    expected = np.array([0.0] * (3 + delay_steps) + [1.0] * (steps - 3 - delay_steps))
    np.testing.assert_array_equal(trace, expected)
    np.testing.assert_array_equal(result.spikes["src"].step, [2])
