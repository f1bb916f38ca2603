"""Spiking HNN graphs compiled to chip programs (hnnbio.chip.snn) and run on the interpreter.

References are written here: NIR's analytic inter-spike interval ``tau ln(rI / (rI - v_th))``
of a LIF under constant input, the leak's rate error ``|ln a / ln a_q - 1|`` by hand, and a float
integration of the target population (exact exponential steps, jumps as Brian2 applies them)
that is itself checked against Brian2 before it bounds the chip.
"""

import math

import nir
import numpy as np
import pytest
from brian2 import amp, coulomb, ms, ohm, second, volt

from hnnbio.chip import snn
from hnnbio.chip.interpreter import Machine
from hnnbio.chip.program import load_program, write_program
from hnnbio.chip.segments import compile_segments
from hnnbio.chip.snn_rules import RULES
from hnnbio.chip.spec import ChipSpec
from hnnbio.errors import DesignRuleError
from hnnbio.hnn import simulate
from hnnbio.hnn.graph import HNN
from hnnbio.hnn.nodes import Input, Population, Synapse
from hnnbio.neurons.segments import SegmentParams

DT_MS = 1.0
#: tau with exp(-dt / tau) = 232 / 256 exactly: the leak is representable (alpha = 232).
TAU_EXACT = -DT_MS / math.log(232 / 256) * 1e-3  # s, 10.1646 ms
STEPS = 4000


def lif(name, size, tau=TAU_EXACT, t_ref=0.0, v_th=1.0, **kw):
    params = dict(tau_mem=tau * second, tau_syn=5 * ms, r_mem=2 * ohm, v_rest=0 * volt,
                  v_reset=0 * volt, v_threshold=v_th * volt, t_ref=t_ref * second)
    params.update(kw.pop("params", {}))
    return Population(name, size, model="lif", params=params, **kw)


def driven(size=4, tau=TAU_EXACT, **kw):
    return HNN("driven", inputs=[Input("drive", size)],
               populations=[lif("a", size, tau, input="drive", input_variable="i_bias", **kw)],
               dt_ms=DT_MS)


def analytic_isi(current, tau, r=2.0, v_th=1.0):
    return tau * np.log(r * current / (r * current - v_th))


def within_3pc_or_2(counts, expected):
    return np.all((np.abs(counts - expected) <= 0.03 * expected)
                  | (np.abs(counts - expected) <= 2))


# --- (a) constant input: the analytic rate, and the rate-error bound --------------------------

# r I from 1.004 to 1.03: intervals of 35 to 56 steps, so the step grid (floor(T / dt) + 1)
# moves a rate by under 3 %
CURRENTS = np.array([[0.502, 0.505, 0.51, 0.515]])


