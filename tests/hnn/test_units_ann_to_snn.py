"""ANN -> SNN hybrid units: the delay line, the write operations and ``every``, by hand.

Networks here output known values (the number of calls so far, a constant, the input); the
target variable is read by a StateMonitor, which records at the start of each step, i.e. the
value that applies during that step. Values are small integers or float32 products of two
numbers given in the test, compared exactly or to float32 rounding (rtol 1e-6).
"""

import numpy as np
import pytest
import torch

from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population, Simulation

RTOL = 1e-6  # float32 rounding of one product


class Counter(torch.nn.Module):
    """Returns the number of calls before this one, the same for every value: 0, 1, 2, ..."""

    def __init__(self, n_out):
        super().__init__()
        self.n_out, self.calls = n_out, 0

    def forward(self, x):
        y = torch.full((x.shape[0], self.n_out), float(self.calls))
        self.calls += 1
        return y


class Constant(torch.nn.Module):
    def __init__(self, values):
        super().__init__()
        self.values = torch.as_tensor(values, dtype=torch.float32)

    def forward(self, x):
        return self.values.expand(x.shape[0], -1).clone()


def loop_graph(net, size=2, every=1, **unit):
    """A population (never spiking, a variable ``c`` and ``a``) feeding ``net`` through a unit,
    ``net`` writing back into it: a network fed by a population (so delay_steps >= 1)."""
    pop = Population("pop", size, equations="c : 1\na : 1", threshold="False", reset="",
                     params={"a": 2.0})
    return HNN("loop", populations=[pop],
               networks=[Network("net", net, inputs=("read",), every=every)],
               units=[HybridUnit("read", "pop", "net"), HybridUnit("write", "net", "pop", **unit)],
               monitors=[{"name": "m", "kind": "state", "population": "pop",
                          "variables": ["c", "a"]}])


def trace(sim, steps, variable="c"):
    result = sim.run(steps)
    return np.asarray(getattr(result.monitors["m"], variable)), result


@pytest.mark.parametrize("delay", [1, 3])
def test_delay_line_of_a_fed_network(delay):
    # call k happens at the end of step k and returns k: the value made at step t applies at
    # step t + delay, so c[s] = s - delay from s = delay on, the initial value (-1) before
    net = Counter(2)
    graph = loop_graph(net, kind="modulation", variable="c", operation="set", delay_steps=delay,
                       initial=-1.0, record_steps=4)
    net.calls = 0
    steps = 8
    c, result = trace(Simulation(graph, n_samples=2), steps)
    want = np.array([-1.0 if s < delay else s - delay for s in range(steps)])
    np.testing.assert_array_equal(c, np.tile(want, (4, 1)))  # 2 samples x 2 neurons
    assert net.calls == steps
    # record_steps = 4: the values applied at the last 4 steps, (n_samples, 4, size)
    np.testing.assert_array_equal(result.applied["write"],
                                  np.broadcast_to(want[-4:, None], (2, 4, 2)))


def input_graph(delay, per_step_size=2, **unit):
    """A network fed by an Input only (identity), written into ``c`` of a population."""
    pop = Population("pop", per_step_size, equations="c : 1", threshold="False", reset="")
    return HNN("open", inputs=[Input("cue", per_step_size)], populations=[pop],
               networks=[Network("net", torch.nn.Identity(), inputs=("cue",))],
               units=[HybridUnit("write", "net", "pop", kind="modulation", variable="c",
                                 operation="set", delay_steps=delay, initial=-1.0, **unit)],
               monitors=[{"name": "m", "kind": "state", "population": "pop",
                          "variables": ["c"]}])


@pytest.mark.parametrize("delay", [0, 2])
def test_input_only_network_applies_after_delay_steps(delay):
    # the network's value for step t is made from the input of step t; it applies at t + delay:
    # with delay 0 in the same step (step 0 included), c[s] = cue[s - delay], initial before.
    steps = 6
    cue = np.arange(steps * 2, dtype=np.float32).reshape(1, steps, 2) + 10
    c, _ = trace(Simulation(input_graph(delay), cue), steps)
    want = np.full((steps, 2), -1.0)
    want[delay:] = cue[0, : steps - delay]
    np.testing.assert_array_equal(c.T, want)


