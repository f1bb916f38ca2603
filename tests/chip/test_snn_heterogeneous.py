"""Per-neuron time constants and thresholds in the spiking compiler (hnnbio.chip.snn).

The chip's lif op takes ``alpha`` and ``v_threshold`` as registers or as per-neuron arrays; the
compiler emits a register where a core's neurons agree and an array where they differ. References
written here: NIR's analytic inter-spike interval ``tau ln(rI / (rI - v_th))`` per neuron, the
hand-computed leak codes ``round(256 exp(-dt / tau))`` and threshold codes, and Brian2's counts.
"""

import math

import nir
import numpy as np
import pytest
from brian2 import amp, ms, ohm, second, volt

from hnnbio.chip import snn
from hnnbio.chip.program import load_program, write_program
from hnnbio.errors import DesignRuleError
from hnnbio.hnn import simulate
from hnnbio.hnn.graph import HNN
from hnnbio.hnn.nodes import Input, Population

DT_MS = 1.0
STEPS = 4000
#: leak codes with exactly representable time constants: tau = -dt / ln(alpha / 256)
ALPHAS = np.array([232, 236, 240, 244])
TAUS = -DT_MS * 1e-3 / np.log(ALPHAS / 256)  # 10.16, 12.29, 15.50, 20.84 ms
THRESHOLDS = np.array([1.0, 0.8, 1.2, 0.9])
R = 2.0


def analytic_isi(current, tau, v_th):
    return tau * np.log(R * current / (R * current - v_th))


def nir_lif(n=4):
    full = lambda v: np.full(n, v, dtype=float)  # noqa: E731
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([n])}),
        "w": nir.Affine(weight=np.eye(n), bias=np.zeros(n)),
        "lif": nir.LIF(tau=TAUS.copy(), r=full(R), v_leak=full(0.0),
                       v_threshold=THRESHOLDS.copy(), v_reset=full(0.0)),
        "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])


def imported(tmp_path):
    from hnnbio.hnn.files import load_hnn
    from hnnbio.nir import read_nir

    path = tmp_path / "het.nir"
    nir.write(str(path), nir_lif())
    toml = tmp_path / "het.toml"
    toml.write_text(read_nir(path, f"{DT_MS} ms"))
    return load_hnn(toml)


def test_per_neuron_tau_and_threshold_compile_to_hand_computed_arrays(tmp_path):
    """One core, four neurons: alpha is the array of the four exact leak codes, the threshold
    the array of v_th / 2**e (e: the shared exponent), and the file reloads through validation."""
    compiled = snn.compile_graph(imported(tmp_path))
    arrays = compiled.program.arrays
    assert arrays["c0.alpha"].dtype == np.uint8
    assert np.array_equal(arrays["c0.alpha"], ALPHAS)
    lsb = 2.0 ** compiled.pops["lif"].exponent
    assert arrays["c0.threshold"].dtype == np.int32
    assert np.array_equal(arrays["c0.threshold"], np.rint(THRESHOLDS / lsb))
    assert compiled.pops["lif"].leak_error == pytest.approx(0.0, abs=1e-12)
    lif = next(i for i in compiled.program.cores[0].phases[1] if i.op == "lif")
    assert (lif.args["alpha"], lif.args["v_threshold"]) == ("c0.alpha", "c0.threshold")
    path = tmp_path / "het.hnnc"
    write_program(compiled.program, path)
    reloaded = load_program(path)
    assert np.array_equal(reloaded.arrays["c0.alpha"], ALPHAS)


def test_uniform_populations_keep_registers():
    """Equal parameters give registers, as before: no per-neuron arrays in the program."""
    p = Population("a", 3, model="lif", params=dict(
        tau_mem=float(TAUS[0]) * second, r_mem=R * ohm, v_rest=0 * volt, v_reset=0 * volt,
        v_threshold=1 * volt), input="x", input_variable="i_bias")
    compiled = snn.compile_graph(HNN("u", inputs=[Input("x", 3)], populations=[p],
                                     dt_ms=DT_MS))
    assert not [k for k in compiled.program.arrays if k.endswith((".alpha", ".threshold"))]
    lif = next(i for i in compiled.program.cores[0].phases[1] if i.op == "lif")
    assert (lif.args["alpha"], lif.args["v_threshold"]) == (232, compiled.pops["a"].codes[
        "threshold"][0])


