"""hnnbio.chip.hybrid: a small hybrid graph (driven LIF + leaky LIF + integrator, a rate window,
a torch MLP, a modulation unit) compiled and run bit-exact against an integer reference written
here; a re-pointed route; the count bound against Brian2's exact integration; refusals by name;
per-neuron tau, threshold and gain (codes by hand, bit-exact, Brian2 within the bound)."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from hnnbio.chip.hybrid import (
    ATT_SCALE,
    DRIVE_GAIN,
    HADAMARD_SHIFT,
    INPUT_SCALE,
    compile_hybrid,
    driven_count_bounds,
    run_hybrid,
)
from hnnbio.chip.interpreter import Machine
from hnnbio.chip.program import Program
from hnnbio.chip.snn_rules import HYBRID_RULES
from hnnbio.errors import DesignRuleError

N_IN, N_HID, N_OUT, WINDOW, DELAY, STEPS = 6, 5, 3, 3, 2, 30

TOML = f"""
name = "tiny-hybrid"
[simulation]
dt = "1 ms"
steps = {STEPS}
[inputs.pixels]
size = {N_IN}
[populations.enc]
size = {N_IN}
equations = '''
dv/dt = (v_drive * i_in * att - v) / tau_mem : volt
i_in : 1
att : 1
'''
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ tau_mem = "4 ms", v_drive = "60 mV", v_threshold = "20 mV", v_reset = "0 mV" }}
params = {{ att = 1.0 }}
input = "pixels"
input_variable = "i_in"
[populations.hid]
size = {N_HID}
equations = "dv/dt = -v / tau_mem : volt"
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ tau_mem = "8 ms", v_threshold = "20 mV", v_reset = "0 mV" }}
[populations.out]
size = {N_OUT}
equations = "v : volt"
[synapses.enc_hid]
source = "enc"
target = "hid"
model = "w : 1"
on_pre = "v_post += w * mV"
connect = "all_to_all"
[synapses.hid_out]
source = "hid"
target = "out"
model = "w : 1"
on_pre = "v_post += w * mV"
connect = "all_to_all"
[networks.att]
factory = "hnnbio.experiments.classification:attention_network"
kwargs = {{ n_features = {N_HID}, n_hidden = 4, n_pixels = {N_IN} }}
inputs = ["win"]
[units.win]
source = "hid"
target = "att"
window = {WINDOW}
kernel = "rate"
[units.mod]
source = "att"
target = "enc"
kind = "modulation"
variable = "att"
operation = "multiply"
nonlinearity = "sigmoid"
delay_steps = {DELAY}
initial = "ones"
"""


def _graph(tmp_path, seed=0, text=TOML, zero_net=False):
    from brian2 import mV

    from hnnbio.hnn.files import load_hnn

    path = tmp_path / "tiny.toml"
    path.write_text(text)
    graph = load_hnn(path)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    values = {"enc_hid": rng.uniform(2, 14, N_IN * N_HID),
              "hid_out": rng.uniform(-3, 5, N_HID * N_OUT)}
    syn = [dataclasses.replace(s, values={**s.values, "w": values[s.name]})
           if s.name in values else s for s in graph.synapses]
    pops = [dataclasses.replace(p, params={**p.params, "v": rng.uniform(-2, 2, N_OUT) * mV})
            if p.name == "out" else p for p in graph.populations]
    net = graph.node("att") if any(n.name == "att" for n in graph.networks) else None
    if net is not None:
        with torch.no_grad():
            for m in net.module.modules():
                if isinstance(m, torch.nn.Linear):
                    m.weight.normal_(0, 0.0 if zero_net else 1.5)
                    m.bias.uniform_(-1, 2)
            if zero_net:  # a constant output: sigmoid(0.7) everywhere
                net.module.layers[2].bias.fill_(0.7)
    return dataclasses.replace(graph, synapses=syn, populations=pops)


def _lut(acc, shift, table):
    return table[np.clip(acc >> shift, -128, 127) + 128].astype(np.int64)


def _reference(c, x_codes, steps, perm=None):
    """The integer semantics of hnnbio.chip.hybrid's docstring, step by step (B, n) int64;
    ``perm``: the modulation element k lands on enc neuron perm[k]."""
    enc, hid, out = c.pops["enc"], c.pops["hid"], c.pops["out"]
    w_in = c.pops["hid"].incoming[0][2].astype(np.int64)  # (n_enc, n_hid) codes
    w_out = c.pops["out"].incoming[0][2].astype(np.int64)
    l1, l2 = (ly.q for ly in c.layers["att"])
    B = x_codes.shape[0]
    u_e = np.zeros((B, N_IN), np.int64)
    u_h = np.zeros((B, N_HID), np.int64)
    ref_h = np.zeros((B, N_HID), np.int64)
    tot = np.zeros((B, N_OUT), np.int64)
    s_e_prev = np.zeros((B, N_IN), np.int64)
    hist = [np.zeros((B, N_HID), np.int64)] * WINDOW
    made = []  # modulation codes made at each step
    rec = {"enc": [], "hid": [], "out": [], "mod": []}
    for t in range(steps):
        a = np.full((B, N_IN), ATT_SCALE, np.int64) if t < DELAY else made[t - DELAY]
        if perm is not None and t >= DELAY:
            a = np.zeros_like(a)
            a[:, perm] = made[t - DELAY]
        m = np.clip((x_codes * a) >> HADAMARD_SHIFT, 0, 255)
        u_e = (u_e * enc.alpha >> 8) + DRIVE_GAIN // 2 + DRIVE_GAIN * m
        s_e = u_e > enc.codes["threshold"]
        u_e[s_e] = 0
        active = ref_h == 0
        integ = (u_h * hid.alpha >> 8) + s_e_prev @ w_in
        u_h = np.where(active, integ, u_h)
        ref_h = np.where(active, 0, ref_h - 1)
        s_h = active & (u_h > hid.codes["threshold"])
        u_h[s_h] = 0
        ref_h[s_h] = 1
        tot = tot + s_h.astype(np.int64) @ w_out
        hist = hist[1:] + [s_h.astype(np.int64)]
        count = sum(hist)
        h = _lut(count @ l1.weight.astype(np.int64) + l1.bias, l1.shift, l1.table)
        made.append(_lut(h @ l2.weight.astype(np.int64) + l2.bias, l2.shift, l2.table))
        s_e_prev = s_e.astype(np.int64)
        rec["enc"].append(s_e.astype(np.int64))
        rec["hid"].append(s_h.astype(np.int64))
        rec["out"].append(tot + out.codes["init"])
        rec["mod"].append(a)
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


def _x(batch=7, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, INPUT_SCALE + 1, (batch, N_IN)) / INPUT_SCALE


def test_tiny_hybrid_bit_exact(tmp_path):
    c = compile_hybrid(_graph(tmp_path))
    x = _x()
    res = run_hybrid(c, {"pixels": x}, STEPS)
    ref = _reference(c, np.rint(x * INPUT_SCALE).astype(np.int64), STEPS)
    assert ref["enc"].sum() > 20 and ref["hid"].sum() > 10  # the network is active
    assert len(np.unique(ref["mod"])) > 3  # and the modulation varies
    np.testing.assert_array_equal(res["spikes"]["enc"], ref["enc"])
    np.testing.assert_array_equal(res["spikes"]["hid"], ref["hid"])
    np.testing.assert_array_equal(res["modulation"]["mod"] * ATT_SCALE, ref["mod"])
    np.testing.assert_allclose(res["readout"]["out"], ref["out"][:, -1] * c.pops["out"].lsb)


def test_program_file_round_trip(tmp_path):
    """The compiled program passes load-time validation as a file and runs the same."""
    from hnnbio.chip.compiler import export
    from hnnbio.chip.program import load_program

    graph = _graph(tmp_path)
    rows = export(graph, tmp_path / "tiny.hnnc")
    assert rows["cores"] == 3 + WINDOW + 2  # enc, hid, out; tiles; reducer; second layer
    c = compile_hybrid(graph)
    x = _x()
    machine = Machine(load_program(tmp_path / "tiny.hnnc"))
    machine.reset(len(x), 0, c.encode({"pixels": x}))
    out = machine.run(STEPS, ports=["enc", "hid"])
    res = run_hybrid(c, {"pixels": x}, STEPS)
    np.testing.assert_array_equal(out["hid"], res["spikes"]["hid"])


def test_repointed_modulation_route(tmp_path):
    """Rotating the modulation route's destinations (element k to neuron k - 1) moves the
    attention as the reference with that permutation predicts."""
    c = compile_hybrid(_graph(tmp_path))
    manifest = copy.deepcopy(c.program.manifest)
    hit = 0
    for core in manifest["cores"]:
        for ins in (i for ph in core["phases"].values() for i in ph):
            if ins["op"] == "send" and ins["args"]["to"][0]["buffer"] == "att":
                (to,) = ins["args"]["to"]
                ins["args"]["to"] = [dict(to, lo=0, hi=1, at=N_IN - 1),
                                     dict(to, lo=1, hi=N_IN, at=0)]
                hit += 1
    assert hit == 1
    program = Program(manifest, c.program.arrays)
    x = _x()
    codes = np.rint(x * INPUT_SCALE).astype(np.int64)
    machine = Machine(program)
    machine.reset(len(x), 0, c.encode({"pixels": x}))
    out = machine.run(STEPS, ports=["enc", "hid"])
    perm = (np.arange(N_IN) - 1) % N_IN
    ref = _reference(c, codes, STEPS, perm=perm)
    plain = _reference(c, codes, STEPS)
    assert not np.array_equal(ref["enc"], plain["enc"])  # the re-pointing matters
    np.testing.assert_array_equal(out["enc"], ref["enc"])
    np.testing.assert_array_equal(out["hid"], ref["hid"])


def test_driven_count_bound_holds_for_chip_and_brian2(tmp_path):
    """With a constant modulation (the network's weights 0: a = LUT(0.7), and the unit's initial
    set to that code), every enc neuron's count on the chip and under Brian2's exact
    integration with the applied value lies within driven_count_bounds."""
    import math

    graph = _graph(tmp_path, zero_net=True)
    code = compile_hybrid(graph).layers["att"][-1].q.table  # the LUT; find the code of z = 0.7
    first = compile_hybrid(graph)
    probe = run_hybrid(first, {"pixels": _x(1)}, DELAY + 1)["modulation"]["mod"][0, -1]
    assert np.all(probe == probe[0]) and code.max() > 0
    units = [dataclasses.replace(u, initial=float(probe[0])) if u.name == "mod" else u
             for u in graph.units]
    c = compile_hybrid(dataclasses.replace(graph, units=units))
    x = np.random.default_rng(3).uniform(0, 1, (40, N_IN))
    res = run_hybrid(c, {"pixels": x}, STEPS)
    att = float(probe[0])
    assert np.all(res["modulation"]["mod"] == att)  # constant from step 0
    enc = c.pops["enc"]
    a = math.exp(-1e-3 / enc.tau)
    v, brian = np.zeros_like(x), np.zeros_like(x)
    for _ in range(STEPS):
        v = a * v + (1 - a) * enc.k * x * att
        fired = v > enc.threshold
        brian += fired
        v[fired] = 0.0
    chip = res["spikes"]["enc"].sum(axis=1)
    lo, hi = driven_count_bounds(c, "enc", x, att, STEPS)
    assert np.all((lo <= chip) & (chip <= hi)) and np.all((lo <= brian) & (brian <= hi))
    assert chip.sum() > 50 and np.mean(hi - lo) <= 1.5  # tight enough to mean something


def test_driven_count_bound_without_modulation(tmp_path):
    """No units: enc alone under a held input; chip and Brian2's exact counts within the bound."""
    import math

    text = TOML.split("[populations.hid]")[0].replace("* att ", "")
    c = compile_hybrid(_graph(tmp_path, text=text))
    x = np.random.default_rng(4).uniform(0, 1, (50, N_IN))
    res = run_hybrid(c, {"pixels": x}, 60)
    enc = c.pops["enc"]
    a = math.exp(-1e-3 / enc.tau)
    v, brian = np.zeros_like(x), np.zeros_like(x)
    for _ in range(60):
        v = a * v + (1 - a) * enc.k * x
        fired = v > enc.threshold
        brian += fired
        v[fired] = 0.0
    lo, hi = driven_count_bounds(c, "enc", x, None, 60)
    chip = res["spikes"]["enc"].sum(axis=1)
    assert np.all((lo <= chip) & (chip <= hi)) and np.all((lo <= brian) & (brian <= hi))
    assert chip.sum() > 50


