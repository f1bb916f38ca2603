"""column-as-stochastic: a column sheet with the shipped parameters lowered to the chip's sheet.

The reference is the column's own equations (hnnbio.circuits.column): with input_probability 1
the input unit of a foreground pixel spikes every step; the pyramidal neuron fires iff
``G U > 1``, ``U ~ U(0, 1)``, ``G = 1 + g tanh(a c)``, so with probability
``1 - 1/G = g tanh(a c) / (1 + g tanh(a c))``; the self-inhibiting neuron is silent for r steps
after its spike; a coincidence detector with k = 1 and a one-step window relays every spike. The
Brian2 column is checked against that, and the chip's tables against the same formula written here.
"""

import dataclasses

import numpy as np
import pytest

from hnnbio.chip.lower import lower
from hnnbio.errors import DesignRuleError


def column_probability(c, g, a=1.0):
    """P(spike | attention c, not refractory), from G = 1 + g tanh(a c): 1 - 1/G."""
    t = g * np.tanh(a * np.asarray(c, dtype=float))
    return 1.0 - 1.0 / (1.0 + t)


@pytest.mark.slow
def test_brian2_column_is_a_refractory_bernoulli_unit():
    from brian2 import Network, SpikeMonitor, ms, prefs

    from hnnbio.circuits.column import ColumnParams, ColumnSheet

    levels, n, steps, r, g = [0.0, 0.01, 0.1], 300, 200, 6, 60.0
    target, prefs.codegen.target = prefs.codegen.target, "numpy"
    try:
        sheet = ColumnSheet(len(levels), n, ColumnParams(refractory_steps=r, attention_gain=g))
        out, pyr = SpikeMonitor(sheet.output), SpikeMonitor(sheet.populations["pyramidal"])
        sheet.set_input(np.ones((len(levels), n)))
        sheet.set_attention(np.repeat(np.array(levels)[:, None], n, axis=1))
        Network(*sheet.objects, out, pyr).run(steps * ms)
    finally:
        prefs.codegen.target = target
    step = np.rint(np.asarray(out.t / ms)).astype(int)
    # latency: input spikes from step 0, pyramidal from step 1, the coincidence output 2 later
    assert np.rint(np.asarray(pyr.t / ms)).min() == 1
    assert step.min() == 3
    spikes = np.zeros((len(levels) * n, steps), dtype=bool)
    spikes[np.asarray(out.i), step] = True
    for b, c in enumerate(levels):
        block = spikes[b * n:(b + 1) * n, 3:]
        if c == 0:
            # G = 1: only the membrane's residue of the last step's drive, e^(-1/fast_steps) =
            # e^-10, can lift U over 1: P ~ e^-10 / 2 = 2.3e-5 per step, ~1.3 spikes expected here
            assert block.sum() <= 10
            continue
        isi = np.concatenate([np.diff(np.flatnonzero(row)) for row in block])
        assert isi.min() == r + 1  # silent for exactly r steps after a spike
        # hazard at lags r+1 .. r+3 (pooled): the per-step probability of the formula
        fired = sum(int((isi == lag).sum()) for lag in range(r + 1, r + 4))
        at_risk = sum(int((isi >= lag).sum()) for lag in range(r + 1, r + 4))
        p = float(column_probability(c, g))
        se = np.sqrt(p * (1 - p) / at_risk)
        assert abs(fired / at_risk - p) < 4 * se, (c, fired / at_risk, p)


def test_chip_knows_the_column_defaults():
    from hnnbio.chip.rules import COLUMN_DEFAULTS
    from hnnbio.circuits.column import ColumnParams

    assert COLUMN_DEFAULTS == dataclasses.asdict(ColumnParams())


def _column(params):
    from hnnbio.hnn.files import load_hnn

    hnn = load_hnn("models/bars-column.toml")
    sheet = hnn.populations[0]
    return dataclasses.replace(hnn, populations=[dataclasses.replace(
        sheet, params={**dict(sheet.params), **params})])


@pytest.mark.parametrize("params, field", [
    ({"up_inputs": 2}, "up_inputs 2"),
    ({"up_window_steps": 3}, "up_window_steps 3"),
    ({"input_probability": 0.5}, "input_probability 0.5"),
    ({"fast_steps": 0.5}, "fast_steps 0.5"),
    ({"output": "self_inhibiting"}, "output 'self_inhibiting'"),
    ({"plateau_threshold": 0.5}, "plateau_threshold 0.5"),
    ({"inhibition_steps": 1}, "inhibition_steps 1"),
    ({"bogus": 1}, "bogus: not a column parameter"),
])
def test_column_outside_the_equivalence_is_refused_by_name(params, field):
    with pytest.raises(DesignRuleError, match=f"'column-as-stochastic' violated by .*'sheet'.*"
                                              f"{field}"):
        lower(_column(params))


