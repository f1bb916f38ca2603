"""The modulation unit of attention-digits (kind modulation, operation multiply, sigmoid F, delay
1, initial ones) against a hand-computed example: att = base * sigmoid(z) from step 1 on."""

import math

import numpy as np
import torch
from brian2 import ms, mV

from hnnbio.hnn import HNN, HybridUnit, Input, Network, Population
from hnnbio.hnn.engine import simulate

EQUATIONS = """
dv/dt = (v_drive * i_in * att - v) / tau_mem : volt
i_in : 1
att : 1
"""


def _graph(z, base):
    pop = Population("p", 2, equations=EQUATIONS, threshold="v > v_threshold",
                     reset="v = 0 * mV", method="exact",
                     namespace=dict(v_drive=80 * mV, tau_mem=5 * ms, v_threshold=1000 * mV),
                     params=dict(att=base), input="x", input_variable="i_in")
    const = torch.nn.Linear(2, 2)
    with torch.no_grad():
        const.weight.zero_()
        const.bias.copy_(torch.tensor(z))
    units = [HybridUnit("rate", source="p", target="net", window=1, kernel="rate"),
             HybridUnit("gate", source="net", target="p", kind="modulation", variable="att",
                        operation="multiply", nonlinearity="sigmoid", delay_steps=1,
                        initial="ones", record_steps=6)]
    return HNN("gate_test", inputs=[Input("x", 2)], populations=[pop],
               networks=[Network("net", const, inputs=["rate"])], units=units, dt_ms=1.0,
               monitors=[dict(name="v", kind="state", population="p", variables=["v"])])


def test_multiply_gate_by_hand():
    z, base, x = [0.5, -1.0], 2.0, np.array([[0.25, 0.5]])
    result = simulate(_graph(z, base), x, steps=6, seed=0)
    sig = [1 / (1 + math.exp(-zi)) for zi in z]
    applied = result.applied["gate"][0]  # (steps, 2): the multiplier's input y per step
    expected_att = np.array([[base * 1.0, base * 1.0]] + [[base * s for s in sig]] * 5)
    # the unit records y (after F); att = base * y
    assert np.allclose(base * applied, expected_att, rtol=1e-6)
    e = math.exp(-1.0 / 5.0)
    v = np.zeros(2)
    trace = result.monitors["v"].v / mV  # (2, steps): v at the start of each step
    for step in range(6):
        assert np.allclose(trace[:, step], v, rtol=1e-6, atol=1e-12)  # y is float32
        v_inf = 80.0 * x[0] * expected_att[step]
        v = v_inf * (1 - e) + v * e


def test_gate_lowers_the_drive_and_the_spikes():
    """With a threshold it can reach, a closed gate (z = -3) gives fewer spikes than an open one
    (z = +3): sigmoid(-3) * 80 mV * 1 = 3.8 mV stays below 20 mV, sigmoid(3) * 80 = 76 mV fires."""
    counts = []
    for z in ([3.0, 3.0], [-3.0, -3.0]):
        g = _graph(z, 1.0)
        import dataclasses

        pop = dataclasses.replace(g.populations[0], namespace={**g.populations[0].namespace,
                                                               "v_threshold": 20 * mV})
        g = dataclasses.replace(g, populations=[pop], monitors=[])
        counts.append(simulate(g, np.array([[1.0, 1.0]]), steps=40, seed=0)
                      .spike_counts()["p"].sum())
    assert counts[0] >= 15 and counts[1] <= 2  # closed: only the first step's spikes (att 1)