def test_a_lif_under_constant_input_fires_at_the_analytic_rate():
    out = snn.run_on_chip(driven(), STEPS, CURRENTS)
    counts = out["spike_counts"]["a"][0]
    expected = STEPS * DT_MS * 1e-3 / analytic_isi(CURRENTS[0], TAU_EXACT)
    assert within_3pc_or_2(counts, expected), (counts, expected)
    # and exactly on the grid: one spike every floor(T / dt) + 1 steps
    n = np.floor(analytic_isi(CURRENTS[0], TAU_EXACT) / 1e-3) + 1
    assert np.array_equal(counts, STEPS // n)


def test_the_leak_bound_is_the_hand_computed_one_and_is_honoured():
    """tau = 10 ms, dt = 1 ms: a = e^-0.1 = 0.904837, alpha = round(231.64) = 232, the interval
    scales by ln a / ln a_q = 0.1 / 0.098440 = 1.01585: bound 1.585 %. Under constant drive the
    chip's interval lies in the compiler's bracket [n_lo, n_hi], and its rate is within the
    bracket's bound of Brian2's (both measured from the runs' spike steps). The currents put T / dt
    and 1.01585 T / dt in one cell of the step grid (46.2, 14.7, 12.5, 9.8, 5.4 steps); at
    I = 0.55 (T / dt = 23.98, tau_q gives 24.36: 24 vs 25 steps, 4 %) the run is refused."""
    compiled = snn.compile_graph(driven(tau=0.01))
    assert set(compiled.pops["a"].alpha) == {232}
    by_hand = 0.1 / -math.log(232 / 256) - 1
    assert compiled.pops["a"].leak_error == pytest.approx(by_hand, rel=1e-12)
    assert compiled.program.manifest["quantization"]["a"]["rel_rms_error"] == pytest.approx(
        0.015853, abs=1e-5)
    with pytest.raises(DesignRuleError, match="'rate_error'.*4.00 %"):
        snn.run_on_chip(driven(1, tau=0.01), 100, np.array([[0.55]]))
    currents = np.array([[0.505, 0.65, 0.7, 0.8, 1.2]])
    out = snn.run_on_chip(driven(5, tau=0.01), STEPS, currents)
    chip = out["spikes"]["a"][0]
    brian = simulate(driven(5, tau=0.01), currents, steps=STEPS).spikes["a"]
    b = out["bounds"]["a"]
    for j in range(5):
        isi_chip = np.diff(np.flatnonzero(chip[:, j]))
        isi_brian = np.diff(brian.step[brian.neuron == j])
        assert np.all((isi_chip >= b["n_lo"][0, j]) & (isi_chip <= b["n_hi"][0, j]))
        assert np.all(isi_brian == b["n_float"][0, j])
        rate_error = abs(isi_brian.mean() / isi_chip.mean() - 1)
        assert rate_error <= b["bound"][0, j] + 1e-12 and b["bound"][0, j] <= 0.03


def test_a_leak_beyond_the_tolerance_is_refused_with_its_bound():
    """tau = 40 ms at dt = 1 ms: 256 e^-0.025 = 249.68 -> 250, ln(250/256) = -0.023717, bound
    0.025 / 0.023717 - 1 = 5.41 %."""
    with pytest.raises(DesignRuleError, match=r"'leak_resolution' violated by layer 'a'.*5\.41 %"):
        snn.compile_graph(driven(tau=0.04))


# --- (b) two populations, a delayed synapse ----------------------------------------------------

J = np.array([[0.45, 0.12], [0.25, 0.31], [0.18, 0.22]])  # v jumps (volt) a_j -> b_k
DELAY_STEPS = 3


def two_populations():
    """a: 3 neurons under constant drive; b: 2 neurons fed by a's spikes 3 steps late (jumps of
    v: w r / tau with w = J tau / r)."""
    i, k = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    syn = Synapse("a_to_b", "a", "b", model="w : coulomb",
                  on_pre="v_post += w * r_mem_post / tau_mem_post",
                  connect={"i": i.ravel().tolist(), "j": k.ravel().tolist()},
                  values={"w": J.ravel() * TAU_EXACT / 2.0 * coulomb},
                  delay=DELAY_STEPS * DT_MS * ms)
    return HNN("two", inputs=[Input("drive", 3)],
               populations=[lif("a", 3, input="drive", input_variable="i_bias"), lif("b", 2)],
               synapses=[syn], dt_ms=DT_MS)


def float_b(a_spikes, steps, jumps=J, delay=DELAY_STEPS):
    """The float model of b from a's spike steps, as Brian2 runs it: u[n] = a u[n-1] (no drive),
    threshold u > 1, then the jumps (``jumps``: volt, presynaptic x b) of spikes of step
    n - ``delay`` (Brian2's synapses slot), then the reset of the neurons that fired (a jump
    landing there is lost). Returns b's spikes, u before each threshold check and the jumps lost
    per neuron."""
    a = 232 / 256
    n_b = jumps.shape[1]
    u = np.zeros(n_b)
    spikes = np.zeros((steps, n_b), dtype=bool)
    before = np.zeros((steps, n_b))
    lost = np.zeros(n_b, dtype=int)
    for n in range(steps):
        u = a * u
        before[n] = u
        fired = u > 1.0
        if n >= delay:
            jump = a_spikes[n - delay] @ jumps
            lost += (fired & (a_spikes[n - delay] @ (jumps != 0) > 0)).astype(int)
            u = u + jump
        u[fired] = 0.0
        spikes[n] = fired
    return spikes, before, lost


def test_two_populations_with_a_delayed_synapse_against_brian2_within_the_derived_bound():
    """Bound. a has a constant drive: its chip interval bracket is one value (asserted), equal to
    Brian2's, so b gets the same spike steps on both. Between two common resets of a b neuron,
    the chip code c and the float code f (volt / LSB) differ by e[n+1] <= a e[n] + 1 (the floor)
    + m / 2 (m weights arriving, each rounded by <= 1/2 LSB; a_q = a exactly here), from
    |e| <= 1/2 at the reset (its code): |e| <= E = 1/2 + (1 + m/2) / (1 - a). The two can
    disagree only at a step where the float membrane is within E + 1/2 (threshold code) of the
    threshold, or where Brian2 drops a jump that lands in the step its target fires (the chip
    keeps it: K_lost). So per neuron |count_chip - count_brian| <= K_near + K_lost."""
    # a fires every 4, 8 and 4 steps (T / dt = 3.49, 7.49, 3.49), all at steps 3 mod 4: b can
    # fire only in the step after a volley lands, never when one lands (no lost jumps)
    currents = np.array([[1.72, 0.959, 1.72]])
    graph = two_populations()
    out = snn.run_on_chip(graph, STEPS, currents)
    b = out["bounds"]["a"]
    assert np.array_equal(b["n_lo"], b["n_hi"]) and np.array_equal(b["n_lo"], b["n_float"])
    result = simulate(graph, currents, steps=STEPS)
    brian = {k: s.counts(1)[0] for k, s in result.spikes.items()}
    sa = result.spikes["a"]
    a_spikes = np.zeros((STEPS, 3))
    a_spikes[sa.step, sa.neuron] = 1
    assert np.array_equal(out["spikes"]["a"][0], a_spikes)  # a: the same steps
    spikes, before, lost = float_b(a_spikes, STEPS)
    assert np.array_equal(spikes.sum(axis=0), brian["b"])  # the float reference is Brian2's b
    pop = out["compiled"].pops["b"]
    lsb = 2.0 ** pop.exponent
    m = 3
    e = 0.5 + (1 + m / 2) / (1 - 232 / 256)
    near = (np.abs(before / lsb - 1.0 / lsb) <= e + 0.5).sum(axis=0)
    bound = near + lost
    diff = np.abs(out["spike_counts"]["b"][0] - brian["b"])
    assert np.all(diff <= bound), (diff, bound, brian["b"])
    assert bound.max() == 0  # here the bound predicts the same counts: b's margins exceed E
    assert brian["b"].min() > 20  # b fires: the comparison is not vacuous


#: tau_syn with exp(-dt / tau_syn) = 200 / 256 exactly (4.05 ms)
TAU_SYN_EXACT = -DT_MS / math.log(200 / 256) * 1e-3
JI = np.array([[0.5, 0.2], [0.35, 0.45], [0.3, 0.25]])  # jumps of b's i_syn (ampere)


def current_graph():
    i, k = np.meshgrid(np.arange(3), np.arange(2), indexing="ij")
    syn = Synapse("a_to_b", "a", "b", model="w : amp", on_pre="i_syn_post += w",
                  connect={"i": i.ravel().tolist(), "j": k.ravel().tolist()},
                  values={"w": JI.ravel() * amp}, delay=2 * ms)
    return HNN("current", inputs=[Input("drive", 3)], populations=[
        lif("a", 3, input="drive", input_variable="i_bias"),
        lif("b", 2, params={"tau_syn": TAU_SYN_EXACT * second})], synapses=[syn], dt_ms=DT_MS)


def test_synapses_into_i_syn_against_brian2_within_the_derived_bound():
    """hnnbio's own lif synapse ``i_syn_post += w`` (delay 2 steps): b's i_syn is a second,
    never-firing LIF state on the chip (alpha_syn = 200, codes of (1 - a) R i_syn per step, so
    the membrane adds it like a drive), updated after every send of the step. Bound, as for
    (b) but with the current's own error: the i_syn code errs by at most
    e_I = (1 + m/2) / (1 - a_s) (floor, m rounded weights), the membrane by
    E = 1/2 + (1 + e_I) / (1 - a); counts can differ only at steps where the float membrane is
    within E + 1/2 codes of the threshold (jumps of i_syn are never lost: the reset acts on v)."""
    graph = current_graph()
    currents = np.array([[1.72, 0.959, 1.72]])
    out = snn.run_on_chip(graph, STEPS, currents)
    result = simulate(graph, currents, steps=STEPS)
    sa = result.spikes["a"]
    a_spikes = np.zeros((STEPS, 3))
    a_spikes[sa.step, sa.neuron] = 1
    assert np.array_equal(out["spikes"]["a"][0], a_spikes)
    a, a_s = 232 / 256, 200 / 256
    u, cur = np.zeros(2), np.zeros(2)
    fired_float = np.zeros(2, dtype=int)
    before = np.zeros((STEPS, 2))
    for n in range(STEPS):  # Brian2's exponential Euler with i_syn held over the step
        u, cur = a * u + (1 - a) * 2.0 * cur, a_s * cur
        before[n] = u
        fired = u > 1.0
        if n >= 2:
            cur = cur + a_spikes[n - 2] @ JI
        u[fired] = 0.0
        fired_float += fired
    brian = result.spikes["b"].counts(1)[0]
    assert np.array_equal(fired_float, brian)
    lsb = 2.0 ** out["compiled"].pops["b"].exponent
    e = 0.5 + (1 + (1 + 3 / 2) / (1 - a_s)) / (1 - a)
    near = (np.abs(before - 1.0) / lsb <= e + 0.5).sum(axis=0)
    diff = np.abs(out["spike_counts"]["b"][0] - brian)
    assert np.all(diff <= near), (diff, near, brian)


# --- (c) a NIR LIF graph written with nir's API -------------------------------------------------

def nir_graph(n, tau, bias=None):
    full = lambda v: np.full(n, v, dtype=float)  # noqa: E731
    b = np.zeros(n) if bias is None else bias
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([n])}),
        "w": nir.Affine(weight=np.eye(n), bias=b),
        "lif": nir.LIF(tau=full(tau), r=full(2.0), v_leak=full(0.0), v_threshold=full(1.0),
                       v_reset=full(0.0)),
        "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])