def test_column_lowers_to_the_stochastic_sheet_two_steps_late():
    from hnnbio.chip.quantize import quantize

    graph = lower("bars-column")
    assert graph.steps_per_cycle == 54
    assert graph.node("delay").params["delay_steps"] == 54 + 2  # the column's two stages
    assert graph.node("sheet").params["refractory_steps"] == 6
    # what the host needs for the first ring (the file's gain 60, scale 1; two stages)
    assert graph.node("sheet").params["column"] == {"attention_gain": 60.0,
                                                    "attention_scale": 1.0, "latency_steps": 2,
                                                    "input_steps": 1}
    assert "column" not in lower("bars").node("sheet").params
    q = quantize(graph)
    hidden, output = q.layers
    # the hidden table is the plain sigmoid (bins of 1/16), untouched by the gate
    k = np.arange(-128, 128)
    sig = 1 / (1 + np.exp(-(k + 0.5) / 16))
    assert np.array_equal(hidden.table, np.clip(np.rint(256 * sig), 0, 255))
    # the output table: 256 x the column's spike probability at attention sigmoid(z), bins of 1/8
    sig = 1 / (1 + np.exp(-(k + 0.5) / 8))
    want = np.clip(np.rint(256 * column_probability(sig, 60.0)), 0, 255)
    assert np.array_equal(output.table, want)
    assert output.table[0] == 0  # z = -16: a foreground pixel with no attention stays silent


def test_shapes_column_exports(tmp_path):
    from hnnbio.chip.compiler import export

    summary = export("shapes-column", tmp_path / "s.hnnc")
    assert (tmp_path / "s.hnnc").stat().st_size == summary["bytes"]
    assert lower("shapes-column").node("delay").params["delay_steps"] == 32 + 2


def test_column_first_cycle_ring_holds_spike_probabilities():
    """The host's first ring for a column program: what the column's float loop would see, i.e.
    silence for the two synaptic stages and the input unit's first step, then 256 p(c) of the
    soft assignment over the D slots."""
    from hnnbio.chip.run import initial_attention

    n, d, latency, pixels, g = 3, 10, 2, 7, 20.0
    column = {"attention_gain": g, "attention_scale": 1.0, "latency_steps": latency,
              "input_steps": 1}
    ring = initial_attention(n, d + latency, pixels, seed=5, column=column)
    plain = initial_attention(n, d, pixels, seed=5)  # round(256 c), c over the D slots
    assert ring.shape == (n, d + latency, pixels)
    assert not ring[:, :latency].any()
    # the same draws: c = |N(0, 1)| normalised over D slots (here from the plain codes' source)
    rng = np.random.default_rng([5, 1])
    c = np.abs(rng.standard_normal((n, d, pixels)))
    c /= c.sum(axis=1, keepdims=True)
    assert np.allclose(c.sum(axis=1), 1.0)
    assert np.array_equal(plain, np.clip(np.rint(256 * c), 0, 255))
    want = np.clip(np.rint(256 * column_probability(c, g)), 0, 255)
    want[:, 0] = 0  # c of the first step gates nothing: the pyramidal has no input yet
    assert np.array_equal(ring[:, latency:], want)
    assert not ring[:, :latency + 1].any() and ring[:, latency + 1:].all()
    # p(c) > c at these small c (g = 20): the column fires more than its raw attention codes say
    assert ring[:, latency:].sum() > plain.sum()


def test_column_program_starts_silent_then_fires_at_p_c():
    """With sheet.column in the program, the emulator's first cycle is the column's: no spike in
    the first three steps (the input unit's step and two synaptic stages: the Brian2 column's
    first output is at step 3), then spikes at the rate of p(c), far above the raw
    soft-assignment codes' c (about 1/D per slot)."""
    from hnnbio.chip.compiler import compile_model
    from hnnbio.chip.run import emulate

    program = compile_model("bars-column")
    images = np.zeros((4, 20, 20), dtype=np.int64)
    images[:, :, 3] = 1  # one vertical bar: 20 foreground pixels each
    plain = emulate(program, images, seed=3, cycles=1).spikes["sheet"]
    program.manifest["sheet"]["column"] = lower("bars-column").node("sheet").params["column"]
    column = emulate(program, images, seed=3, cycles=1).spikes["sheet"]
    assert not np.isin(column.step, (0, 1, 2)).any() and (column.step == 3).any()
    d = 54
    # slots 2 .. 55 hold p(c) of c ~ 1/54: p ~ 60 tanh(1/54) / (1 + ...) ~ 0.5 before the
    # refractory period (6 steps) caps the rate at <= 1/7 per step; raw codes give c ~ 0.02
    early = (column.step < d).sum() / (4 * 20 * (d - 3))
    assert 0.08 < early <= 1 / 7 + 0.02
    assert (plain.step < d).sum() < 0.5 * (column.step < d).sum()
