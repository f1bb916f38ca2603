"""Float vs fixed point: one LIF layer on the chip's integer LIF primitive against Brian2
(float64, exact integration, numpy target): >= 95% of Brian2's spikes have an emulator spike
within one step."""

import math

import numpy as np
import pytest

from hnnbio.chip import primitives as P
from hnnbio.chip.quantize import lif_registers
from hnnbio.errors import ParameterError

pytestmark = pytest.mark.emulator


def brian2_lif(currents, tau_ms, n_steps):
    import brian2 as b2

    from hnnbio.config import use_target

    use_target()
    group = b2.NeuronGroup(len(currents), "dv/dt = (drive - v) / tau : 1\ndrive : 1 (constant)",
                           threshold="v > 1", reset="v = 0", method="exact", dt=1 * b2.ms,
                           namespace={"tau": tau_ms * b2.ms})
    group.drive = currents
    monitor = b2.SpikeMonitor(group)
    net = b2.Network(group, monitor)
    net.run(n_steps * b2.ms)
    steps = np.rint(np.asarray(monitor.t / b2.ms)).astype(int)
    return np.asarray(monitor.i), steps


def test_lif_layer_matches_brian2_within_one_step():
    alpha = 240
    tau_ms = -1.0 / math.log(alpha / 256)  # 15.5 ms: the leak register holds it exactly
    regs = lif_registers(tau_ms, 1.0)
    assert regs["alpha"] == alpha and abs(regs["tau_effective_ms"] - tau_ms) < 1e-9
    currents = np.linspace(1.05, 4.0, 40)
    n_steps = 300
    b_index, b_step = brian2_lif(currents, tau_ms, n_steps)
    drive = np.rint(currents * regs["input_gain"]).astype(np.int64)
    v = np.zeros(len(currents), dtype=np.int64)
    ref = np.zeros_like(v)
    e_index, e_step = [], []
    for t in range(n_steps):
        v, ref, spikes = P.lif_step(v, ref, drive, alpha=regs["alpha"], v_leak=0,
                                    v_threshold=regs["v_threshold"], reset_mode="value",
                                    v_reset=regs["v_reset"])
        for i in np.flatnonzero(spikes):
            e_index.append(i)
            e_step.append(t)
    e_index, e_step = np.array(e_index), np.array(e_step)
    assert b_step.size > 300
    matched = 0
    for i in range(len(currents)):
        mine = list(e_step[e_index == i])
        for t in b_step[b_index == i]:
            close = [s for s in mine if abs(s - t) <= 1]
            if close:
                matched += 1
                mine.remove(close[0])
    print(f"matched {matched} of {b_step.size} Brian2 spikes, emulator {e_step.size}")
    assert matched / b_step.size >= 0.95
    assert abs(e_step.size - b_step.size) <= 0.05 * b_step.size


def test_lif_registers_rejects_nonsense():
    with pytest.raises(ParameterError, match="tau_mem_ms"):
        lif_registers(-1.0, 1.0)
    with pytest.raises(ParameterError, match="tau_mem_ms"):
        lif_registers(0.1, 1.0)  # alpha rounds to 0: no memory left
    with pytest.raises(ParameterError, match="scale_bits"):
        lif_registers(10.0, 1.0, scale_bits=30)
