"""Serial, parallel and feedback graphs: each runs and a property checked by hand holds.

All networks here are exact on 0/1 values (identity, 1 - x, concatenation), so every check is an
exact comparison of spikes or received values.
"""

import numpy as np
import torch

from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, simulate


class Recorder(torch.nn.Module):
    """Identity that records each batch it is called with."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x.clone()


class Flip(torch.nn.Module):
    def forward(self, x):
        return 1.0 - x


def follower(name, size, **kwargs):
    """Fires exactly when its input x is 1 (no dynamics)."""
    return Population(name, size, equations="x : 1", threshold="x > 0.5", reset="", **kwargs)


def pattern(shape, seed, p=0.3):
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)


def spike_array(result, name, n_samples, steps, size):
    s = result.spikes[name]
    out = np.zeros((n_samples, steps, size), dtype=np.float32)
    out[s.sample, s.step, s.neuron] = 1
    return out


def test_serial_population_unit_network_unit_population():
    # first follows the input; the network copies first's spikes of step t; the unit writes
    # them into second's x for step t + delay: second's spikes are first's, delay steps later.
    steps, delay = 12, 3
    cue = pattern((2, steps, 4), 0)
    graph = HNN("serial", inputs=[Input("cue", 4)],
                populations=[follower("first", 4, input="cue", input_variable="x"),
                             follower("second", 4)],
                networks=[Network("net", torch.nn.Identity(), inputs=("up",))],
                units=[HybridUnit("up", "first", "net"),
                       HybridUnit("down", "net", "second", kind="modulation", variable="x",
                                  delay_steps=delay)])
    result = simulate(graph, cue, steps=steps)
    first = spike_array(result, "first", 2, steps, 4)
    second = spike_array(result, "second", 2, steps, 4)
    np.testing.assert_array_equal(first, cue)
    np.testing.assert_array_equal(second[:, delay:], first[:, :-delay])
    assert not second[:, :delay].any()


def test_parallel_inputs_are_concatenated_in_inputs_order():
    # two populations (sizes 2 and 3) and the raw input into one network, listed b, cue, a:
    # the network sees [spikes of b | cue of this step | spikes of a]
    steps = 8
    cue_a, cue_b = pattern((2, steps, 2), 1, 0.5), pattern((2, steps, 3), 2, 0.5)
    rec = Recorder()
    graph = HNN("parallel", inputs=[Input("ca", 2), Input("cb", 3)],
                populations=[follower("a", 2, input="ca", input_variable="x"),
                             follower("b", 3, input="cb", input_variable="x")],
                networks=[Network("net", rec, inputs=("ub", "ca", "ua"))],
                units=[HybridUnit("ua", "a", "net"), HybridUnit("ub", "b", "net")])
    rec.seen.clear()
    simulate(graph, {"ca": cue_a, "cb": cue_b}, steps=steps)
    seen = torch.stack(rec.seen).numpy()  # (steps, B, 3 + 2 + 2)
    want = np.concatenate([cue_b, cue_a, cue_a], axis=2).transpose(1, 0, 2)
    np.testing.assert_array_equal(seen, want)


def test_fed_network_reads_an_input_only_network_of_the_same_step():
    # net "pre" reads only the input (its value is made one step ahead); net "post" reads a
    # population and "pre": at the end of step t it must see pre's value of step t, i.e. the
    # cue of step t, exactly as if it read the cue itself
    steps = 7
    cue = pattern((1, steps, 2), 3, 0.5)
    rec = Recorder()
    graph = HNN("mixed", inputs=[Input("cue", 2)],
                populations=[follower("pop", 2, input="cue", input_variable="x")],
                networks=[Network("pre", torch.nn.Identity(), inputs=("cue",)),
                          Network("post", rec, inputs=("u", "pre", "cue"))],
                units=[HybridUnit("u", "pop", "post")])
    rec.seen.clear()
    simulate(graph, cue, steps=steps)
    seen = torch.stack(rec.seen).numpy()[:, 0]  # (steps, 6)
    np.testing.assert_array_equal(seen[:, 0:2], cue[0])  # the spikes of step t
    np.testing.assert_array_equal(seen[:, 2:4], cue[0])  # pre's value of step t
    np.testing.assert_array_equal(seen[:, 4:6], cue[0])  # the cue of step t


def test_feedback_loop_oscillates_with_the_period_of_its_delay():
    # c = 1 - (own spikes delay steps ago), the neuron fires iff c = 1, starting at c = 1:
    # s[t] = 1 - s[t - d] with s = 1 for t < d, so s[t] = 1 iff (t // d) is even.
    steps = 12
    for delay in (1, 2, 3):
        graph = HNN("fb", populations=[Population("p", 3, equations="c : 1",
                                                  threshold="c > 0.5", reset="")],
                     networks=[Network("not", Flip(), inputs=("up",))],
                     units=[HybridUnit("up", "p", "not"),
                            HybridUnit("down", "not", "p", kind="modulation", variable="c",
                                       delay_steps=delay, initial="ones")])
        result = simulate(graph, steps=steps, n_samples=2)
        got = spike_array(result, "p", 2, steps, 3)
        want = np.array([(t // delay) % 2 == 0 for t in range(steps)], dtype=np.float32)
        np.testing.assert_array_equal(got, np.broadcast_to(want[None, :, None], got.shape))
