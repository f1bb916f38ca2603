"""NeuTNN network on the digits (issue 12.3): a tiny network against hand-computed segment events,
somatic spikes and synaptic operations; pruning removes exactly the predicted synapses; bad inputs
are refused in one line; ``hnnbio run`` returns the rows on a few evaluation images.

Tiny network (dt = 1 ms, window 4 ms, w_proximal 10 mV, v_threshold 15 mV, tau_mem 20 ms,
distal_shift 10 mV, plateau 10 ms), 2 proximal segments + 1 distal per neuron:

- neuron 0: segment 0 <- channels 0, 1, 2 (theta 2); segment 1 <- 3, 4 (theta 2); distal <- 0, 1,
  3, 4 (theta 4);
- neuron 1: segment 0 <- 5, 6 (theta 2); segment 1 empty; distal <- 5, 6 (theta 2).

Input spikes (channel@step): 0@0 1@1 3@1 4@3 5@0 6@2. An input at step n counts in its segment
for steps n .. n + 3 and the event of a segment completed at step n leaves at n + 1:
segment 0 of neuron 0 at 2 (0@0, 1@1), segment 1 at 4 (3@1, 4@3), distal of neuron 0 at 4
(0, 1, 3, 4 all inside steps 0..3), segment 0 of neuron 1 at 3, distal of neuron 1 at 3.
Soma 0: v = 10 mV after step 2; 10 e^{-2/20} + 10 = 19.05 mV after step 4; decayed
19.05 e^{-1/20} = 18.12 >= 15 at step 5: one spike at 5. Soma 1: v = 10 mV after step 3; at step
4 it is 10 e^{-1/20} = 9.51 mV, below 15 but above 15 - 10 = 5 while the plateau of its distal
event (t < 3 + 10 ms) is on: spike at 4; without the distal segment it never fires.
SOPs: 6 input spikes, each onto 2 synapses, 2 events per synapse (box rise and fall) = 24, plus 5
dendritic events = 29.
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from brian2 import ms, mV

from hnnbio.cli import main
from hnnbio.errors import ParameterError
from hnnbio.experiments.neutnn import (
    Design,
    Structure,
    build_structure,
    encode,
    prune,
    readout,
    simulate,
    theta_of,
)

MODEL = Path(__file__).resolve().parents[2] / "models" / "neutnn-digits.toml"

TINY = dict(segment_rows=2, segment_cols=1, window=4 * ms, w_proximal=10 * mV,
            v_threshold=15 * mV, tau_mem=20 * ms, distal_shift=10 * mV, plateau=10 * ms)
#: (neuron, segment, channel) of the tiny network
SYNAPSES = [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 3), (0, 1, 4), (0, 2, 0), (0, 2, 1),
            (0, 2, 3), (0, 2, 4), (1, 0, 5), (1, 0, 6), (1, 2, 5), (1, 2, 6)]
SPIKES = [(0, 0), (1, 1), (3, 1), (4, 3), (5, 0), (6, 2)]  # (channel, step)
THETA = np.array([[2, 2, 4], [2, 1, 2]])


def tiny(synapses=SYNAPSES):
    neuron, segment, channel = (np.array(a, dtype=np.int64) for a in zip(*synapses, strict=True))
    return Structure(2, 2, neuron, segment, channel)


def run_tiny(structure, theta=THETA):
    channel, step = zip(*SPIKES, strict=True)
    return simulate(structure, theta, Design(**TINY), 1, channel, step, steps=20)


def test_tiny_network_segment_events_and_somatic_spikes_are_the_hand_computed_ones():
    assert 10 * math.exp(-2 / 20) + 10 == pytest.approx(19.05, abs=0.01)
    assert 19.05 * math.exp(-1 / 20) >= 15 and 5 <= 10 * math.exp(-1 / 20) < 15
    res = run_tiny(tiny())
    # segment k of neuron i has index 3 i + k (proximal 0, 1; distal 2)
    events = sorted(zip(res["segment_steps"].tolist(), res["segment_index"].tolist(),
                        strict=True))
    assert events == [(2, 0), (3, 3), (3, 5), (4, 1), (4, 2)]
    spikes = sorted(zip(res["soma_steps"].tolist(), res["soma_index"].tolist(), strict=True))
    assert spikes == [(4, 1), (5, 0)]
    assert res["proximal"].tolist() == [[2, 1]] and res["distal"].tolist() == [[1, 1]]
    assert res["sops"].tolist() == [6 * 2 * 2 + 5]


def test_without_the_distal_segment_the_neuron_with_one_proximal_event_stays_silent():
    res = run_tiny(tiny().without_distal())
    assert res["soma"].tolist() == [[1, 0]]
    assert res["distal"].tolist() == [[0, 0]]
    # SOPs: channels 0..6 now have one synapse each: 6 spikes x 1 x 2 + 3 proximal events
    assert res["sops"].tolist() == [6 * 2 + 3]


def test_readout_most_somatic_spikes_then_most_proximal_events():
    labels = np.array([0, 1, 1])
    # class 1: 1 + 1 spikes beat class 0's 1
    assert readout(np.array([[1, 1, 1]]), np.array([[9, 0, 0]]), labels).tolist() == [1]
    # a tie in spikes (2 vs 1 + 1): class 0's 9 proximal events beat class 1's 2
    assert readout(np.array([[2, 1, 1]]), np.array([[9, 1, 1]]), labels).tolist() == [0]
    # no spikes, no events: the lower class
    assert readout(np.zeros((1, 3)), np.zeros((1, 3)), labels).tolist() == [0]


def test_theta_above_a_segments_synapse_count_is_refused_by_name():
    theta = THETA.copy()
    theta[0, 1] = 3  # segment 1 of neuron 0 has 2 synapses
    with pytest.raises(ParameterError, match="^theta_proximal: 3 is greater than the 2 synapses"):
        run_tiny(tiny(), theta)


def test_pruning_removes_exactly_the_lowest_scoring_synapses_of_each_segment():
    # one neuron: segment 0 <- channels 0..4, segment 1 <- 5, 6, distal <- 0..6
    syn = [(0, 0, c) for c in range(5)] + [(0, 1, 5), (0, 1, 6)] + [(0, 2, c) for c in range(7)]
    neuron, segment, channel = (np.array(a, dtype=np.int64) for a in zip(*syn, strict=True))
    s = Structure(1, 2, neuron, segment, channel)
    score = np.zeros((1, 128))
    score[0, :7] = [0.5, 0.1, 0.3, 0.1, 0.9, 0.2, 0.05]
    # fraction 0.4: segment 0 loses floor(2 + 1/2) = 2 (channels 1 and 3, score 0.1),
    # segment 1 loses floor(0.8 + 1/2) = 1 (channel 6), the distal floor(2.8 + 1/2) = 3 (6, 1, 3)
    p = prune(s, score, 0.4)
    kept = sorted(zip(p.segment.tolist(), p.channel.tolist(), strict=True))
    assert kept == [(0, 0), (0, 2), (0, 4), (1, 5), (2, 0), (2, 2), (2, 4), (2, 5)]
    # fraction 0.2: one from segment 0, the tie 1 / 3 broken by the lower channel
    p = prune(s, score, 0.2)
    assert sorted(p.channel[p.segment == 0].tolist()) == [0, 2, 3, 4]
    assert prune(s, score, 0.0).size == s.size
    # theta rescaled to the remaining synapses: 0.85 of 5 -> 4, of 3 -> 3 (floor(x + 1/2))
    assert theta_of([5, 3, 1, 0], 0.85).tolist() == [4, 3, 1, 1]


def test_encoding_one_spike_per_channel_per_cycle_in_the_first_jitter_steps():
    design = Design(cycle_steps=10, jitter_steps=4)
    grey = np.zeros((2, 64))
    grey[0] = 16  # image 0 all white: ON channels always fire, OFF never; image 1 the opposite
    idx, step = encode(grey, 35, design, np.random.default_rng(0))
    cycle = step // 10
    assert set(np.unique(step % 10)) <= {0, 1, 2, 3}
    # 4 cycles started within 35 steps (0, 10, 20, 30); steps 30..33 all fall inside the run
    expected = set(range(64)) | set(128 + 64 + np.arange(64))
    for c in range(4):
        assert sorted(idx[cycle == c].tolist()) == sorted(expected)


def test_structure_of_a_prototype_on_off_pixels_in_their_blocks():
    design = Design(segment_rows=2, segment_cols=2, theta_distal=0.0)
    proto = np.full((1, 64), 0.3)  # neither ON (>= 0.5) nor OFF (<= 0.15)
    proto[0, 0] = 0.9     # ON, block 0 (rows 0-3, cols 0-3)
    proto[0, 7] = 0.5     # ON, block 1 (cols 4-7)
    proto[0, 63] = 0.1    # OFF, block 3
    proto[0, 32] = 0.15   # OFF, block 2 (row 4, col 0)
    s = build_structure(proto, design)
    got = sorted(zip(s.segment.tolist(), s.channel.tolist(), strict=True))
    assert got == [(0, 0), (1, 7), (2, 64 + 32), (3, 64 + 63)]


@pytest.mark.parametrize("overrides, name", [
    (dict(prune_fraction=1.0), "prune_fraction"),
    (dict(prune_fraction=-0.1), "prune_fraction"),
    (dict(theta_proximal=1.5), "theta_proximal"),
    (dict(theta_proximal=0.0), "theta_proximal"),
    (dict(tau_mem=-5 * ms), "tau_mem"),
    (dict(window=-1 * ms), "window"),
    (dict(off_level=0.6), "off_level"),
    (dict(segment_rows=3), "segment_rows"),
])
def test_design_parameters_outside_their_range_are_refused_by_name(overrides, name):
    with pytest.raises(ParameterError, match=f"^{name}:"):
        Design(**overrides)
    with pytest.raises(ParameterError, match="^prune_fraction:"):
        prune(tiny(), np.zeros((2, 128)), 1.0)


def copy_model(tmp_path, text=None, weights=True):
    path = tmp_path / MODEL.name
    path.write_text(text if text is not None else MODEL.read_text())
    if weights:
        shutil.copy(MODEL.with_suffix(".pt"), tmp_path / MODEL.with_suffix(".pt").name)
    return path


def one_line_exit_2(argv, capsys, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err


def test_bad_files_and_inputs_are_one_line_exit_2(tmp_path, capsys):
    text = MODEL.read_text()
    bad = copy_model(tmp_path, text.replace("prune_fraction = 0.4", "prune_fraction = 1.0"))
    one_line_exit_2(["run", str(bad), "--images", "1"], capsys, "prune_fraction")
    bad.write_text(text.replace('tau_mem = "5 ms"', 'tau_mem = "-5 ms"'))
    one_line_exit_2(["run", str(bad), "--images", "1"], capsys, "tau_mem")
    # missing weights file
    (tmp_path / "missing").mkdir()
    lone = copy_model(tmp_path / "missing", weights=False)
    one_line_exit_2(["run", str(lone), "--images", "1"], capsys, "weights file not found")
    # weights of another model: this file renamed, and another model's weights file
    other = copy_model(tmp_path, text.replace('name = "neutnn-digits"', 'name = "other"'))
    one_line_exit_2(["run", str(other), "--images", "1"], capsys, "weights of 'neutnn-digits'")
    shutil.copy(MODEL.parent / "attention-digits.pt", tmp_path / "attention-digits.pt")
    foreign = copy_model(tmp_path, text.replace('weights = "neutnn-digits.pt"',
                                                'weights = "attention-digits.pt"'))
    one_line_exit_2(["run", str(foreign), "--images", "1"], capsys, "attention-digits")
    # wrong input shape
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 7)))
    one_line_exit_2(["run", str(MODEL), "--input", str(x)], capsys, "(2, 7)")


@pytest.mark.slow
def test_hnnbio_run_on_a_few_eval_images_returns_the_rows(capsys):
    assert main(["run", str(MODEL), "--images", "3", "--steps", "30", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["samples"] == 3 and rows["steps"] == 30 and rows["split"] == "eval"
    for key in ("accuracy", "sops_per_sample", "energy_nj_per_sample", "without_distal",
                "reference"):
        assert key in rows
    pruned = rows["pruned"]
    assert set(pruned) >= {"synapse_fraction", "accuracy", "energy_ratio"}
    assert pruned["synapse_fraction"] == pytest.approx(pruned["synapses"] / rows["synapses"])
    assert 0.5 <= pruned["synapse_fraction"] <= 0.7  # 40% of every segment, rounded per segment
    assert pruned["removed_fraction"] == pytest.approx(1 - pruned["synapse_fraction"])
    assert 0 < pruned["energy_ratio"] < 1
    assert rows["energy_nj_per_sample"] == pytest.approx(rows["sops_per_sample"] * 0.9e-3)
    # 3 cycles of 10 steps: every channel fires at most once per cycle
    assert rows["input_spikes_per_sample"] <= 3 * 128


def test_tiny_network_on_the_chip_gives_the_hand_computed_events_spikes_and_sops():
    from hnnbio.experiments.neutnn import compile_network, simulate_on_chip

    design = Design(**TINY)
    for structure, soma in ((tiny(), [[1, 1]]), (tiny().without_distal(), [[1, 0]])):
        compiled = compile_network(structure, design, 20, "tiny", THETA)
        channel, step = zip(*SPIKES, strict=True)
        res = simulate_on_chip(compiled, structure, 1, channel, step, 20)
        ref = run_tiny(structure)
        assert res["soma"].tolist() == soma == ref["soma"].tolist()
        for key in ("proximal", "distal", "sops"):
            assert res[key].tolist() == ref[key].tolist()
    assert res["sops"].tolist() == [6 * 2 + 3]


def test_export_writes_a_program_that_reloads(tmp_path, capsys):
    from hnnbio.chip.program import load_program

    target = tmp_path / "n.hnnc"
    assert main(["export", "--model", str(MODEL), "-o", str(target)]) == 0
    program = load_program(target)
    kinds = {layer["kind"] for layer in program.manifest["layers"]}
    assert kinds == {"segments", "lif"}
    assert program.manifest["ports"]["inputs"][0]["size"] == 128


def test_export_of_the_pruned_network_leaves_out_the_pruned_synapses(tmp_path, capsys):
    from hnnbio.chip.program import load_program

    counts = {}
    for which in ("full", "pruned", "bad"):
        (tmp_path / which).mkdir()
    for which in ("full", "pruned"):
        model = copy_model(tmp_path / which, MODEL.read_text().replace(
            "batch = 100", f"batch = 100\nchip_network = \"{which}\""))
        target = tmp_path / f"{which}.hnnc"
        assert main(["export", "--model", str(model), "-o", str(target)]) == 0
        arrays = load_program(target).arrays
        # each synapse is a +1 (delay 1) and a -1 (delay W + 1) entry of a count core
        counts[which] = sum(int(np.count_nonzero(v)) for k, v in arrays.items()
                            if k.endswith(".count.weight")) // 2
    assert counts == {"full": 10626, "pruned": 6443}  # the synapses hnnbio run reports
    bad = copy_model(tmp_path / "bad", MODEL.read_text().replace(
        "batch = 100", "batch = 100\nchip_network = \"half\""))
    one_line_exit_2(["export", "--model", str(bad), "-o", str(tmp_path / "b.hnnc")], capsys,
                    "chip_network")


@pytest.mark.slow
def test_the_emulator_backend_runs_brian2s_networks_on_the_same_inputs(capsys):
    argv = ["run", str(MODEL), "--images", "4", "--steps", "30", "--json"]
    assert main(argv) == 0
    brian2 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main([*argv, "--backend", "emulator"]) == 0
    chip = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert chip["backend"] == "emulator" and chip["cores"] > 1
    for key in ("synapses", "input_spikes_per_sample"):
        assert chip[key] == brian2[key]
    assert chip["pruned"]["synapses"] == brian2["pruned"]["synapses"]
    assert abs(chip["somatic_spikes_per_sample"] - brian2["somatic_spikes_per_sample"]) <= 0.5