CASES = [
    (("n_hidden = 4", "n_hidden = 300"), "fan_out", "att.0"),
    (("nn.Linear(n_features, n_hidden), nn.ReLU()", None), "network_layers", "att"),
    (('operation = "multiply"', 'operation = "shift"'), "modulation_unit", "mod"),
    (('kernel = "rate"', 'kernel = "exponential"'), "window_unit", "win"),
    (('equations = "dv/dt = -v / tau_mem : volt"', 'equations = "dv/dt = -v**2 / tau_mem / '
      'volt : volt"'), "hybrid_population", "hid"),
    (('connect = "all_to_all"\n[networks', 'connect = {p = 0.5}\n[networks'),
     "random_connectivity", "hid_out"),
]


def test_every_hybrid_rule_has_a_case():
    assert {rule for _, rule, _ in CASES} >= HYBRID_RULES


@pytest.mark.parametrize("edit, rule, node", CASES)
def test_refusals_by_name(tmp_path, edit, rule, node):
    old, new = edit
    if new is None:  # an unknown torch module inside the network
        graph = _graph(tmp_path)
        net = graph.node("att")
        net.module.layers[1] = torch.nn.Tanh()
    else:
        assert old in TOML
        graph = _graph(tmp_path, text=TOML.replace(old, new))
    with pytest.raises(DesignRuleError) as err:
        compile_hybrid(graph)
    assert err.value.rule == rule and err.value.layer == node and rule in HYBRID_RULES | {
        "random_connectivity"}
    assert "\n" not in str(err.value) and f"'{node}'" in str(err.value)


