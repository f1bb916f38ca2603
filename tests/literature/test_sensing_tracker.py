"""sensing-tracker (issue 11, part 2): the hybrid sensing network on generated event streams.

The spiking pathway is checked against hand-computed spike times (Brian2 and the twin), the twin
against Brian2 spike for spike, and `hnnbio run` against the issue's targets; bad inputs are one
line with exit status 2."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hnnbio.cli import main
from hnnbio.data.events import generate_streams
from hnnbio.experiments import tracking as tr
from hnnbio.hnn.engine import Simulation

MODELS = Path(__file__).resolve().parents[2] / "models"
MODEL = MODELS / "sensing-tracker.toml"


@pytest.fixture(scope="module")
def model():
    return tr.model_graph(MODEL, steps=60)


def _run(graph, events, steps, frames=None):
    frames = np.zeros((events.shape[0], steps, 1024), np.float32) if frames is None else frames
    sim = Simulation(graph, {"events": events, "frames": frames}, seed=0)
    return sim.run(steps)


def test_spike_times_of_the_pathway_by_hand(model):
    # three ON events per step in row 5 (columns 0, 1, 2) from step 0 on. An encoding neuron with
    # one event reaches 80 mV (1 - e^-1) = 50.6 mV > 20 mV: it spikes every step. The row neuron
    # gets 3 x 8 = 24 mV per step, decays by e^-1/2 (tau 2 ms): thresholds (before the input) see
    # 0, 14.6, 23.4 > 20 -> spike at step 2 and reset (over that step's input), so steps 2, 5, 8..
    # A column neuron gets 8 mV per step: its decayed v tends to 8 e^-1/2 / (1 - e^-1/2) = 12.3
    # mV < 20 and it never fires.
    graph, settings = model
    steps = 30
    events = np.zeros((1, steps, 2048), np.float32)
    events[0, :, [5 * 32 + 0, 5 * 32 + 1, 5 * 32 + 2]] = 1.0
    decay = math.exp(-0.5)
    v, expected = 0.0, []
    for t in range(steps):  # the hand recursion of the comment
        v *= decay
        if v > 20:
            expected.append(t)
            v = 0.0
        else:
            v += 24
    assert expected[:4] == [2, 5, 8, 11]
    result = _run(graph, events, steps)
    enc, proj = result.spikes["enc"], result.spikes["proj"]
    assert sorted(set(enc.neuron.tolist())) == [160, 161, 162] and enc.step.size == 3 * steps
    assert set(proj.neuron.tolist()) == {5}
    assert proj.step.tolist() == expected
    twin_enc, twin_proj = tr.twin_spikes(tr.snn_parameters(graph, settings), events)
    assert np.flatnonzero(twin_proj[0, :, 5]).tolist() == expected
    assert twin_proj[0].sum() == len(expected) and twin_enc.sum() == 3 * steps


def test_twin_and_brian2_give_the_same_spike_counts(model):
    graph, settings = model
    streams = generate_streams([10**9 + 1, 10**9 + 2], tr.stream_settings(settings, 60))
    inputs = tr.stream_inputs(streams, 60)
    result = _run(graph, inputs["events"], 60, inputs["frames"])
    counts = result.spike_counts()
    twin_enc, twin_proj = tr.twin_spikes(tr.snn_parameters(graph, settings), inputs["events"])
    brian = np.concatenate([counts["enc"].ravel(), counts["proj"].ravel()])
    twin = np.concatenate([twin_enc.ravel(), twin_proj.sum(1).ravel()])
    assert brian.sum() > 1000 and counts["proj"].sum() > 20
    assert np.corrcoef(brian, twin)[0, 1] >= 0.99
    assert np.array_equal(brian, twin)  # the shared discretisation: equal spike for spike
    # an encoding neuron spikes exactly in the steps that have events (one event is enough)
    assert np.array_equal(counts["enc"], (inputs["events"] > 0).sum(1))


def test_the_rate_unit_is_the_mean_of_the_last_window_steps():
    spikes = np.zeros((1, 6, 1))
    spikes[0, [0, 2, 3], 0] = 1
    assert tr.window_rates(spikes, 4)[0, :, 0].tolist() == [0.25, 0.25, 0.5, 0.75, 0.5, 0.5]


def test_hnnbio_run_meets_the_targets(capsys):
    assert main(["run", str(MODEL), "--json", "--images", "8"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    base = rows["baseline"]
    assert rows["steps"] == 200 and rows["streams"] == 8
    assert rows["mean_iou"] >= 0.7 and rows["mean_iou"] > base["mean_iou"]
    assert rows["frames_per_second"] == pytest.approx(1000.0)  # one box per 1 ms step
    assert base["frames_per_second"] == pytest.approx(50.0)  # one frame every 20 steps
    assert rows["frames_per_second"] >= 5 * base["frames_per_second"]


def test_the_gain_comes_from_the_event_pathway():
    # the same streams without their events: the fused box is then no better than the held
    # frame box, so what lifts the IoU above the baseline is the spiking pathway
    graph, settings = tr.model_graph(MODEL, steps=100)
    streams = generate_streams(tr.eval_seeds(1, 3), tr.stream_settings(settings, 100))
    boxes = np.stack([s.boxes for s in streams])
    inputs = tr.stream_inputs(streams, 100)
    with_events = tr.evaluate(graph, settings, inputs, boxes)
    without = tr.evaluate(graph, settings, {**inputs, "events": 0 * inputs["events"]}, boxes)
    assert without["spikes_per_stream"] == 0
    assert np.array_equal(without["framed"], with_events["framed"])
    assert with_events["iou"].mean() > with_events["iou_baseline"].mean() + 0.15
    assert without["iou"].mean() < with_events["iou_baseline"].mean() + 0.05


def test_evaluation_streams_were_never_trained_on():
    data = torch.load(MODELS / "sensing-tracker.pt", weights_only=True)
    used = data["training"]["n_train"] + data["training"]["n_val"]  # training seeds 0 .. used-1
    assert used <= tr.EVAL_SEED_BASE
    assert min(tr.eval_seeds(0, 16)) == tr.EVAL_SEED_BASE
    assert max(tr.eval_seeds(tr.MAX_SEED - 1, 1000)) < 2**32


def test_a_user_stream_array_gives_boxes(tmp_path, capsys, model):
    _, settings = model
    (s,) = generate_streams([10**9 + 5], tr.stream_settings(settings, 60))
    inputs = tr.stream_inputs([s], 60)
    arr = np.concatenate([inputs["events"], inputs["frames"]], axis=2)
    np.save(tmp_path / "x.npy", arr.reshape(1, 60, 3, 32, 32))
    assert main(["run", str(MODEL), "--input", str(tmp_path / "x.npy"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    boxes = np.asarray(rows["boxes"])
    assert boxes.shape == (1, 60, 4) and np.asarray(rows["baseline"]["boxes"]).shape == (1, 60, 4)
    from hnnbio.data.events import iou

    assert iou(boxes[0, 1:], s.boxes[1:]).mean() > 0.5


def _one_line_exit_2(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


@pytest.mark.parametrize("shape", [(1, 60, 2048), (1, 60, 3, 16, 16), (60, 3072)])
def test_wrong_input_shapes_are_refused(shape, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.float32))
    err = _one_line_exit_2(["run", str(MODEL), "--input", str(tmp_path / "x.npy")], capsys)
    assert "(B, T, 3, 32, 32)" in err


def test_a_run_of_one_step_is_refused(capsys):
    assert ">= 2 steps" in _one_line_exit_2(["run", str(MODEL), "--steps", "1"], capsys)


def test_negative_event_counts_are_refused(tmp_path, capsys):
    np.save(tmp_path / "x.npy", -np.ones((1, 5, 3072), np.float32))
    assert "event counts" in _one_line_exit_2(
        ["run", str(MODEL), "--input", str(tmp_path / "x.npy")], capsys)


def test_an_untrained_model_is_refused(tmp_path, capsys):
    (tmp_path / MODEL.name).write_text(MODEL.read_text())
    err = _one_line_exit_2(["run", str(tmp_path / MODEL.name), "--images", "1"], capsys)
    assert "untrained" in err and "train_tracking" in err


def test_weights_of_another_model_are_refused(tmp_path, capsys):
    (tmp_path / MODEL.name).write_text(MODEL.read_text())
    (tmp_path / "sensing-tracker.pt").symlink_to(MODELS / "attention-digits.pt")
    err = _one_line_exit_2(["run", str(tmp_path / MODEL.name), "--images", "1"], capsys)
    assert "attention-digits" in err


def test_an_unsupported_backend_is_refused(capsys):
    from hnnbio.errors import ParameterError
    from hnnbio.run import run_file

    with pytest.raises(ParameterError, match="loihi") as info:
        run_file(MODEL, backend="loihi", images=1)
    assert len(str(info.value).splitlines()) == 1
    with pytest.raises(SystemExit) as info:  # the CLI's own choices (argparse)
        main(["run", str(MODEL), "--backend", "loihi", "--images", "1"])
    assert info.value.code == 2