def test_a_heterogeneous_nir_lif_fires_at_each_neurons_analytic_rate_on_both_back_ends(tmp_path):
    """r I = 1.01 v_th per neuron: intervals of 4.615 tau = 46.9 .. 96.2 steps, so the step grid
    (floor(T / dt) + 1) moves a rate by at most 2.2 %; within 3 % (or 2 spikes) of the analytic
    rate in Brian2 and on the chip, and the chip's counts within the compiler's bracket of
    Brian2's."""
    graph = imported(tmp_path)
    current = 1.01 * THRESHOLDS / R
    inputs = current[None]
    expected = STEPS * DT_MS * 1e-3 / analytic_isi(current, TAUS, THRESHOLDS)
    out = snn.run_on_chip(graph, STEPS, inputs)
    chip = out["spike_counts"]["lif"][0]
    brian = simulate(graph, inputs, steps=STEPS).spike_counts()["lif"][0]
    for counts in (chip, brian):
        assert np.all((np.abs(counts - expected) <= 0.03 * expected)
                      | (np.abs(counts - expected) <= 2)), (counts, expected)
    bound = out["bounds"]["lif"]["bound"]
    assert np.all(bound <= 0.03)
    assert np.all(np.abs(chip / brian - 1) <= bound + 1 / brian), (chip, brian, bound)
    assert len(set(chip.tolist())) == 4  # the neurons differ: per-neuron parameters act


def self_inhibiting(w_self, per_neuron=True):
    """HIFI's continuous form with per-neuron membrane and autapse time constants (exact leak
    codes) and thresholds."""
    tau_self = -DT_MS * 1e-3 / np.log(np.array([240, 232, 248, 224]) / 256)
    taus, ths = (TAUS, THRESHOLDS) if per_neuron else (TAUS[:1], THRESHOLDS[:1])
    p = Population("s", 4, model="self_inhibiting", params=dict(
        tau_mem=taus * second, tau_syn=5 * ms, tau_self=tau_self * second, r_mem=R * ohm,
        gain=0.9, w_self=w_self * amp, v_rest=0 * volt, v_reset=0 * volt,
        v_threshold=ths * volt), input="drive", input_variable="i_bias")
    return HNN("si", inputs=[Input("drive", 4)], populations=[p], dt_ms=DT_MS)


def test_heterogeneous_self_inhibiting_neurons_against_brian2():
    """Per-neuron tau_mem, tau_self and thresholds: the membrane and the i_self state each get
    an alpha array; the chip's counts match Brian2's within one spike per neuron over 4000
    steps (the floors of the two states err by under one code per step each, as the i_syn test
    of test_snn_compile derives), and the self-inhibition matters (without it Brian2 fires
    more, except the fastest neuron, whose 9-step interval the autapse does not move)."""
    currents = np.array([[0.7, 0.9, 1.2, 1.5]])
    out = snn.run_on_chip(self_inhibiting(0.05), STEPS, currents)
    chip = out["spike_counts"]["s"][0]
    brian = simulate(self_inhibiting(0.05), currents, steps=STEPS).spike_counts()["s"][0]
    free = simulate(self_inhibiting(0.0), currents, steps=STEPS).spike_counts()["s"][0]
    arrays = out["program"].arrays
    assert np.array_equal(arrays["c0.alpha"], ALPHAS)
    assert np.array_equal(arrays["c0.self.alpha"], [240, 232, 248, 224])
    assert np.all(np.abs(chip - brian) <= 1), (chip, brian)
    assert np.all(free >= brian) and np.sum(free > brian) >= 3 and brian.min() > 100


def test_a_reset_that_differs_between_neurons_is_refused_by_name():
    p = Population("a", 2, model="lif", params=dict(
        tau_mem=10 * ms, r_mem=R * ohm, v_rest=0 * volt, v_reset=[0.0, 0.1] * volt,
        v_threshold=[1.0, 1.1] * volt))
    with pytest.raises(DesignRuleError, match="heterogeneous_parameters.*'a'.*v_reset"):
        snn.compile_graph(HNN("r", populations=[p], dt_ms=DT_MS))


def test_the_worst_neurons_leak_decides_the_refusal():
    """One neuron of four with tau = 0.4 steps (alpha = round(256 e^-2.5) = 21, ln a / ln a_q
    - 1 = 1.6 %: allowed) and one with tau = 0.2 steps (alpha 2: 11 % off): refused, naming
    tau's steps and alpha of the worst neuron."""
    taus = np.array([10.0, 10.0, 0.4, 0.2]) * 1e-3
    a = math.exp(-1 / 0.2)
    alpha = round(256 * a)
    assert alpha == 2
    p = Population("a", 4, model="lif", params=dict(
        tau_mem=taus * second, r_mem=R * ohm, v_rest=0 * volt, v_reset=0 * volt,
        v_threshold=1 * volt), input="x", input_variable="i_bias")
    with pytest.raises(DesignRuleError, match=r"leak_resolution.*tau = 0\.2 steps gives alpha "
                                              r"2/256"):
        snn.compile_graph(HNN("l", inputs=[Input("x", 4)], populations=[p], dt_ms=DT_MS))