def test_attention_digits_accuracy_on_the_emulator_within_one_point_of_brian2():
    """A trained classification model on one core's fan-in (the dense attention-digits of
    2026-12-02, tests/chip/fixtures; the shipped one, whose readout's fan-in is split over
    partial-sum cores, is tested in tests/chip/test_fan_in.py) on the whole eval split: the
    emulator's accuracy within 1 point of Brian2's."""
    from pathlib import Path

    from hnnbio.chip.hybrid import run_classification_on_chip
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments.classification import check_images, evaluate, model_graphs

    torch.set_num_threads(1)
    model = Path(__file__).resolve().parent / "fixtures" / "attention-dense.toml"
    graph, baseline, settings = model_graphs(model)
    grey, labels = load_digits("eval")
    grey = check_images(grey, 64)
    for g in (graph, baseline):
        chip = run_classification_on_chip(g, settings, grey, labels)
        brian = evaluate(g, settings, grey, labels)
        assert abs(chip["accuracy"] - brian["accuracy"]) <= 0.01
        assert chip["accuracy"] > 0.5  # a trained model, not chance
        assert np.mean(chip["predictions"] == brian["predictions"]) > 0.9


# Per-neuron time constants, thresholds and drive gains: the tiny graph with per-neuron
# tau_mem, v_threshold and v_drive (declared ": second (constant)" / ": volt (constant)", values
# as lists in the file). References written here: the leak codes round(256 exp(-dt / tau)) of
# exactly representable time constants, the driven LSB (1 - alpha / 256) K / (255 g) and its
# threshold codes, _reference step by step, and Brian2's own counts within the count bound.

