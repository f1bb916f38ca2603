"""Each NIR node's Brian2 translation against NIR's own equation, integrated in the test.

Graphs are written with nir's API and nir.write, imported with read_nir and simulated by the HNN
engine (Brian2). References: analytic solutions of NIR's equations under the stated
discretisation (input held over each step, threshold checked at the end of each step, a spike a
unit Dirac delta arriving at a step boundary), see hnnbio.nir.forms.
"""

import math

import nir
import numpy as np
import pytest

from hnnbio.hnn import simulate

DT = 1e-4  # s (0.1 ms)


@pytest.fixture(autouse=True)
def _helpers(nodes):
    """lif(n, ...) and io(n) of conftest as module names."""
    global lif, io
    lif, io = nodes.lif, nodes.io
STEPS = 10000  # 1 s


def _lif_graph(n, weight_node):
    inp, out = io(n)
    return nir.NIRGraph(nodes={"input": inp, "w": weight_node, "lif": lif(n), "output": out},
                        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])


def _check_rates(counts, isi):
    """counts over 1 s against NIR's analytic rate 1/ISI (3 % or 2 spikes) and exactly against
    the discretised interval floor(ISI / dt) + 1 steps."""
    analytic = 1.0 / isi * STEPS * DT
    assert np.all((np.abs(counts - analytic) <= 0.03 * analytic) | (np.abs(counts - analytic) <= 2))
    steps = np.floor(isi / DT) + 1
    assert np.array_equal(counts, STEPS // steps)


def test_lif_fires_at_the_analytic_rate_through_identity_affine(imported):
    currents = np.array([0.6, 0.8, 1.0, 1.5, 2.0])  # r I > v_th = 1 for all (r = 2)
    graph, text = imported(_lif_graph(5, nir.Affine(weight=np.eye(5), bias=np.zeros(5))))
    assert 'model = "lif"' in text and 'input_variable = "i_bias"' in text
    counts = simulate(graph, currents[None], steps=STEPS).spike_counts()["lif"][0]
    tau, r, v_th = 0.02, 2.0, 1.0
    isi = np.array([tau * math.log(r * i / (r * i - v_th)) for i in currents])
    _check_rates(counts, isi)


def test_lif_through_a_linear_layer_and_a_bias(imported):
    """A non-identity Linear (relay + summed variable) and an Affine bias: I = W x + b."""
    w = np.array([[1.5, 0.0], [0.5, 0.5], [0.0, 0.0]])
    b = np.array([0.0, 0.2, 0.9])
    inp, out = io(3)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "w": nir.Affine(weight=w, bias=b), "lif": lif(3), "output": out},
                     edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    graph, text = imported(g)
    assert "(summed)" in text
    x = np.array([0.8, 1.2])
    counts = simulate(graph, x[None], steps=STEPS).spike_counts()["lif"][0]
    current = w @ x + b
    isi = 0.02 * np.log(2 * current / (2 * current - 1))
    _check_rates(counts, isi)


def test_if_isi_is_threshold_over_r_i(imported):
    n = 4
    inp, out = io(n)
    g = nir.NIRGraph(nodes={"input": inp, "w": nir.Linear(weight=np.eye(n)),
                            "if": nir.IF(r=np.full(n, 3.0), v_threshold=np.full(n, 0.5),
                                         v_reset=np.zeros(n)), "output": out},
                     edges=[("input", "w"), ("w", "if"), ("if", "output")])
    graph, _ = imported(g)
    currents = np.array([1.0, 2.0, 4.0, 0.5])
    counts = simulate(graph, currents[None], steps=STEPS).spike_counts()["n_if"][0]
    _check_rates(counts, 0.5 / (3.0 * currents))


def test_li_charges_and_decays_as_exp(imported):
    """tau dv/dt = v_leak - v + r I: v = v_leak + r I (1 - e^{-t/tau}) while I is on, then
    relaxes as e^{-t/tau}; exact at the step points for an input held over each step."""
    n, tau, r, v_leak, on = 2, 0.01, 1.5, 0.25, 300
    inp, out = io(n)
    g = nir.NIRGraph(nodes={"input": inp, "li": nir.LI(tau=np.full(n, tau), r=np.full(n, r),
                                                      v_leak=np.full(n, v_leak)),
                            "output": out}, edges=[("input", "li"), ("li", "output")])
    graph, text = imported(g)
    assert 'kind = "state"' in text
    steps = 600
    x = np.zeros((1, steps, n))
    x[0, :on] = [1.0, 2.0]
    res = simulate(graph, x, steps=steps, monitors=[])
    v = np.asarray(res.monitors["output"].v)  # (n, steps), volt as numbers
    t = np.arange(steps) * DT
    for k, amp in enumerate([1.0, 2.0]):
        expect = np.where(t <= on * DT, v_leak + r * amp * (1 - np.exp(-t / tau)), 0.0)
        peak = r * amp * (1 - np.exp(-on * DT / tau))
        after = t > on * DT
        expect[after] = v_leak + peak * np.exp(-(t[after] - on * DT) / tau)
        np.testing.assert_allclose(v[k], expect, rtol=1e-9, atol=1e-12)


