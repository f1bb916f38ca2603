"""HIFI on the chip: the lif op's per-neuron leak and threshold arrays, and the HIFI compiler
(hnnbio.chip.hifi), checked against hand-computed sequences, an integer reference of the
documented dataflow written here, and the published float update."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hnnbio.chip.hifi import compile_hifi, run_hifi_on_chip
from hnnbio.chip.interpreter import Machine
from hnnbio.chip.program import Program, from_bytes, to_bytes
from hnnbio.chip.spec import TIANJIC_LIKE
from hnnbio.errors import DataError, HnnbioError, ProgramError

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "hifi-digits.toml"


def _lif_program(alpha, threshold):
    """One core: a held 8-bit drive into a lif with per-neuron alpha and threshold arrays."""
    n = len(alpha)
    lif = {"input": "drive", "v": "v", "refractory": "ref", "spikes": "spikes", "rand": None,
           "alpha": "c0.alpha", "v_leak": 0, "v_threshold": "c0.threshold", "noise_mask": 0,
           "reset_mode": "value", "v_reset": 0, "refractory_steps": 0}
    core = {"core": 0, "x": 0, "y": 0, "layer": "p", "role": "lif", "neurons": [0, n],
            "axons": [0, n],
            "buffers": {"drive": {"size": n, "bits": 8, "signed": False},
                        "v": {"size": n, "bits": 28, "signed": True},
                        "ref": {"size": n, "bits": 4, "signed": False},
                        "spikes": {"size": n, "bits": 1, "signed": False}},
            "phases": {"0": [{"block": "soma1", "op": "lif", "args": lif}]}}
    ports = {"inputs": [{"name": "drive", "size": n, "mode": "hold", "parts": [
        {"core": 0, "buffer": "drive", "lo": 0, "hi": n, "at": 0}]}],
        "outputs": [{"name": "spikes", "size": n, "parts": [
            {"core": 0, "buffer": "spikes", "lo": 0, "hi": n, "at": 0}]}]}
    manifest = {"chip": TIANJIC_LIKE.to_dict(), "cores": [core], "n_phases": 1, "ports": ports,
                "lfsr_shifts_per_step": 1, "lfsr_streams": 1}
    return Program(manifest, {"c0.alpha": np.asarray(alpha, dtype=np.uint8),
                              "c0.threshold": np.asarray(threshold, dtype=np.int32)})


def test_per_neuron_leak_and_threshold_follow_the_hand_computed_sequences():
    # v = ((v * alpha) >> 8) + input; a spike when v > threshold, then v = 0. By hand:
    #   alpha 0,   threshold 5,  input 6: v = 6 every step, a spike every step;
    #   alpha 128, threshold 10, input 6: v = 6, 9, 10, 11 (spike), 6, 9, 10, 11 (spike), ...
    #   alpha 255, threshold 20, input 5: v = 5, 9, 13, 17, 21 (spike), 5, 9, 13, 17, 21 (spike)
    machine = Machine(_lif_program([0, 128, 255], [5, 10, 20]))
    machine.reset(1, 0, {"drive": np.array([[6, 6, 5]])})
    spikes = machine.run(10, ports=["spikes"])["spikes"][0]
    assert [list(np.flatnonzero(spikes[:, k])) for k in range(3)] == [
        list(range(10)), [3, 7], [4, 9]]


def test_register_and_array_forms_agree_when_the_array_is_constant():
    from hnnbio.chip import primitives as P

    v = np.array([[0, 40, -7, 300]])
    ref = np.zeros_like(v)
    inp = np.array([[5, -3, 12, 1]])
    a = P.lif_step(v, ref, inp, alpha=200, v_leak=1, v_threshold=50)
    b = P.lif_step(v, ref, inp, alpha=np.full(4, 200), v_leak=1, v_threshold=np.full(4, 50))
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def _arrays(rng, n_in=3, n=4, n_out=3, recurrent=False):
    return dict(w_in=rng.normal(0, 0.6, (n_in, n)), b_in=rng.normal(0, 0.05, n),
                w_out=rng.normal(0, 0.5, (n, n_out)), b_out=rng.normal(0, 0.02, n_out),
                w_rec=rng.normal(0, 0.2, (n, n)) if recurrent else None,
                leak=rng.uniform(0.1, 0.5, n), w_self=rng.uniform(0.01, 0.1, n),
                v_threshold=rng.uniform(0.3, 1.2, n), v_rest=0.0, gain=1.0)


def _float_update(a, x):
    """The published discrete update (float64), B samples: spikes (B, T, N) and logits."""
    b, steps, _ = x.shape
    n = a["w_in"].shape[1]
    v, s = np.full((b, n), a["v_rest"]), np.zeros((b, n))
    logits = np.tile(a["b_out"], (b, 1))
    out = np.zeros((b, steps, n), dtype=np.int64)
    for t in range(steps):
        current = x[:, t] @ a["w_in"] + a["b_in"]
        if a["w_rec"] is not None:
            current = current + s @ a["w_rec"]
        v = (1 - a["leak"]) * (v * (1 - s) + a["v_rest"] * s) + a["leak"] * a["v_rest"] \
            + a["gain"] * (current - a["w_self"] * s)
        s = (v >= a["v_threshold"]).astype(float)
        out[:, t] = s
        logits = logits + s @ a["w_out"]
    return out, logits


def _integer_reference(program, codes, steps):
    """The documented dataflow of the two cores, in Python integers, from the program's arrays:
    cur = x W_in; rec = s[t-1] W_rec; v = ((v alpha) >> 8) + cur + rec + bias; spike when
    v > threshold (then v = 0); tot += s W_out. ``codes`` (B, n_in) held input codes."""
    arr = program.arrays
    w_in, w_rec = arr["c0.in.weight"].astype(int), arr["c0.rec.weight"].astype(int)
    w_out, bias = arr["c1.weight"].astype(int), arr["c0.bias"].astype(int)
    alpha, th = arr["c0.alpha"].astype(int), arr["c0.threshold"].astype(int)
    n = len(alpha)
    copies_in, copies_rec, copies_out = (w.shape[0] // k for w, k in (
        (w_in, codes.shape[1]), (w_rec, n), (w_out, n)))
    spikes = np.zeros((len(codes), steps, n), dtype=np.int64)
    tot = np.zeros((len(codes), w_out.shape[1]), dtype=np.int64)
    for b, x in enumerate(codes):
        v, s = [0] * n, [0] * n
        xs = list(x) * copies_in
        for t in range(steps):
            prev = s * copies_rec
            new = []
            for k in range(n):
                drive = sum(xs[i] * w_in[i, k] for i in range(len(xs))) \
                    + sum(prev[j] * w_rec[j, k] for j in range(len(prev))) + bias[k]
                v[k] = ((v[k] * alpha[k]) >> 8) + drive
                fired = int(v[k] > th[k])
                if fired:
                    v[k] = 0
                new.append(fired)
            s = new
            spikes[b, t] = s
            pre = s * copies_out
            tot[b] += [sum(pre[j] * w_out[j, o] for j in range(len(pre)))
                       for o in range(w_out.shape[1])]
    return spikes, tot


@pytest.mark.parametrize("recurrent", [False, True])
def test_a_small_network_runs_bit_exact_against_the_integer_reference(recurrent):
    rng = np.random.default_rng(3)
    a = _arrays(rng, recurrent=recurrent)
    compiled = compile_hifi(a, name="tiny")
    codes = rng.integers(0, 17, (5, 3))
    x = np.repeat(codes[:, None, :] / 16, 12, axis=1)
    res = run_hifi_on_chip(compiled, x)
    spikes, tot = _integer_reference(compiled.program, codes, 12)
    assert spikes.sum() > 10  # the test exercises spikes and resets
    assert np.array_equal(res["spikes"], spikes)
    assert np.allclose(res["logits"], tot / compiled.out_scale + a["b_out"])


def test_the_chip_follows_the_float_update_closely():
    rng = np.random.default_rng(5)
    a = _arrays(rng, n_in=8, n=32, n_out=4)
    x = rng.integers(0, 17, (40, 16, 8)) / 16  # a new frame every step
    compiled = compile_hifi(a, name="small", steps=16)
    res = run_hifi_on_chip(compiled, x)
    spikes, logits = _float_update(a, x)
    assert spikes.mean() > 0.05
    assert np.mean(res["spikes"] == spikes) > 0.99
    counts = spikes.sum(axis=1).ravel()
    assert np.corrcoef(res["counts"].ravel(), counts)[0, 1] > 0.99


def test_a_rest_value_and_gain_are_absorbed_exactly_in_the_float_limit():
    # u = U - U_rest turns the update into one without U_rest (threshold theta - U_rest), and C
    # scales the drive: the chip of (v_rest, gain) = (0.3, 0.8) follows the float update too
    rng = np.random.default_rng(8)
    a = {**_arrays(rng, n_in=8, n=32), "v_rest": 0.3, "gain": 0.8}
    a["v_threshold"] = a["v_threshold"] + 0.3
    x = rng.integers(0, 17, (40, 1, 8)).repeat(10, axis=1) / 16
    res = run_hifi_on_chip(compile_hifi(a, name="rest"), x)
    spikes, _ = _float_update(a, x)
    assert spikes.mean() > 0.05 and np.mean(res["spikes"] == spikes) > 0.99


def test_inputs_that_are_not_input_codes_are_one_line():
    compiled = compile_hifi(_arrays(np.random.default_rng(0)), name="tiny")
    for x, match in ((np.full((2, 4, 3), 0.3), "multiples of 1/16"),
                     (np.full((2, 4, 5), 0.5), r"\(B, T, 3\)"),
                     (np.concatenate([np.zeros((1, 2, 3)), np.ones((1, 2, 3))], 1),
                      "holds one input frame")):
        with pytest.raises(DataError, match=match):
            run_hifi_on_chip(compiled, x)


def _signed(manifest, arrays):
    return to_bytes(Program(manifest, arrays))


@pytest.mark.parametrize("key, value, field", [
    ("c0.alpha", np.zeros(5, dtype=np.uint8), "alpha"),
    ("c0.alpha", np.zeros(4, dtype=np.int32), "alpha"),
    ("c0.threshold", np.full(4, 1 << 29, dtype=np.int32), "v_threshold"),
    ("c0.threshold", np.zeros(3, dtype=np.int32), "v_threshold"),
])
def test_per_neuron_arrays_of_the_wrong_shape_type_or_range_are_refused_at_load(key, value,
                                                                                field):
    compiled = compile_hifi(_arrays(np.random.default_rng(0)), name="tiny")
    p = compiled.program
    arrays = {**p.arrays, key: value}
    with pytest.raises(ProgramError) as info:
        from_bytes(_signed(p.manifest, arrays))
    message = str(info.value)
    assert "\n" not in message and field in message
    assert key.endswith("alpha") or "core 0" in message or "c0" in message


ARRAY_VALUES = st.one_of(st.integers(-(1 << 40), 1 << 40), st.sampled_from([0, 1, 255, 256]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["alpha", "v_threshold", "v_leak", "v_reset", "reset_mode",
                              "refractory_steps"]),
       value=st.one_of(ARRAY_VALUES, st.sampled_from(["c0.alpha", "c0.threshold", "c0.bias",
                                                      "nope", None, 1.5, True])))
def test_mutated_lif_fields_are_refused_by_name_or_run(field, value):
    compiled = compile_hifi(_arrays(np.random.default_rng(0)), name="tiny")
    p = compiled.program
    manifest = {**p.manifest, "cores": [dict(c) for c in p.manifest["cores"]]}
    core = manifest["cores"][0] = {**manifest["cores"][0]}
    phases = {k: [dict(i) for i in v] for k, v in core["phases"].items()}
    lif = next(i for i in phases["2"] if i["op"] == "lif")
    lif["args"] = {**lif["args"], field: value}
    core["phases"] = phases
    try:
        program = from_bytes(_signed(manifest, p.arrays))
    except ProgramError as exc:
        assert "\n" not in str(exc) and re.search(r"core 0|c0|lif", str(exc))
        return
    try:
        res = run_hifi_on_chip(compiled.__class__(program, 16, None, compiled.out_scale,
                                                  compiled.b_out, compiled.scales),
                               np.full((2, 3, 3), 0.5))
    except HnnbioError:
        return
    assert res["spikes"].shape == (2, 3, 4)


@pytest.fixture(scope="module")
def model():
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments import hifi

    m, s, d = hifi.read_model(MODEL)
    grey, labels = load_digits("eval")
    return hifi, m, d, hifi.load_networks(m, s, d), hifi.check_images(grey), labels


@pytest.mark.parametrize("task", ["static", "temporal"])
def test_the_shipped_hifi_networks_on_the_chip_are_within_a_point_of_brian2(model, task):
    # the twin equals Brian2 spike for spike (tests/literature/test_hifi.py)
    hifi, m, design, nets, grey, labels = model
    x = hifi.task_inputs(task, grey, design, m.steps)
    row = hifi.evaluate_on_chip(nets[task]["hifi"], task, design, x, labels, "hifi")
    assert abs(row["accuracy"] - row["twin_accuracy"]) <= 0.01
    assert row["chip_twin_spike_correlation"] >= 0.99 and row["twin_agreement"] >= 0.97
    assert row["cores"] == 2


def test_export_writes_a_program_and_emulate_points_to_run(tmp_path, capsys):
    from hnnbio.cli import main

    out = tmp_path / "h.hnnc"
    assert main(["export", "--model", str(MODEL), "-o", str(out)]) == 0
    program = from_bytes(out.read_bytes())
    assert {c.layer for c in program.cores} == {"hifi-digits.hidden", "hifi-digits.readout"}
    capsys.readouterr()
    assert main(["emulate", str(out), "--images", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--backend emulator" in err