DT_S = 1e-3
#: leak codes whose time constants -dt / ln(alpha / 256) the chip represents exactly
ENC_ALPHAS = np.array([190, 199, 205, 210, 215, 220])
HID_ALPHAS = np.array([222, 226, 230, 226, 234])
ENC_TH = np.array([20.0, 18.0, 22.0, 25.0, 16.0, 20.0])  # mV
ENC_DRIVE = np.array([60.0, 55.0, 70.0, 60.0, 65.0, 50.0])  # mV
HID_TH = np.array([20.0, 24.0, 18.0, 20.0, 22.0])  # mV


def _taus(alphas):
    return -DT_S / np.log(alphas / 256)


def _list(values, unit):
    return "[" + ", ".join(f'"{v:.12g} {unit}"' for v in values) + "]"


def heterogeneous_toml(text=TOML, enc_reset="0 mV"):
    """TOML (or a part of it) with per-neuron tau_mem, v_threshold, v_drive on enc and tau_mem,
    v_threshold on hid."""
    edits = [("i_in : 1\n", "i_in : 1\ntau_mem : second (constant)\nv_threshold : volt "
              "(constant)\nv_drive : volt (constant)\n"),
             ('namespace = { tau_mem = "4 ms", v_drive = "60 mV", v_threshold = "20 mV", '
              'v_reset = "0 mV" }\nparams = { att = 1.0 }',
              f'namespace = {{ v_reset = "{enc_reset}" }}\nparams = {{ att = 1.0, tau_mem = '
              f'{_list(_taus(ENC_ALPHAS) * 1e3, "ms")}, v_threshold = {_list(ENC_TH, "mV")}, '
              f'v_drive = {_list(ENC_DRIVE, "mV")} }}'),
             ('equations = "dv/dt = -v / tau_mem : volt"',
              "equations = '''\ndv/dt = -v / tau_mem : volt\ntau_mem : second (constant)\n"
              "v_threshold : volt (constant)\n'''"),
             ('namespace = { tau_mem = "8 ms", v_threshold = "20 mV", v_reset = "0 mV" }',
              f'namespace = {{ v_reset = "0 mV" }}\nparams = {{ tau_mem = '
              f'{_list(_taus(HID_ALPHAS) * 1e3, "ms")}, v_threshold = {_list(HID_TH, "mV")} }}')]
    for old, new in edits:
        text = text.replace(old, new)
    return text


