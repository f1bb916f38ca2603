"""hnnbio.chip.hybrid, the rules the sensing tracker needs, each on a small graph built here and
run bit-exact against an integer reference written here: per-step graph inputs into a driven
population; ``set`` onto a passive population (an output port the host reads, delay and initial
applied by the host); a network with ``every = k`` reading a graph input (its input latched at
the multiples of k: the engine's held output); a network reading a window unit and another
network (concatenation, the provider's 8-bit codes as bit planes). Then refusals by name, and the
shipped sensing-tracker: export exit 0, emulated mean IoU within 0.05 of Brian2's."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from hnnbio.chip.hybrid import DRIVE_GAIN, INPUT_SCALE, NET_INPUT_EXP, compile_hybrid, run_hybrid
from hnnbio.errors import DesignRuleError

N_EV, N_HID, N_FR, N_BOX, WINDOW, EVERY, STEPS, B = 6, 5, 5, 4, 3, 3, 24, 5

TOML = f"""
name = "tiny-tracker"
[simulation]
dt = "1 ms"
steps = {STEPS}
[inputs.ev]
size = {N_EV}
[inputs.fr]
size = {N_FR}
[populations.enc]
size = {N_EV}
equations = '''
dv/dt = (v_drive * i_in - v) / tau_mem : volt
i_in : 1
'''
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ tau_mem = "3 ms", v_drive = "40 mV", v_threshold = "20 mV", v_reset = "0 mV" }}
input = "ev"
input_variable = "i_in"
[populations.hid]
size = {N_HID}
equations = "dv/dt = -v / tau_mem : volt"
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ tau_mem = "5 ms", v_threshold = "20 mV", v_reset = "0 mV" }}
[populations.o_fus]
size = {N_BOX}
equations = "b : 1"
record = false
[populations.o_prov]
size = {N_BOX}
equations = "b : 1"
record = false
[synapses.enc_hid]
source = "enc"
target = "hid"
model = "w : 1"
on_pre = "v_post += w * mV"
connect = "all_to_all"
[networks.prov]
factory = "hnnbio.experiments.tracking:frame_network"
kwargs = {{ n_pixels = {N_FR}, n_hidden = 6 }}
inputs = ["fr"]
every = {EVERY}
[networks.fus]
factory = "hnnbio.experiments.tracking:fusion_network"
kwargs = {{ n_features = {N_HID}, n_hidden = 8 }}
inputs = ["win", "prov"]
[units.win]
source = "hid"
target = "fus"
window = {WINDOW}
kernel = "rate"
[units.out_fus]
source = "fus"
target = "o_fus"
kind = "modulation"
variable = "b"
operation = "set"
delay_steps = 1
initial = 0.25
record_steps = {STEPS}
[units.out_prov]
source = "prov"
target = "o_prov"
kind = "modulation"
variable = "b"
operation = "set"
delay_steps = 0
record_steps = {STEPS}
"""


def _graph(tmp_path, text=TOML, seed=0):
    from hnnbio.hnn.files import load_hnn

    path = tmp_path / "tiny.toml"
    path.write_text(text)
    graph = load_hnn(path)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    syn = [dataclasses.replace(s, values={**s.values, "w": rng.uniform(4, 16, N_EV * N_HID)})
           for s in graph.synapses]
    with torch.no_grad():
        for net in graph.networks:
            for m in net.module.modules():
                if isinstance(m, torch.nn.Linear):
                    m.weight.normal_(0, 0.6)
                    m.bias.uniform_(0.0, 0.5)
    return dataclasses.replace(graph, synapses=syn)


def _inputs(seed=1):
    rng = np.random.default_rng(seed)
    ev = rng.integers(0, 3, (B, STEPS, N_EV)) * (rng.random((B, STEPS, N_EV)) < 0.5)
    fr = rng.integers(0, 129, (B, STEPS, N_FR)) / 128  # exact 8-bit codes
    return {"ev": ev.astype(float), "fr": fr}


def _lut(acc, shift, table):
    return np.asarray(table, np.int64)[np.clip(acc >> shift, -128, 127) + 128]


def _dense(x, q):
    return x @ q.weight.astype(np.int64) + q.bias.astype(np.int64)


def _reference(c, inputs):
    """The integer semantics, step by step: spikes of enc and hid, the codes the host reads."""
    enc, hid = c.pops["enc"], c.pops["hid"]
    w_in = hid.incoming[0][2].astype(np.int64)
    p0, p1 = (ly.q for ly in c.layers["prov"])
    f0, f1, f2 = (ly.q for ly in c.layers["fus"])
    x_ev = np.rint(inputs["ev"] * INPUT_SCALE).astype(np.int64)
    x_fr = np.rint(inputs["fr"] * 2 ** NET_INPUT_EXP).astype(np.int64)
    u_e = np.zeros((B, N_EV), np.int64)
    u_h = np.zeros((B, N_HID), np.int64)
    ref_h = np.zeros((B, N_HID), np.int64)
    s_e_prev = np.zeros((B, N_EV), np.int64)
    hist = [np.zeros((B, N_HID), np.int64)] * WINDOW
    rec = {k: [] for k in ("enc", "hid", "prov_acc", "fus_acc")}
    for t in range(STEPS):
        # the frame network: the frame of step EVERY * floor(t / EVERY), held between
        h = _lut(_dense(x_fr[:, EVERY * (t // EVERY)], p0), p0.shift, p0.table)
        prov_acc = _dense(h, p1)
        code = _lut(prov_acc, p1.shift, p1.table)  # 8-bit codes (a ReLU table: clip at 0)
        u_e = (u_e * enc.alpha >> 8) + DRIVE_GAIN * x_ev[:, t]
        s_e = u_e > enc.codes["threshold"]
        u_e[s_e] = 0
        active = ref_h == 0
        u_h = np.where(active, (u_h * hid.alpha >> 8) + s_e_prev @ w_in, u_h)
        ref_h = np.where(active, 0, ref_h - 1)
        s_h = active & (u_h > hid.codes["threshold"])
        u_h[s_h] = 0
        ref_h[s_h] = 1
        hist = hist[1:] + [s_h.astype(np.int64)]
        bits = np.concatenate([(code >> b) & 1 for b in range(8)], axis=1)  # bit-major
        z = _lut(_dense(np.concatenate([sum(hist), bits], axis=1), f0), f0.shift, f0.table)
        z = _lut(_dense(z, f1), f1.shift, f1.table)
        rec["fus_acc"].append(_dense(z, f2))
        rec["prov_acc"].append(prov_acc)
        rec["enc"].append(s_e.astype(np.int64))
        rec["hid"].append(s_h.astype(np.int64))
        s_e_prev = s_e.astype(np.int64)
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    graph = _graph(tmp_path_factory.mktemp("tiny"))
    c = compile_hybrid(graph, sequences={"ev": STEPS, "fr": STEPS})
    inputs = _inputs()
    return graph, c, inputs, run_hybrid(c, inputs, STEPS), _reference(c, inputs)


def test_per_step_inputs_set_outputs_every_and_concatenation_bit_exact(tiny):
    graph, c, inputs, res, ref = tiny
    assert ref["enc"].sum() > 50 and ref["hid"].sum() > 20  # both populations fire
    assert len(np.unique(ref["fus_acc"])) > 20  # and the fused output varies
    np.testing.assert_array_equal(res["spikes"]["enc"], ref["enc"])
    np.testing.assert_array_equal(res["spikes"]["hid"], ref["hid"])
    assert "o_fus" not in res["spikes"] and "o_prov" not in res["spikes"]  # no chip state
    # set units: the host decodes the accumulator of the linear last layer, 2**-(e_in + e_w)
    for unit, net, acc, delay, initial in (("out_prov", "prov", ref["prov_acc"], 0, 0.0),
                                           ("out_fus", "fus", ref["fus_acc"], 1, 0.25)):
        q = c.layers[net][-1].q
        value = acc * 2.0 ** -(q.e_in + q.e_w.astype(float))
        applied = res["outputs"][unit]
        np.testing.assert_array_equal(applied[:, :delay], initial)
        np.testing.assert_array_equal(applied[:, delay:], value[:, :STEPS - delay])


def test_every_k_holds_the_output_as_the_engine_does(tiny, tmp_path):
    """every = k: the engine calls the network at the multiples of k and holds its output; the
    chip's output equals that held pattern bit for bit and the engine's values within the
    quantisation error (frames are exact 8-bit codes here)."""
    from hnnbio.hnn.engine import Simulation

    graph, c, inputs, res, ref = tiny
    chip = res["outputs"]["out_prov"]
    for start in range(0, STEPS, EVERY):
        block = chip[:, start:start + EVERY]
        np.testing.assert_array_equal(block, np.broadcast_to(block[:, :1], block.shape))
    assert np.ptp(chip[:, ::EVERY], axis=1).max() > 0  # the frames change the output
    sim = Simulation(graph, {k: v.astype(np.float32) for k, v in inputs.items()})
    engine = sim.run(STEPS).applied["out_prov"]  # (B, T, n)
    assert engine.shape == chip.shape
    assert (np.abs(chip - engine) < _prov_bound(graph, c)).all()
    # and the engine holds the same blocks
    for start in range(0, STEPS, EVERY):
        block = engine[:, start:start + EVERY]
        np.testing.assert_allclose(block, np.broadcast_to(block[:, :1], block.shape))


def _prov_bound(graph, c):
    """The chip's error on the frame network's output for exact 8-bit inputs in [0, 1]: weight
    and bias rounding (half a code each), the hidden ReLU table's bin (half its width) and value
    rounding (half a code), carried through the linear output layer's |W| and its rounding."""
    p0, p1 = (ly.q for ly in c.layers["prov"])
    lin0, lin1 = (m for m in graph.node("prov").module if isinstance(m, torch.nn.Linear))
    w1 = np.abs(lin1.weight.detach().double().numpy())  # (n_out, n_hidden)
    e_z = N_FR * 2.0 ** -(p0.e_w + 1.0) + 2.0 ** -(p0.e_in + p0.e_w + 1.0)
    dz = 2.0 ** (p0.shift - p0.e_in - p0.e_w.astype(float))
    e_h = e_z + dz / 2 + 2.0 ** -(p0.e_out + 1.0)
    h_max = float(p0.table.max()) * 2.0 ** -p0.e_out
    return (w1 @ e_h + w1.shape[1] * h_max * 2.0 ** -(p1.e_w + 1.0)
            + 2.0 ** -(p1.e_in + p1.e_w + 1.0))