@pytest.mark.parametrize("with_bias", [False, True])
def test_a_nir_lif_graph_imports_compiles_and_fires_at_the_analytic_rate(tmp_path, with_bias):
    """Without a bias hnnbio.nir writes model = "lif"; with an Affine bias its own LIF equations
    (input i_in, constant i_bias): both compile. The current is input + bias."""
    from hnnbio.hnn.files import load_hnn
    from hnnbio.nir import read_nir

    bias = np.array([0.0, 0.002, 0.004, 0.005]) if with_bias else None
    # currents 0.502, 0.5045, 0.51, 0.515: T / dt = 56.2, 48.0, 40.0, 35.9, so the step grid
    # (floor(T / dt) + 1) costs at most 1.5 % of a rate
    path = tmp_path / "lif.nir"
    nir.write(str(path), nir_graph(4, TAU_EXACT, bias))
    toml = tmp_path / "lif.toml"
    toml.write_text(read_nir(path, f"{DT_MS} ms"))
    text = toml.read_text()
    assert ('model = "lif"' in text) != with_bias
    inputs = np.array([[0.502, 0.5045, 0.51, 0.515]]) - (0 if bias is None else bias)
    out = snn.run_on_chip(load_hnn(toml), STEPS, inputs)
    current = inputs[0] + (0 if bias is None else bias)
    expected = STEPS * DT_MS * 1e-3 / analytic_isi(current, TAU_EXACT)
    assert within_3pc_or_2(out["spike_counts"]["lif"][0], expected)