def test_per_neuron_parameters_compile_to_hand_computed_codes(tmp_path):
    """alpha is each neuron's exact leak code; the driven LSB and threshold codes follow the
    module's formula neuron by neuron; the lif ops read per-neuron arrays (uint8 alpha, int32
    threshold) of the program, which passes load-time validation as a file."""
    from hnnbio.chip.compiler import export
    from hnnbio.chip.program import load_program

    graph = _graph(tmp_path, text=heterogeneous_toml())
    c = compile_hybrid(graph)
    enc, hid = c.pops["enc"], c.pops["hid"]
    assert np.array_equal(enc.alpha, ENC_ALPHAS) and np.array_equal(hid.alpha, HID_ALPHAS)
    lsb = (1 - ENC_ALPHAS / 256) * ENC_DRIVE * 1e-3 / (ATT_SCALE * DRIVE_GAIN)
    np.testing.assert_allclose(enc.lsb, lsb, rtol=1e-12)
    assert np.array_equal(enc.codes["threshold"], np.rint(ENC_TH * 1e-3 / lsb))
    assert np.array_equal(hid.codes["threshold"], np.rint(HID_TH * 1e-3 / hid.lsb))
    arrays = c.program.arrays
    for pop, alphas in ((enc, ENC_ALPHAS), (hid, HID_ALPHAS)):
        core = pop.cores[0][0]
        lif = next(i for ins in c.program.cores[core].phases.values() for i in ins
                   if i.op == "lif")
        assert (lif.args["alpha"], lif.args["v_threshold"]) == (f"c{core}.alpha",
                                                                f"c{core}.threshold")
        assert arrays[f"c{core}.alpha"].dtype == np.uint8
        assert np.array_equal(arrays[f"c{core}.alpha"], alphas)
        assert np.array_equal(arrays[f"c{core}.threshold"], pop.codes["threshold"])
    export(graph, tmp_path / "het.hnnc")
    assert np.array_equal(load_program(tmp_path / "het.hnnc").arrays["c0.alpha"], ENC_ALPHAS)


