"""hnnbio.chip.hybrid: fan-in beyond a core's 256 axons, split over partial-sum cores.

A graph built here (600 driven LIF neurons onto a leaky LIF population and onto integrators, a
fan-in of 600) runs bit-exact against an integer reference written here and equal to the same
graph compiled for a chip whose cores hold all 600 axons; a re-pointed partial-sum route
changes the sums as predicted; overflow and mesh limits are refused by name; the shipped
attention-digits (2048 -> 10 readout) exports and runs on the emulator close to Brian2.
"""

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hnnbio.chip.hybrid import DRIVE_GAIN, INPUT_SCALE, compile_hybrid, run_hybrid
from hnnbio.chip.interpreter import Machine
from hnnbio.chip.program import Program
from hnnbio.chip.spec import TIANJIC_LIKE
from hnnbio.errors import DesignRuleError, ParameterError

N_IN, N_HID, N_OUT, STEPS, AXONS = 600, 20, 10, 25, 256

TOML = f"""
name = "wide-fan-in"
[simulation]
dt = "1 ms"
steps = {STEPS}
[inputs.pixels]
size = {N_IN}
[populations.enc]
size = {N_IN}
equations = "dv/dt = (v_drive * i_in - v) / tau_mem : volt"
threshold = "v > v_threshold"
reset = "v = v_reset"
method = "exact"
namespace = {{ tau_mem = "4 ms", v_drive = "60 mV", v_threshold = "20 mV", v_reset = "0 mV" }}
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
[synapses.enc_out]
source = "enc"
target = "out"
model = "w : 1"
on_pre = "v_post += w * mV"
connect = "all_to_all"
"""


def _graph(tmp_path, text=TOML, seed=0):
    from brian2 import mV

    from hnnbio.hnn.files import load_hnn

    path = tmp_path / "wide.toml"
    path.write_text(text)
    graph = load_hnn(path)
    rng = np.random.default_rng(seed)
    values = {"enc_hid": rng.uniform(-0.6, 0.9, N_IN * N_HID),
              "enc_out": rng.uniform(-3, 5, N_IN * N_OUT)}
    values["enc_hid"][::97] = 8.0  # a few strong synapses: one part per weight puts hid's
    # threshold at 20 mV / (8 mV * 232/256 / 127) = 350 codes
    syn = [dataclasses.replace(s, values={**s.values, "w": values[s.name]})
           for s in graph.synapses]
    pops = [dataclasses.replace(p, params={**p.params, "v": rng.uniform(-2, 2, N_OUT) * mV})
            if p.name == "out" else p for p in graph.populations]
    return dataclasses.replace(graph, synapses=syn, populations=pops)


def _x(batch=6, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, INPUT_SCALE + 1, (batch, N_IN)) / INPUT_SCALE


def _blocks(w, shift_block=None):
    """s -> the sum over axon blocks [256k, 256k + 256) of s_block @ w_block; the partial sum of
    block ``shift_block`` lands one neuron later (neuron 0 gets none of it)."""
    def total(s):
        out = np.zeros((s.shape[0], w.shape[1]), np.int64)
        for k, lo in enumerate(range(0, N_IN, AXONS)):
            part = s[:, lo:lo + AXONS] @ w[lo:lo + AXONS]
            if k == shift_block:
                part = np.concatenate([np.zeros_like(part[:, :1]), part[:, :-1]], axis=1)
            out += part
        return out
    return total


def _reference(c, x_codes, steps, shift_hid=None, shift_out=None):
    """The integer semantics of the hybrid docstring, step by step, with every sum exact in
    int64 (what one core holding all 600 axons computes)."""
    enc, hid, out = c.pops["enc"], c.pops["hid"], c.pops["out"]
    w_hid = _blocks(hid.incoming[0][2].astype(np.int64), shift_hid)  # (600, 20) weight codes
    w_out = _blocks(out.incoming[0][2].astype(np.int64), shift_out)
    B = x_codes.shape[0]
    u_e = np.zeros((B, N_IN), np.int64)
    u_h = np.zeros((B, N_HID), np.int64)
    ref_h = np.zeros((B, N_HID), np.int64)
    tot = np.zeros((B, N_OUT), np.int64)
    s_prev = np.zeros((B, N_IN), np.int64)
    rec = {"enc": [], "hid": [], "out": []}
    for _ in range(steps):
        u_e = (u_e * enc.alpha >> 8) + DRIVE_GAIN * x_codes
        s_e = u_e > enc.codes["threshold"]
        u_e[s_e] = 0
        active = ref_h == 0  # the jumps of the step a neuron fired are dropped (Brian2's reset)
        u_h = np.where(active, (u_h * hid.alpha >> 8) + w_hid(s_prev), u_h)
        ref_h = np.where(active, 0, ref_h - 1)
        s_h = active & (u_h > hid.codes["threshold"])
        u_h[s_h] = 0
        ref_h[s_h] = 1
        tot = tot + w_out(s_e.astype(np.int64))  # integrator: the spikes of the same step
        s_prev = s_e.astype(np.int64)
        rec["enc"].append(s_e.astype(np.int64))
        rec["hid"].append(s_h.astype(np.int64))
        rec["out"].append(tot + out.codes["init"])
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


