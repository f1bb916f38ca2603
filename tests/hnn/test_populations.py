"""Populations against theory: f-I rates, refractory steps, drop_undriven, per-sample blocks."""

import math

import numpy as np
import pytest
from brian2 import Mohm, ms, mV, nA

from hnnbio.hnn import HNN, Input, Population, Simulation, Synapse, simulate

DT_MS = 0.1  # small step: the discretisation bound below is one step, 0.1 ms


def intervals(spikes, n_samples, size) -> dict:
    """Inter-spike intervals in steps per (sample, neuron)."""
    out = {}
    for b in range(n_samples):
        for n in range(size):
            steps = np.sort(spikes.step[(spikes.sample == b) & (spikes.neuron == n)])
            out[b, n] = np.diff(steps)
    return out


def test_lif_fires_at_the_analytic_fi_rate():
    # f(I) = 1 / (t_ref + tau ln(RI / (RI - (v_th - v_reset)))), hnnbio/neurons/lif.py.
    # Tolerance: exponential Euler is exact for v under a constant current and t_ref is a whole
    # number of steps, so the only error is that a spike is seen on the step grid: each
    # interval is within one step of the analytic period, |ISI - T| <= dt.
    currents = np.array([0.25, 0.3, 0.5])  # nA; R = 100 Mohm, threshold 20 mV above reset
    tau, t_ref, r_mohm, gap_mv = 10.0, 2.0, 100.0, 20.0
    pop = Population("exc", 3, model="lif",
                     params={"i_bias": currents * nA, "tau_mem": tau * ms, "t_ref": t_ref * ms,
                             "r_mem": r_mohm * Mohm, "v_rest": -70 * mV, "v_reset": -70 * mV,
                             "v_threshold": -50 * mV})
    graph = HNN("fi", populations=[pop], dt_ms=DT_MS)
    result = simulate(graph, steps=1500, n_samples=2)
    isi = intervals(result.spikes["exc"], 2, 3)
    for n, current in enumerate(currents):
        ri = r_mohm * current  # mV
        period = t_ref + tau * math.log(ri / (ri - gap_mv))  # ms
        for b in range(2):
            assert isi[b, n].size >= 3
            assert np.all(np.abs(isi[b, n] * DT_MS - period) <= DT_MS + 1e-9)
            rate = 1000.0 / (isi[b, n].mean() * DT_MS)
            analytic = 1000.0 / period
            assert abs(rate - analytic) <= analytic * DT_MS / (period - DT_MS)
        np.testing.assert_array_equal(isi[0, n], isi[1, n])  # the two samples are the same


def test_lif_below_rheobase_is_silent():
    # RI = 15 mV < 20 mV: v tends to 15 mV above rest and never reaches threshold.
    pop = Population("exc", 2, model="lif", params={"i_bias": 0.15 * nA})
    result = simulate(HNN("sub", populations=[pop], dt_ms=DT_MS), steps=500)
    assert result.spikes["exc"].step.size == 0


def test_users_own_equations_give_the_analytic_rate():
    # dv/dt = (I - v) / tau, reset to 0 at 1: T = tau ln(I / (I - 1)). The default method is
    # 'exact' (linear equation), so again |ISI - T| <= dt.
    drives = np.array([1.5, 2.0, 3.0])
    tau = 10.0
    pop = Population("own", 3, equations="dv/dt = (I - v) / tau : 1\nI : 1 (constant)",
                     threshold="v > 1", reset="v = 0", namespace={"tau": tau * ms},
                     params={"I": drives})
    result = simulate(HNN("own", populations=[pop], dt_ms=DT_MS), steps=1000, n_samples=2)
    isi = intervals(result.spikes["own"], 2, 3)
    for n, drive in enumerate(drives):
        period = tau * math.log(drive / (drive - 1))
        for b in range(2):
            assert isi[b, n].size >= 3
            assert np.all(np.abs(isi[b, n] * DT_MS - period) <= DT_MS + 1e-9)


@pytest.mark.parametrize("r", [0, 1, 3])
def test_refractory_steps_with_certain_spikes(r):
    # P(spike) = 1 every step it may fire: spikes at 0, r + 1, 2 (r + 1), ... exactly.
    pop = Population("p", 2, equations="prob : 1", threshold="rand() < prob", reset="",
                     refractory_steps=r, params={"prob": 1.0})
    result = simulate(HNN("r", populations=[pop]), steps=20)
    s = result.spikes["p"]
    for n in range(2):
        np.testing.assert_array_equal(s.step[s.neuron == n], np.arange(0, 20, r + 1))


def driven_graph(drop: bool, n: int = 6) -> HNN:
    pop = Population("p", n, equations="x : 1\ndv/dt = x / (2 * ms) : 1", threshold="v > 1",
                     reset="v = 0", input="drive", input_variable="x", drop_undriven=drop)
    return HNN("drop", inputs=[Input("drive", n)], populations=[pop], dt_ms=0.5)


@pytest.mark.parametrize("per_step", [False, True])
def test_drop_undriven_gives_the_full_populations_spikes(per_step):
    # Deterministic model (no rand()) whose undriven neurons (x = 0) never fire: dropping them
    # changes nothing, exactly (same sample, step and neuron for every spike).
    drive = np.array([[0.0, 1.0, 0.0, 2.5, 0.0, 0.7], [3.0, 0.0, 0.0, 0.0, 1.2, 0.0]])
    if per_step:
        drive = np.repeat(drive[:, None, :], 40, axis=1)
        drive[:, ::3] = 0.0  # and off every third step
    full = simulate(driven_graph(False), drive, steps=40, seed=3).spikes["p"]
    sim = Simulation(driven_graph(True), drive, seed=3)
    assert sim.populations["p"].group.N == 5  # only the driven neurons are built
    dropped = sim.run(40).spikes["p"]
    assert full.step.size > 20
    for key in ("sample", "step", "neuron"):
        np.testing.assert_array_equal(getattr(full, key), getattr(dropped, key))


def test_samples_are_independent():
    # B = 2 samples, one group each population. Sample 0's input neuron fires at steps 1 and 4;
    # sample 1 never fires. Every target neuron counts its arrivals in v, so sample 0's targets
    # count the spikes of sample 0 only and sample 1's stay at 0.
    steps = 8
    pattern = np.zeros((2, steps, 3), dtype=np.float32)
    pattern[0, 1, 0] = pattern[0, 4, 2] = 1.0
    src = Population("src", 3, equations="x : 1", threshold="x > 0.5", reset="", input="pat",
                     input_variable="x")
    dst = Population("dst", 2, equations="v : 1", threshold="False", reset="")
    syn = Synapse("s", "src", "dst", on_pre="v_post += 1", connect="all_to_all")
    graph = HNN("ind", inputs=[Input("pat", 3)], populations=[src, dst], synapses=[syn])
    sim = Simulation(graph, pattern)
    sim.run(steps)
    np.testing.assert_array_equal(sim.populations["dst"].read("v"), [2, 2, 0, 0])