def test_per_neuron_parameters_run_bit_exact(tmp_path):
    """The whole hybrid loop (window, MLP, modulation) with per-neuron parameters equals the
    integer reference step by step, and the neurons' parameters act (counts differ under one
    input)."""
    c = compile_hybrid(_graph(tmp_path, text=heterogeneous_toml()))
    x = _x()
    res = run_hybrid(c, {"pixels": x}, STEPS)
    ref = _reference(c, np.rint(x * INPUT_SCALE).astype(np.int64), STEPS)
    assert ref["enc"].sum() > 20 and ref["hid"].sum() > 10
    np.testing.assert_array_equal(res["spikes"]["enc"], ref["enc"])
    np.testing.assert_array_equal(res["spikes"]["hid"], ref["hid"])
    np.testing.assert_array_equal(res["modulation"]["mod"] * ATT_SCALE, ref["mod"])
    np.testing.assert_allclose(res["readout"]["out"], ref["out"][:, -1] * c.pops["out"].lsb)
    same = run_hybrid(c, {"pixels": np.full((1, x.shape[1]), 0.5)}, STEPS)
    assert len(set(same["spikes"]["enc"][0].sum(axis=0).tolist())) > 3


def test_per_neuron_counts_of_brian2_and_the_chip_within_the_bound(tmp_path):
    """The driven population alone under held inputs: Brian2's counts (its own integration of
    the per-neuron equations) and the chip's lie within driven_count_bounds, neuron by neuron."""
    from hnnbio.hnn import simulate

    text = heterogeneous_toml(TOML.split("[populations.hid]")[0].replace("* att ", ""))
    graph = _graph(tmp_path, text=text)
    c = compile_hybrid(graph)
    steps = 200
    x = np.random.default_rng(4).integers(3, INPUT_SCALE + 1, (6, 6)) / INPUT_SCALE
    chip = run_hybrid(c, {"pixels": x}, steps)["spikes"]["enc"].sum(axis=1)
    brian = simulate(graph, {"pixels": x}, steps=steps).spike_counts()["enc"]
    lo, hi = driven_count_bounds(c, "enc", x, None, steps)
    assert np.all((lo <= chip) & (chip <= hi)), (lo, chip, hi)
    assert np.all((lo <= brian) & (brian <= hi)), (lo, brian, hi)
    assert chip.sum() > 200 and np.mean(hi - lo) <= 1.5


def test_a_reset_whose_codes_differ_is_refused_by_name(tmp_path):
    """Per-neuron LSBs make a non-zero reset different codes: one register cannot hold them."""
    graph = _graph(tmp_path, text=heterogeneous_toml(enc_reset="2 mV"))
    with pytest.raises(DesignRuleError) as err:
        compile_hybrid(graph)
    assert err.value.rule == "heterogeneous_parameters" and err.value.layer == "enc"
    assert "v_reset" in str(err.value) and "\n" not in str(err.value)


def test_a_wrong_number_of_values_is_refused_by_name(tmp_path):
    text = heterogeneous_toml().replace(_list(HID_TH, "mV"), _list(HID_TH[:3], "mV"))
    with pytest.raises(DesignRuleError) as err:
        compile_hybrid(_graph(tmp_path, text=text))
    assert err.value.rule == "hybrid_population" and err.value.layer == "hid"
    assert "v_threshold has 3 values for 5 neurons" in str(err.value)


#: TOML with weights in the file (9 and 2 mV per spike), as a user's file would carry them
WEIGHTED = TOML.replace('connect = "all_to_all"\n[synapses.hid_out]',
                        'connect = "all_to_all"\nvalues = { w = 9.0 }\n[synapses.hid_out]'
                        ).replace('connect = "all_to_all"\n[networks',
                                  'connect = "all_to_all"\nvalues = { w = 2.0 }\n[networks')


def test_hnnbio_run_on_the_emulator_compiles_a_users_hybrid_file(tmp_path, capsys):
    """`hnnbio run FILE --backend emulator` on files of no experiment kind that the spiking
    compiler does not map: the per-neuron driven population alone (its counts equal Brian2's,
    as the count bound of width 0 predicts) and the whole tiny hybrid graph (its counts are
    run_hybrid's on the same inputs)."""
    import json

    from hnnbio.cli import main
    from hnnbio.hnn import simulate

    x = np.full((2, N_IN), 0.75)
    np.save(tmp_path / "x.npy", x)
    alone = tmp_path / "alone.toml"
    alone.write_text(heterogeneous_toml(TOML.split("[populations.hid]")[0].replace(
        "* att ", "")))
    whole = tmp_path / "whole.toml"
    whole.write_text(WEIGHTED)
    rows = {}
    for path in (alone, whole):
        assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--backend",
                     "emulator", "--json"]) == 0
        rows[path.stem] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(alone)
    c = compile_hybrid(graph)
    lo, hi = driven_count_bounds(c, "enc", x, None, STEPS)
    brian = simulate(graph, {"pixels": x}, steps=STEPS).spike_counts()["enc"]
    assert np.array_equal(lo, hi) and np.array_equal(brian, lo)
    assert rows["alone"]["spike_counts"] == {"enc": int(brian.sum())}
    direct = run_hybrid(compile_hybrid(load_hnn(whole)), {"pixels": x}, STEPS)["spikes"]
    assert rows["whole"]["spike_counts"] == {k: int(v.sum()) for k, v in direct.items()}
    assert rows["whole"]["spike_counts"]["hid"] > 0 and rows["whole"]["cores"] == 8