def test_input_only_network_with_constant_input():
    cue = np.array([[3.0, 4.0]], dtype=np.float32)
    c, _ = trace(Simulation(input_graph(0), cue), 3)
    np.testing.assert_array_equal(c.T, [[3.0, 4.0]] * 3)


def test_operations_by_hand():
    # y = [0.5, 2] from the network (delay 1, initial 0), gain 3; c and a start at 0 and 2.
    y, gain, steps = [0.5, 2.0], 3.0, 5
    yv = np.array(y)
    cases = {
        # add: the value accumulates every step it applies (steps 1, 2, ...)
        ("transmission", "add", "c"): lambda s, base: base + gain * yv * s,
        # set: gain * y, gain * initial (0) at step 0
        ("modulation", "set", "c"): lambda s, base: gain * yv * (s >= 1),
        # multiply: base * gain * y (base 2 = the value of a when the run starts)
        ("modulation", "multiply", "a"): lambda s, base: base * gain * yv * (s >= 1),
        # shift: base - gain * y
        ("modulation", "shift", "a"): lambda s, base: base - gain * yv * (s >= 1),
    }
    for (kind, op, var), want in cases.items():
        graph = loop_graph(Constant(y), kind=kind, operation=op, variable=var, gain=gain)
        values, _ = trace(Simulation(graph), steps, var)
        base = {"c": 0.0, "a": 2.0}[var]
        expected = np.array([want(s, base) for s in range(steps)]).T
        np.testing.assert_allclose(values, expected, rtol=RTOL, err_msg=f"{op}")


def test_spikes_operation_with_certain_and_impossible_spikes():
    # y = 1: a Bernoulli draw always spikes, c += gain each step from step 1; y = 0 never
    graph = loop_graph(Constant([1.0, 0.0]), kind="transmission", operation="spikes",
                       variable="c", gain=0.5)
    c, _ = trace(Simulation(graph), 5)
    np.testing.assert_array_equal(c, [[0, 0.5, 1.0, 1.5, 2.0], [0] * 5])


def test_multiply_base_is_the_input_written_before_the_run():
    # base of multiply on the population's input variable: the input (not 0)
    pop = Population("pop", 2, equations="x : 1", threshold="False", reset="", input="cue",
                     input_variable="x")
    graph = HNN("b", inputs=[Input("cue", 2)], populations=[pop],
                networks=[Network("net", Constant([2.0, 3.0]), inputs=("cue",))],
                units=[HybridUnit("w", "net", "pop", kind="modulation", variable="x",
                                  operation="multiply", delay_steps=0)],
                monitors=[{"name": "m", "kind": "state", "population": "pop",
                           "variables": ["x"]}])
    x, _ = trace(Simulation(graph, np.array([[5.0, 7.0]])), 3, "x")
    np.testing.assert_array_equal(x.T, [[10.0, 21.0]] * 3)


@pytest.mark.parametrize("delay", [1, 2])
def test_every_k_steps_and_the_output_is_held(delay):
    # every = 3 over 10 steps: calls at the end of steps 0, 3, 6, 9 (4 calls), returning
    # 0, 1, 2, 3. Between calls the last output holds, so the value made at step t is
    # calls_before(t) - 1 = t // 3, applied at t + delay.
    net = Counter(2)
    graph = loop_graph(net, every=3, kind="modulation", variable="c", operation="set",
                       delay_steps=delay, initial=-1.0)
    net.calls = 0
    steps = 10
    c, _ = trace(Simulation(graph), steps)
    assert net.calls == 4
    want = [-1.0 if s < delay else (s - delay) // 3 for s in range(steps)]
    np.testing.assert_array_equal(c, [want, want])


def test_every_counts_calls_of_an_input_only_network():
    # made for step t from the input of step t: step 0's at build, step t + 1's at the end of
    # step t, so a run of 10 steps makes the values of steps 0 .. 10 (step 10's for a next
    # run); every = 2 calls it for steps 0, 2, 4, 6, 8, 10: 6 calls
    net = Counter(1)
    pop = Population("pop", 1, equations="c : 1", threshold="False", reset="")
    graph = HNN("e", inputs=[Input("cue", 1)], populations=[pop],
                networks=[Network("net", net, inputs=("cue",), every=2)],
                units=[HybridUnit("w", "net", "pop", kind="modulation", variable="c",
                                  delay_steps=0)])
    net.calls = 0
    Simulation(graph, np.zeros((1, 1))).run(10)
    assert net.calls == 6