def _machine_run(program, c, x, steps):
    machine = Machine(program)
    machine.reset(len(x), 0, c.encode({"pixels": x}))
    return machine.run(steps, ports=["enc", "hid", "out"])


@pytest.mark.parametrize("membrane_codes", [0, 512])
def test_fan_in_600_bit_exact(tmp_path, membrane_codes):
    """Both targets split over partial-sum cores (1 int8 part per weight, or the parts that put
    hid's threshold above 512 codes); spikes and readout codes equal the exact reference."""
    c = compile_hybrid(_graph(tmp_path), membrane_codes=membrane_codes)
    hid, out = c.pops["hid"], c.pops["out"]
    assert out.copies == 1 and len(out.partial_cores) == 2  # blocks 256 + 256 + 88
    if membrane_codes:
        assert hid.copies > 1 and hid.codes["threshold"] >= 512
        assert len(hid.partial_cores) == -(-N_IN * hid.copies // AXONS) - 1
    else:
        assert hid.copies == 1 and len(hid.partial_cores) == 2
    x = _x()
    got = _machine_run(c.program, c, x, STEPS)
    ref = _reference(c, np.rint(x * INPUT_SCALE).astype(np.int64), STEPS)
    assert ref["enc"].sum() > 1000 and 20 < ref["hid"].sum() < 0.5 * ref["hid"].size
    assert np.abs(ref["out"]).max() > 2 ** 15  # sums beyond a 16-bit packet's range
    for k in ("enc", "hid", "out"):
        np.testing.assert_array_equal(got[k], ref[k])
    res = run_hybrid(c, {"pixels": x}, STEPS)
    np.testing.assert_allclose(res["readout"]["out"], ref["out"][:, -1] * out.lsb)
    # the partial sums travel as 16-bit packets at most (127 * 256 < 2**15)
    bits = [r["bits"] for r in c.program.manifest["routes"] if r["buffer"].startswith("p")]
    assert bits and max(bits) <= 16


def test_split_equals_one_big_core(tmp_path):
    """The same graph for a chip whose cores hold 1024 axons (no split) gives identical spikes
    and readout codes."""
    graph = _graph(tmp_path)
    split = compile_hybrid(graph, membrane_codes=0)
    big = compile_hybrid(graph, dataclasses.replace(TIANJIC_LIKE, axons_per_core=1024),
                         membrane_codes=0)
    assert not big.pops["out"].partial_cores and split.pops["out"].partial_cores
    x = _x(seed=5)
    a = _machine_run(split.program, split, x, STEPS)
    b = _machine_run(big.program, big, x, STEPS)
    for k in ("enc", "hid", "out"):
        np.testing.assert_array_equal(a[k], b[k])


def test_repointed_partial_sum_routes(tmp_path):
    """Shifting the route of block 1's partial sums by one element (neuron j's sum lands on
    j + 1), for the leaky and the integrator target, changes both as the shifted reference
    predicts."""
    c = compile_hybrid(_graph(tmp_path), membrane_codes=0)
    manifest = copy.deepcopy(c.program.manifest)
    targets = {c.pops["hid"].cores[0][0]: N_HID, c.pops["out"].cores[0][0]: N_OUT}
    hit = 0
    for core in manifest["cores"]:
        for ins in (i for ph in core["phases"].values() for i in ph):
            if ins["op"] != "send":
                continue
            (to, *more) = ins["args"]["to"]
            if to["buffer"] == "p1" and to["core"] in targets and not more:
                n = targets[to["core"]]
                ins["args"]["to"] = [dict(to, lo=0, hi=n - 1, at=1)]
                hit += 1
    assert hit == 2
    x = _x(seed=2)
    got = _machine_run(Program(manifest, c.program.arrays), c, x, STEPS)
    codes = np.rint(x * INPUT_SCALE).astype(np.int64)
    ref = _reference(c, codes, STEPS, shift_hid=1, shift_out=1)
    plain = _reference(c, codes, STEPS)
    assert not np.array_equal(ref["hid"], plain["hid"])  # the re-pointing matters
    assert not np.array_equal(ref["out"], plain["out"])
    np.testing.assert_array_equal(got["enc"], plain["enc"])
    np.testing.assert_array_equal(got["hid"], ref["hid"])
    np.testing.assert_array_equal(got["out"], ref["out"])


def test_integrator_overflow_is_refused_with_the_bound(tmp_path):
    """An integrator's running sum grows by up to S = max_j sum_i |w_ij| codes a step (about
    32,000 here), so it is exact for (2**31 - 1 - max |v0|) // S steps (about 67,000): a graph of
    10**6 steps is refused (rule fan_in, the bound named); a run longer than the bound is
    refused before it starts."""
    with pytest.raises(DesignRuleError) as err:
        compile_hybrid(_graph(tmp_path, TOML.replace(f"steps = {STEPS}", "steps = 1000000")))
    assert err.value.rule == "fan_in" and err.value.layer == "out"
    assert "exact for at most" in str(err.value) and "\n" not in str(err.value)
    c = compile_hybrid(_graph(tmp_path))
    s_max = int(np.abs(c.pops["out"].incoming[0][2]).sum(axis=0).max())
    init = int(np.abs(c.pops["out"].codes["init"]).max())
    assert c.pops["out"].max_steps == (2 ** 31 - 1 - init) // s_max
    with pytest.raises(ParameterError, match="partial sums stay exact"):
        run_hybrid(c, {"pixels": _x(1)}, c.pops["out"].max_steps + 1)


def test_mesh_too_small_is_refused_with_the_numbers(tmp_path):
    """11 cores with 2 parts per hid weight do not fit 6; nor do the 9 without (3 enc, hid, out,
    2 + 2 partial-sum cores): refused by name with the numbers. A mesh of 9 takes the 9."""
    chip = dataclasses.replace(TIANJIC_LIKE, mesh_x=3, mesh_y=2)
    with pytest.raises(DesignRuleError) as err:
        compile_hybrid(_graph(tmp_path), chip)
    assert err.value.rule == "mesh" and "\n" not in str(err.value)
    assert "needs 9 cores, the mesh has 6" in str(err.value)
    assert len(compile_hybrid(_graph(tmp_path)).program.cores) == 11
    c = compile_hybrid(_graph(tmp_path), dataclasses.replace(TIANJIC_LIKE, mesh_x=3, mesh_y=3))
    assert len(c.program.cores) == 9 and c.pops["hid"].copies == 1


MODEL = Path(__file__).resolve().parents[2] / "models" / "attention-digits.toml"


def test_shipped_attention_digits_on_the_emulator(tmp_path, capsys):
    """The shipped model (readout fan-in 2048, attention network fed 2048 rates) exports and
    runs on the emulator: on 40 evaluation images the predictions agree with Brian2's on >= 90 %
    and the accuracies are within 0.05, for the model and its baseline."""
    from hnnbio.chip.program import load_program
    from hnnbio.cli import main
    from hnnbio.data.digits import load_digits

    target = tmp_path / "att.hnnc"
    assert main(["export", "--model", str(MODEL), "-o", str(target), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["cores"] <= TIANJIC_LIKE.n_cores and target.exists()
    assert len(load_program(target).cores) == rows["cores"]
    grey, labels = load_digits("eval")
    np.save(tmp_path / "x.npy", grey[:40])
    runs = {}
    for backend in ("emulator", "brian2"):
        assert main(["run", str(MODEL), "--json", "--input", str(tmp_path / "x.npy"),
                     "--backend", backend]) == 0
        runs[backend] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    chip, brian = runs["emulator"], runs["brian2"]
    for c, b in ((chip, brian), (chip["baseline"], brian["baseline"])):
        pc, pb = np.array(c["predictions"]), np.array(b["predictions"])
        assert np.mean(pc == pb) >= 0.9
        assert abs(np.mean(pc == labels[:40]) - np.mean(pb == labels[:40])) <= 0.05
        assert np.mean(pb == labels[:40]) > 0.8  # a trained model
        assert c["spikes_per_sample"] == pytest.approx(b["spikes_per_sample"], rel=0.05)