DELAYED = """
name = "delayed"
[simulation]
dt = "1 ms"
steps = 60
[inputs.pixels]
size = 6
[populations.enc]
size = 6
equations = '''
dv/dt = (v_drive * i_in - v) / tau_mem : volt
i_in : 1
'''
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = { tau_mem = "4 ms", v_drive = "60 mV", v_threshold = "20 mV", v_reset = "0 mV" }
input = "pixels"
input_variable = "i_in"
[populations.hid]
size = 6
equations = "dv/dt = -v / tau_mem : volt"
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = { tau_mem = "8 ms", v_threshold = "20 mV", v_reset = "0 mV" }
"""
DELAYS_MS = [0, 1, 2, 3, 0, 2]


def _delayed(tmp_path, split=False):
    from hnnbio.hnn.files import load_hnn

    text = DELAYED
    if split:  # the same connections as one synapse per delay, each with a uniform delay
        for d in sorted(set(DELAYS_MS)):
            i = [k for k, x in enumerate(DELAYS_MS) if x == d]
            text += (f'[synapses.d{d}]\nsource = "enc"\ntarget = "hid"\nmodel = "w : 1"\n'
                     f'on_pre = "v_post += w * mV"\nconnect = {{ i = {i}, j = {i} }}\n'
                     + (f'delay = "{d} ms"\n' if d else "") + 'values = { w = 30.0 }\n')
    else:
        delays = ", ".join(f'"{d} ms"' for d in DELAYS_MS)
        text += ('[synapses.s]\nsource = "enc"\ntarget = "hid"\nmodel = "w : 1"\n'
                 'on_pre = "v_post += w * mV"\nconnect = "one_to_one"\n'
                 f'values = {{ w = 30.0, delay = [{delays}] }}\n')
    path = tmp_path / ("split.toml" if split else "delayed.toml")
    path.write_text(text)
    return load_hnn(path)


def test_per_connection_delays_give_brian2s_spikes_step_by_step(tmp_path):
    """One-to-one jumps of 30 mV (over the 20 mV threshold alone) with per-connection delays of
    0 .. 3 ms: every enc spike of step n makes a hid spike at step n + d + 1 (Brian2 and the
    chip, spike by spike), and the program is the one of the same connections as a synapse
    per delay."""
    from hnnbio.hnn import simulate

    graph = _delayed(tmp_path)
    c = compile_hybrid(graph)
    x = np.array([[1.0, 0.9, 0.8, 1.0, 0.7, 0.6]])
    chip = run_hybrid(c, {"pixels": x}, 60)["spikes"]
    res = simulate(graph, {"pixels": x}, steps=60)
    for name in ("enc", "hid"):
        brian = np.zeros((60, 6), dtype=np.int8)
        s = res.spikes[name]
        brian[s.step, s.neuron] = 1
        np.testing.assert_array_equal(chip[name][0], brian, err_msg=name)
    enc, hid = chip["enc"][0], chip["hid"][0]
    for k, d in enumerate(DELAYS_MS):  # hand-computed: hid k fires d + 1 steps after enc k
        times = np.flatnonzero(enc[:, k])
        expected = times[times + d + 1 < 60] + d + 1
        assert np.array_equal(np.flatnonzero(hid[:, k]), expected), k
    split = compile_hybrid(_delayed(tmp_path, split=True))
    same = run_hybrid(split, {"pixels": x}, 60)["spikes"]
    np.testing.assert_array_equal(same["hid"], chip["hid"])
    assert enc.sum() > 30