def test_bit_planes_are_the_provider_weights(tiny):
    """The concatenated first layer: bit b of the provider's codes (value 2**(b - e) each) has
    int8 weights within half a code of W 2**(e_w + b - e)."""
    graph, c, _, _, _ = tiny
    q = c.layers["fus"][0].q
    e = c.layers["prov"][-1].q.e_out
    w = graph.node("fus").module[0].weight.detach().double().numpy()[:, N_HID:]  # (n_out, 4)
    rows = q.weight[N_HID:].astype(float).reshape(8, N_BOX, -1)  # (bit, provider out, n_out)
    for b in range(8):
        exact = w.T * 2.0 ** (q.e_w[None, :] + b - e)
        fits = np.abs(exact) <= 127
        assert np.abs(rows[b] - exact)[fits].max() <= 0.5 + 1e-9
    assert fits.any()


REFUSALS = [
    ('operation = "set"\ndelay_steps = 1\ninitial = 0.25',
     'operation = "multiply"\ndelay_steps = 1\ninitial = 0.25', "modulation_unit", "out_fus"),
    ('[populations.o_prov]\nsize = 4\nequations = "b : 1"',
     '[populations.o_prov]\nsize = 4\nequations = "dv/dt = -v / tau : volt\\nb : 1"\n'
     'threshold = "v > th"\nreset = "v = r"\nnamespace = { tau = "5 ms", th = "20 mV", '
     'r = "0 mV" }', "modulation_unit", "out_prov"),
    ('inputs = ["win", "prov"]', 'inputs = ["prov", "win"]', "network_layers", "fus"),
    ('inputs = ["win", "prov"]', 'inputs = ["win", "prov"]\nevery = 2', "network_layers", "fus"),
]