def test_a_nir_cubalif_graph_gives_brian2s_counts_on_the_chip(tmp_path):
    """LIF -> Linear -> CubaLIF, written with nir's API: hnnbio.nir writes the CubaLIF as
    model = "lif" with i_syn_post += w / tau_syn_post; the chip's i_syn state reproduces
    Brian2's counts here (the same graph as the i_syn test above, NIR's weights w = J tau_syn)."""
    from hnnbio.hnn.files import load_hnn
    from hnnbio.nir import read_nir

    full = lambda n, v: np.full(n, v, dtype=float)  # noqa: E731
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}),
             "w": nir.Affine(weight=np.eye(3), bias=np.zeros(3)),
             "a": nir.LIF(tau=full(3, TAU_EXACT), r=full(3, 2.0), v_leak=full(3, 0.0),
                          v_threshold=full(3, 1.0), v_reset=full(3, 0.0)),
             "l": nir.Linear(weight=JI.T * TAU_SYN_EXACT),
             "b": nir.CubaLIF(tau_mem=full(2, TAU_EXACT), tau_syn=full(2, TAU_SYN_EXACT),
                              r=full(2, 2.0), v_leak=full(2, 0.0), v_threshold=full(2, 1.0),
                              v_reset=full(2, 0.0), w_in=full(2, 1.0)),
             "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("input", "w"), ("w", "a"), ("a", "l"), ("l", "b"), ("b", "output")]
    path = tmp_path / "cuba.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges))
    toml = tmp_path / "cuba.toml"
    toml.write_text(read_nir(path, f"{DT_MS} ms"))
    assert 'i_syn_post += w / tau_syn_post' in toml.read_text()
    graph = load_hnn(toml)
    currents = np.array([[1.72, 0.959, 1.72]])
    chip = snn.run_on_chip(graph, STEPS, currents)["spike_counts"]
    brian = simulate(graph, currents, steps=STEPS).spike_counts()
    for name in ("a", "b"):
        assert np.array_equal(chip[name], brian[name])
    assert brian["b"].min() > 100