def test_integrator_ramps(imported):
    n = 1
    inp, out = io(n)
    g = nir.NIRGraph(nodes={"input": inp, "i": nir.I(r=np.full(n, 4.0)), "output": out},
                     edges=[("input", "i"), ("i", "output")])
    graph, _ = imported(g)
    res = simulate(graph, np.array([[0.5]]), steps=100)
    v = np.asarray(res.monitors["output"].v)[0]
    np.testing.assert_allclose(v, 4.0 * 0.5 * np.arange(100) * DT, rtol=1e-9, atol=1e-15)


def test_threshold_spikes_in_every_step_above(imported):
    n = 1
    inp, out = io(n)
    g = nir.NIRGraph(nodes={"input": inp, "th": nir.Threshold(threshold=np.full(n, 0.3)),
                            "output": out}, edges=[("input", "th"), ("th", "output")])
    graph, _ = imported(g)
    x = np.sin(np.linspace(0, 6 * np.pi, 200))[None, :, None]
    res = simulate(graph, x, steps=200)
    steps = np.sort(res.spikes["th"].step)
    assert np.array_equal(steps, np.flatnonzero(x[0, :, 0] > 0.3))


def _two_neuron_graph(target, delay_s=None, weight=0.4):
    """input -> LIF source (fires periodically) -> Linear(weight) [-> Delay] -> target."""
    inp, _ = io(1)
    nodes = {"input": inp, "src": lif(1, tau=0.01), "w": nir.Linear(weight=np.full((1, 1), weight)),
             "dst": target, "out_src": nir.Output(output_type={"output": np.array([1])}),
             "out_dst": nir.Output(output_type={"output": np.array([1])})}
    edges = [("input", "src"), ("src", "w"), ("src", "out_src"), ("dst", "out_dst")]
    if delay_s is None:
        edges.append(("w", "dst"))
    else:
        nodes["d"] = nir.Delay(delay=np.array([delay_s]))
        edges += [("w", "d"), ("d", "dst")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_spike_edge_is_a_dirac_jump_of_w_r_over_tau_with_delay(imported):
    """A LIF target that never fires: v jumps by w r / tau at each source spike (delivered
    delay / dt steps later) and decays as e^{-t/tau} in between."""
    tau, r, w, delay = 0.005, 3.0, 0.4, 0.0015
    target = lif(1, tau=tau, r=r, v_th=1e9)
    graph, text = imported(_two_neuron_graph(target, delay, w))
    assert 'delay = "1.5 ms"' in text
    steps = 2000
    res = simulate(graph, np.array([[0.7]]), steps=steps,
                   monitors=[dict(name="vd", kind="state", population="dst", variables=["v"])])
    spikes = np.sort(res.spikes["src"].step)
    assert spikes.size > 5
    v = np.asarray(res.monitors["vd"].v)[0]
    arrive = spikes + round(delay / DT)  # jumps at the end of these steps
    t = np.arange(steps)
    expect = np.zeros(steps)
    for a in arrive:  # recorded at the start of each step: a jump of step a is seen from a + 1
        later = t > a
        expect[later] += w * r / tau * np.exp(-(t[later] - a - 1) * DT / tau)
    np.testing.assert_allclose(v, expect, rtol=1e-9, atol=1e-12)


def test_cubalif_current_jumps_by_w_win_over_tau_syn_and_decays(imported):
    """tau_syn dI/dt = -I + w_in S: each spike adds w w_in / tau_syn to I, which decays as
    e^{-t/tau_syn} (exact in the exponential-Euler step)."""
    tau_syn, w_in, w = 0.004, 2.0, 0.4
    target = nir.CubaLIF(tau_syn=np.array([tau_syn]), tau_mem=np.array([0.02]), r=np.array([1.0]),
                         v_leak=np.array([0.0]), v_threshold=np.array([1e9]),
                         v_reset=np.array([0.0]), w_in=np.array([w_in]))
    graph, text = imported(_two_neuron_graph(target, None, w))
    assert text.count('model = "lif"') == 2  # source LIF and target CubaLIF as hnnbio's lif
    steps = 1000
    res = simulate(graph, np.array([[0.7]]), steps=steps,
                   monitors=[dict(name="i", kind="state", population="dst",
                                  variables=["i_syn", "v"])])
    spikes = np.sort(res.spikes["src"].step)
    i_syn = np.asarray(res.monitors["i"].i_syn)[0]
    t = np.arange(steps)
    expect = np.zeros(steps)
    for s in spikes:
        later = t > s
        expect[later] += w * w_in / tau_syn * np.exp(-(t[later] - s - 1) * DT / tau_syn)
    np.testing.assert_allclose(i_syn, expect, rtol=1e-9, atol=1e-12)
    # v under the synaptic current: tau_mem dv/dt = -v + r I_s, here against a fine Euler
    # integration of the continuous equations (the step's error is O(dt / tau_syn))
    fine = 100
    v_ref, i_ref, vs = 0.0, 0.0, []
    hits = set(spikes.tolist())
    for k in range(steps):
        vs.append(v_ref)
        for _ in range(fine):
            h = DT / fine
            v_ref += h * (-v_ref + 1.0 * i_ref) / 0.02
            i_ref += h * (-i_ref) / tau_syn
        if k in hits:
            i_ref += w * w_in / tau_syn
    v = np.asarray(res.monitors["i"].v)[0]
    assert np.max(np.abs(v - np.array(vs))) < 0.02 * np.max(np.abs(vs))


def test_cubali_value_input_is_filtered(imported):
    """An input held at x from t = 0: I_s = w_in x (1 - e^{-t/tau_syn})."""
    tau_syn, w_in, x = 0.003, 0.5, 2.0
    inp, out = io(1)
    g = nir.NIRGraph(nodes={"input": inp, "c": nir.CubaLI(
        tau_syn=np.array([tau_syn]), tau_mem=np.array([0.01]), r=np.array([1.0]),
        v_leak=np.array([0.0]), w_in=np.array([w_in])), "output": out},
        edges=[("input", "c"), ("c", "output")])
    graph, _ = imported(g)
    res = simulate(graph, np.array([[x]]), steps=300,
                   monitors=[dict(name="i", kind="state", population="c", variables=["i_syn"])])
    i_syn = np.asarray(res.monitors["i"].i_syn)[0]
    t = np.arange(300) * DT
    np.testing.assert_allclose(i_syn, w_in * x * (1 - np.exp(-t / tau_syn)), rtol=1e-9,
                               atol=1e-12)


def test_lif_through_scale(imported):
    """Scale is the Hadamard product: I = s * x."""
    scale = np.array([0.5, 1.0, 3.0])
    graph, text = imported(_lif_graph(3, nir.Scale(scale=scale)))
    assert "(summed)" in text
    x = np.array([1.6, 0.8, 0.5])
    counts = simulate(graph, x[None], steps=STEPS).spike_counts()["lif"][0]
    current = scale * x
    _check_rates(counts, 0.02 * np.log(2 * current / (2 * current - 1)))


def test_two_paths_with_different_delays_both_arrive(imported):
    """src -> w1 -> dst and src -> w2 -> delay -> dst: two jumps per source spike, of w1 r / tau
    at once and of w2 r / tau three steps later (two Brian2 synapses for one pair)."""
    tau, r, w1, w2 = 0.005, 1.0, 0.2, 0.5
    inp, _ = io(1)
    g = nir.NIRGraph(nodes={
        "input": inp, "src": lif(1, tau=0.01), "a": nir.Linear(weight=np.full((1, 1), w1)),
        "b": nir.Linear(weight=np.full((1, 1), w2)), "d": nir.Delay(delay=np.array([3 * DT])),
        "dst": lif(1, tau=tau, r=r, v_th=1e9),
        "o1": nir.Output(output_type={"output": np.array([1])}),
        "o2": nir.Output(output_type={"output": np.array([1])})},
        edges=[("input", "src"), ("src", "a"), ("src", "b"), ("b", "d"), ("a", "dst"),
               ("d", "dst"), ("src", "o1"), ("dst", "o2")])
    graph, _ = imported(g)
    steps = 1500
    res = simulate(graph, np.array([[0.7]]), steps=steps,
                   monitors=[dict(name="vd", kind="state", population="dst", variables=["v"])])
    v = np.asarray(res.monitors["vd"].v)[0]
    t = np.arange(steps)
    expect = np.zeros(steps)
    for s in np.sort(res.spikes["src"].step):
        for w, lag in ((w1, 0), (w2, 3)):
            later = t > s + lag
            expect[later] += w * r / tau * np.exp(-(t[later] - s - lag - 1) * DT / tau)
    assert res.spikes["src"].step.size > 3
    np.testing.assert_allclose(v, expect, rtol=1e-9, atol=1e-12)