@pytest.mark.parametrize("old, new, rule, node", REFUSALS)
def test_refusals_by_name(tmp_path, old, new, rule, node):
    assert TOML.count(old) == 1
    graph = _graph(tmp_path, TOML.replace(old, new))
    with pytest.raises(DesignRuleError) as info:
        compile_hybrid(graph)
    assert (info.value.rule, info.value.layer) == (rule, node)


def test_shipped_tracker_exports_and_tracks_on_the_emulator_as_in_brian2(tmp_path, capsys):
    """``hnnbio export`` exits 0; ``hnnbio run --backend emulator`` on 4 evaluation streams gives
    a mean IoU within 0.05 of Brian2's on the same streams."""
    from hnnbio.cli import main
    from hnnbio.experiments.tracking import run_tracking

    model = "models/sensing-tracker.toml"
    assert main(["export", "--model", model, "-o", str(tmp_path / "t.hnnc")]) == 0
    capsys.readouterr()
    assert main(["run", model, "--json", "--images", "4", "--backend", "emulator"]) == 0
    chip = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    brian = run_tracking(model, images=4)
    assert chip["streams"] == brian["streams"] == 4
    assert chip["stream_seeds"] == brian["stream_seeds"]
    assert abs(chip["mean_iou"] - brian["mean_iou"]) < 0.05
    assert abs(chip["baseline"]["mean_iou"] - brian["baseline"]["mean_iou"]) < 0.05
    assert chip["spikes_per_population"] == pytest.approx(brian["spikes_per_population"],
                                                          rel=0.02)


def test_program_file_round_trip(tiny, tmp_path):
    """The exported program (per-step ports from ``chip_sequences``) passes load-time
    validation as a file and runs as the compiled one: the same spikes and output codes."""
    from hnnbio.chip.compiler import export
    from hnnbio.chip.interpreter import Machine
    from hnnbio.chip.program import load_program

    graph, c, inputs, res, _ = tiny
    graph = dataclasses.replace(graph, experiment={
        **graph.experiment, "chip_sequences": {"ev": STEPS, "fr": STEPS}})
    export(graph, tmp_path / "tiny.hnnc")
    machine = Machine(load_program(tmp_path / "tiny.hnnc"))
    machine.reset(B, 0, c.encode(inputs))
    out = machine.run(STEPS, ports=["enc", "hid", "out_prov", "out_fus"])
    np.testing.assert_array_equal(out["enc"], res["spikes"]["enc"])
    np.testing.assert_array_equal(out["hid"], res["spikes"]["hid"])
    q = c.layers["fus"][-1].q
    np.testing.assert_array_equal(out["out_fus"][:, :-1] * 2.0 ** -(q.e_in + q.e_w.astype(float)),
                                  res["outputs"]["out_fus"][:, 1:])