def test_split_weights_sum_to_the_code_within_int8():
    codes = np.arange(-127 * 5, 127 * 5 + 1).reshape(1, -1)
    parts = snn._split(codes, 5)
    assert np.array_equal(sum(parts), codes)
    assert max(np.abs(p).max() for p in parts) <= 127


def test_the_lif_form_matches_hnnbio_nir():
    from hnnbio.nir import forms

    assert snn._lif_form(forms.equations("LIF", [])) == []
    assert snn._lif_form(forms.equations("LIF", ["i_in"])) == ["i_in"]
    assert snn._lif_form(forms.equations("LI", [])) is None
    assert snn._lif_form(forms.equations("LIF", ["i_c0"])) is None


# --- (d) each design rule refuses by name -------------------------------------------------------

def _syn(**kw):
    base = dict(name="s", source="a", target="b", model="w : coulomb",
                on_pre="v_post += w * r_mem_post / tau_mem_post", connect="all_to_all",
                values={"w": 0.001})
    base.update(kw)
    return Synapse(**base)


def _pair(syn=None, a=None, b=None):
    return HNN("pair", populations=[a or lif("a", 2, params={"i_bias": 0.6}), b or lif("b", 2)],
               synapses=[syn or _syn()], dt_ms=DT_MS)


def _network():
    import torch

    from hnnbio.hnn.nodes import Network

    return HNN("net", inputs=[Input("x", 2)], populations=[lif("a", 2)],
               networks=[Network("n", torch.nn.Linear(2, 2), inputs=("x",))], dt_ms=DT_MS)


CASES = {
    "hybrid_nodes": lambda: snn.compile_graph(_network()),
    "unsupported_model": lambda: snn.compile_graph(HNN("m", populations=[
        Population("c", 2, model="coincidence")], dt_ms=DT_MS)),
    "input_variable": lambda: snn.compile_graph(HNN("iv", inputs=[Input("x", 2)], populations=[
        lif("a", 2, input="x", input_variable="v")], dt_ms=DT_MS)),
    "synapse_form": lambda: snn.compile_graph(_pair(_syn(on_pre="v_post += 2 * w"))),
    "synaptic_current": lambda: snn.compile_graph(_pair(_syn(on_pre="i_syn_post += 2 * w"))),
    "random_connectivity": lambda: snn.compile_graph(_pair(_syn(connect={"p": 0.5}))),
    "heterogeneous_parameters": lambda: snn.compile_graph(HNN("h", populations=[
        lif("a", 2, params={"v_reset": [0.0, 0.1] * volt})], dt_ms=DT_MS)),
    "leak_resolution": lambda: snn.compile_graph(driven(tau=0.04)),
    "weight_range": lambda: snn.compile_graph(_pair(_syn(connect={"i": [0, 1], "j": [0, 0]},
                                                         values={"w": [1e-7, 0.01]}))),
    "delay_slots": lambda: snn.compile_graph(_pair(_syn(delay=64 * ms))),
    "refractory_counter": lambda: snn.compile_graph(driven(t_ref=0.02)),
    "refractory_with_synapses": lambda: snn.compile_graph(_pair(b=lif("b", 2, t_ref=0.003))),
    # the autapse does not split over partial-sum cores (v and i_syn jumps do:
    # test_snn_fan_in.py): 4 self-inhibiting neurons need 4 axons
    "fan_in": lambda: snn.compile_graph(self_inhibiting(0.3), ChipSpec(axons_per_core=3)),
    "mesh": lambda: snn.compile_graph(_pair(), ChipSpec(mesh_x=1, mesh_y=1)),
    "core_memory": lambda: snn.compile_graph(_pair(), ChipSpec(memory_bytes_per_core=30)),
    # r I = 1 + 2e-6 above the threshold: Brian2 fires (every 14 tau), the chip's lower
    # envelope (the floor's -1 per step) settles below it: no bound
    "rate_error": lambda: snn.run_on_chip(driven(1), 200, np.array([[0.5 + 1e-6]])),
    # dendritic-segment neurons (hnnbio.chip.segments, cases in test_segments_compile.py)
    "segment_neuron": lambda: compile_segments([0], [0], [0], [[1, 1]], 1,
                                               SegmentParams(distal_gain=0.5), n_channels=1,
                                               steps=10),
}