def test_bad_inputs_on_the_emulator_get_one_line(tmp_path, capsys):
    """`hnnbio run --backend emulator` on a hybrid file: no samples, values beyond the input
    codes, the wrong size: one line, exit status 2 (no samples ended in IndexError)."""
    from hnnbio.cli import main

    path = tmp_path / "tiny.toml"
    path.write_text(WEIGHTED)
    for values, match in ((np.ones((0, N_IN)), "no samples (0 rows)"),
                          (np.full((2, N_IN), 3.0), "values in [0, 1] (the range of the chip"),
                          (np.ones((2, N_IN + 1)), f"shape (B, {N_IN})")):
        np.save(tmp_path / "x.npy", values)
        assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--backend",
                     "emulator"]) == 2
        err = capsys.readouterr().err.strip()
        assert match in err and "\n" not in err, err


def test_emulator_runs_write_the_result_files_brian2_writes(tmp_path, capsys):
    """`hnnbio run FILE --backend emulator --out DIR` writes result.npz and result.nix of the
    chip's spikes, as the Brian2 back end does (it refused --out): for the per-neuron driven
    population alone, per-neuron counts equal to Brian2's files, and the Neo file reads back
    with one train per neuron."""
    import neo

    from hnnbio.cli import main
    from hnnbio.hnn.result import HNNResult

    x = np.full((2, N_IN), 0.75)
    np.save(tmp_path / "x.npy", x)
    path = tmp_path / "alone.toml"
    path.write_text(heterogeneous_toml(TOML.split("[populations.hid]")[0].replace("* att ", "")))
    counts = {}
    for backend in ("emulator", "brian2"):
        out = tmp_path / backend
        assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--backend", backend,
                     "--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["result.nix", "result.npz"]
        counts[backend] = HNNResult.load(out / "result.npz").spike_counts()["enc"]
    capsys.readouterr()
    np.testing.assert_array_equal(counts["emulator"], counts["brian2"])
    assert counts["emulator"].sum() > 100
    with neo.NixIO(str(tmp_path / "emulator" / "result.nix"), mode="ro") as io:
        block = io.read_block()
    assert len(block.segments) == 2 and len(block.segments[0].spiketrains) == N_IN
    assert sum(len(t) for t in block.segments[0].spiketrains) == counts["emulator"][0].sum()


def test_the_documented_hybrid_template_gives_the_quoted_counts(tmp_path):
    """docs/examples/chip_hybrid.toml, as docs/chip.md runs it: the quoted spike counts of
    Brian2 and the emulator on the inputs 6/16 .. 16/16 (the SNN part alone equal on both), and
    input_rounding 0 on the grid, 0.025 off it."""
    from pathlib import Path

    from hnnbio.run import run_file

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "chip_hybrid.toml"
    text = (Path(__file__).resolve().parents[2] / "docs" / "chip.md").read_text()
    np.save(tmp_path / "x16.npy", (np.arange(6, 17, 2) / 16)[None].repeat(4, 0))
    np.save(tmp_path / "x.npy", np.linspace(0.4, 1.0, 6)[None].repeat(4, 0))
    snn = tmp_path / "snn.toml"
    snn.write_text(example.read_text().split("[networks.att]")[0])

    def counts(path, x, backend):
        rows = run_file(path, input=tmp_path / x, backend=backend)
        return rows["spike_counts"]["enc"], rows["spike_counts"]["hid"], rows.get(
            "input_rounding")

    assert counts(example, "x16.npy", "brian2")[:2] == (500, 380)
    assert counts(example, "x16.npy", "emulator") == (500, 380, 0.0)
    assert counts(snn, "x16.npy", "brian2")[:2] == counts(snn, "x16.npy", "emulator")[:2] == (
        540, 580)
    off = counts(snn, "x.npy", "emulator")
    assert off[:2] == (540, 580) and off[2] == pytest.approx(0.025)
    assert counts(snn, "x.npy", "brian2")[:2] == (560, 480)
    for quoted in ("500 enc and 380 hid", "540 and 580 on both",
                   "it is 0.025", "against Brian2's 560 / 480"):
        assert quoted in text