def test_every_rule_has_a_case():
    from hnnbio.chip.snn_rules import HYBRID_RULES  # cases in test_hybrid_compile.py

    assert set(CASES) | HYBRID_RULES == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_each_design_rule_refuses_by_name(rule):
    with pytest.raises(DesignRuleError) as info:
        CASES[rule]()
    assert info.value.rule == rule
    assert str(info.value).startswith(f"design rule '{rule}' violated by layer ")
    assert "\n" not in str(info.value)


# --- (e) the program file: validated when reloaded, same spikes; export and run hooks -----------

@pytest.mark.parametrize("make, delay", [(two_populations, DELAY_STEPS + 1),
                                         (current_graph, 2)])
def test_the_program_passes_validation_when_written_and_reloaded(tmp_path, make, delay):
    currents = np.array([[1.72, 0.959, 1.72], [0.8, 1.3, 0.9]])
    out = snn.run_on_chip(make(), 300, currents)
    path = write_program(out["program"], tmp_path / "two.hnnc")
    loaded = load_program(path)  # hnnbio.chip.validate runs here
    machine = Machine(loaded)
    machine.reset(2, 0, out["compiled"].encode({"drive": currents}))
    again = machine.run(300)
    for name in ("a", "b"):
        assert np.array_equal(again[name], out["spikes"][name])
    routes = loaded.manifest["routes"]
    assert {r["delay"] for r in routes} == {delay}


def test_export_and_run_with_the_emulator_backend(tmp_path):
    from hnnbio.chip.compiler import export
    from hnnbio.nir import read_nir
    from hnnbio.run import run_file

    path = tmp_path / "lif.nir"
    nir.write(str(path), nir_graph(4, TAU_EXACT))
    toml = tmp_path / "lif.toml"
    toml.write_text(read_nir(path, f"{DT_MS} ms", steps=STEPS))
    rows = export(toml, tmp_path / "lif.hnnc")
    assert rows["cores"] == 1 and load_program(tmp_path / "lif.hnnc").manifest["n_phases"] == 2
    np.save(tmp_path / "x.npy", CURRENTS)
    rows = run_file(toml, input=tmp_path / "x.npy", backend="emulator")
    expected = STEPS * DT_MS * 1e-3 / analytic_isi(CURRENTS[0], TAU_EXACT)
    assert abs(rows["spike_counts"]["lif"] - expected.sum()) <= 0.03 * expected.sum()
    # the same through the CLI: `hnnbio run FILE --backend emulator --json`
    from hnnbio.cli import main

    assert main(["run", str(toml), "--input", str(tmp_path / "x.npy"), "--backend", "emulator",
                 "--json"]) == 0


# --- self_inhibiting (HIFI, continuous form) ----------------------------------------------------

def self_inhibiting(w_self):
    tau_self = -DT_MS / math.log(240 / 256) * 1e-3  # alpha_self = 240 exactly
    p = Population("s", 4, model="self_inhibiting", params=dict(
        tau_mem=TAU_EXACT * second, tau_syn=5 * ms, tau_self=tau_self * second, r_mem=2 * ohm,
        gain=0.9, w_self=w_self * amp, v_rest=0 * volt, v_reset=0 * volt,
        v_threshold=1 * volt), input="drive", input_variable="i_bias")
    return HNN("si", inputs=[Input("drive", 4)], populations=[p], dt_ms=DT_MS)


def test_self_inhibiting_neurons_give_brian2s_counts_on_the_chip():
    """The autapse current i_self is a third state: each core sends its spikes to itself with
    delay 0 (a diagonal matvec of -(1 - a) R w_self codes) and updates i_self after every send;
    the gain C scales the drive. Its error terms are those of the i_syn test with m = 1; here the
    counts are Brian2's, and the self-inhibition matters (Brian2 without it fires more)."""
    currents = np.array([[0.7, 0.9, 1.2, 1.5]])
    chip = snn.run_on_chip(self_inhibiting(0.05), STEPS, currents)["spike_counts"]["s"][0]
    brian = simulate(self_inhibiting(0.05), currents, steps=STEPS).spike_counts()["s"][0]
    free = simulate(self_inhibiting(0.0), currents, steps=STEPS).spike_counts()["s"][0]
    assert np.array_equal(chip, brian)
    assert np.all(free > brian)
