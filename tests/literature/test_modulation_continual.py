"""modulation-continual: the gated SNN against hand-computed spike trains, the twin against Brian2,
the gates' protection of earlier tasks, `hnnbio run` and its bad inputs (one line, exit 2)."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hnnbio.cli import main
from hnnbio.experiments import continual

MODELS = Path(__file__).resolve().parents[2] / "models"
MODEL = MODELS / "modulation-continual.toml"


def _run(args, capsys):
    code = main(["run", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _synthetic_weights(graph, settings, w_in, embedding):
    sizes = continual.weight_sizes(graph, settings)
    entry = dict(w_in=torch.as_tensor(w_in, dtype=torch.float32),
                 w_out=torch.zeros(sizes["hid"], sizes["out"]), bias=torch.zeros(sizes["out"]))
    return dict(model=graph.name, format=continual.FORMAT, sizes=sizes,
                permutations=torch.as_tensor(continual.permutations(
                    settings["tasks"], sizes["enc"], settings["permutation_seed"])),
                modulated=dict(entry, encoder={"embedding.weight": torch.as_tensor(
                    embedding, dtype=torch.float32)}),
                baseline=entry)


def _hand_counts(jump_mv, enc_spikes, steps, tau_ms=10.0, threshold=20.0):
    """The hidden neuron by hand: each step v decays by exp(-dt/tau), fires if v > threshold
    (then resets to 0 after the jumps), and jumps by ``jump_mv`` in a step where its input fired."""
    v, count, decay = 0.0, 0, math.exp(-1.0 / tau_ms)
    for t in range(steps):
        v *= decay
        fired = v > threshold
        if t in enc_spikes:
            v += jump_mv
        if fired:
            count, v = count + 1, 0.0
    return count


def test_gates_scale_the_jumps_as_computed_by_hand():
    """One encoding neuron at pixel 1 (v_inf = 80 mV, tau 5 ms, threshold 20 mV) fires every
    floor(5 ln(80/60)) + 1 = 2 steps, first at step 1; it drives hidden neurons 0..3 with
    w = 30 mV under gates 1, 0, 0.5 and sigmoid(400 * -0.002) = 0.31 (the gate is sigmoid(400 e)):
    spikes every 2, never, every 4 and every 6 steps."""
    from hnnbio.hnn.engine import Simulation
    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(MODEL)
    settings = continual.experiment_settings(graph)
    w_in = np.zeros((64, 256))
    w_in[0, :4] = 30.0
    embedding = np.full((256, 10), -1.0)
    embedding[:4, 0] = [1.0, -1.0, 0.0, -0.002]
    data = _synthetic_weights(graph, settings, w_in, embedding)
    gated, baseline, _ = continual.model_graphs(MODEL, weights=data)
    x = np.zeros((1, 64))
    x[0, 0] = 1.0
    steps = 24
    enc_spikes = set(range(1, steps, 2))
    sim = Simulation(gated, {"pixels": x, "task": np.eye(10)[[0]]}, seed=0)
    counts = sim.run(steps).spike_counts()
    assert set(np.flatnonzero(counts["enc"][0])) == {0} and counts["enc"][0, 0] == len(enc_spikes)
    gates = [1.0, 0.0, 0.5, 1.0 / (1.0 + math.exp(0.8))]
    expected = [_hand_counts(30.0 * g, enc_spikes, steps) for g in gates]
    assert expected == [11, 0, 5, 3]  # four regimes
    assert counts["hid"][0, :4].tolist() == expected
    assert counts["hid"][0, 4:].sum() == 0
    base = Simulation(baseline, {"pixels": x}, seed=0).run(steps).spike_counts()
    assert base["hid"][0, :4].tolist() == [11] * 4  # no gates: every neuron active


def test_permutations_are_fixed_and_task_1_is_the_identity():
    p = continual.permutations(10, 64, 0)
    assert p.shape == (10, 64) and np.array_equal(p[0], np.arange(64))
    assert all(np.array_equal(np.sort(q), np.arange(64)) for q in p)
    assert len({tuple(q) for q in p}) == 10
    assert np.array_equal(p, continual.permutations(10, 64, 0))


def test_twin_and_brian2_give_the_same_spike_counts():
    """Shipped weights, 10 evaluation images under each of the 10 tasks, both models."""
    from hnnbio.data.digits import load_digits

    graph, baseline, settings = continual.model_graphs(MODEL)
    data = continual.load_weights(graph, settings)
    grey, labels = load_digits("eval")
    grey = continual.check_images(grey[:10], 64)
    perms = continual.permutations(10, 64, 0)
    x, tasks = continual.task_samples(grey, perms)
    for g, which, gated in ((graph, "modulated", True), (baseline, "baseline", False)):
        brian = continual.evaluate(g, settings, x, tasks, np.tile(labels[:10], 10), seed=0)
        twin = continual.twin_counts(graph, settings, data[which], x, tasks, gated)
        a = np.concatenate([twin["counts"][k].ravel() for k in ("enc", "hid")])
        b = np.concatenate([brian["counts"][k].ravel() for k in ("enc", "hid")])
        assert np.corrcoef(a, b)[0, 1] >= 0.99, which
        assert np.mean(twin["predictions"] == brian["predictions"]) >= 0.97, which


def test_learning_a_task_leaves_the_earlier_tasks_sub_network_unchanged():
    from hnnbio.data.digits import load_digits
    from hnnbio.experiments import train_continual as tc
    from hnnbio.hnn.files import load_hnn

    torch.manual_seed(0)
    graph = load_hnn(MODEL)
    settings = continual.experiment_settings(graph)
    params = continual.twin_parameters(graph, settings)
    twin = tc.make_twin(params, 0)
    embedding = torch.nn.Linear(10, 256, bias=False)
    grey, labels = load_digits("train")
    x = torch.tensor(grey[:96].reshape(96, -1) / 16.0, dtype=torch.float32)
    y = torch.tensor(labels[:96])
    perms = continual.permutations(10, 64, 0)
    used = torch.zeros(256)
    gen = torch.Generator().manual_seed(0)
    outputs = []
    for task in (0, 1):
        allowed = (used > 0.5).float()
        fresh = torch.nonzero(used <= 0.5).ravel()[:25]
        allowed[fresh] = 1.0
        with torch.no_grad():
            embedding.weight[:, task] = -1.0
            embedding.weight[fresh, task] = 1.0
        tc.learn_task(twin, embedding, task, x[:64], y[:64], x[64:], y[64:], perms[task], 24, 1,
                      5e-3, 400.0, 0.0, used, gen, allowed, log=lambda *a: None)
        gate = torch.sigmoid(400.0 * embedding.weight[:, task]).detach()
        assert set(gate.unique().tolist()) <= {0.0, 1.0}  # binary after the task
        used = torch.maximum(used, gate)
        with torch.no_grad():
            outputs.append(twin(x, 24, torch.sigmoid(400.0 * embedding.weight[:, 0])[None])
                           ["logits"].clone())
        if task == 0:
            first = gate.bool()
            w_in, w_out = twin.w_in.detach().clone(), twin.w_out.detach().clone()
    assert 0 < int(first.sum()) <= 25
    assert torch.equal(twin.w_in[:, first], w_in[:, first])
    assert torch.equal(twin.w_out[first], w_out[first])
    assert not torch.equal(twin.w_in, w_in)  # task 2 did learn something
    assert torch.equal(outputs[0], outputs[1])  # task 1's outputs are the same


def test_run_json_has_both_models_on_every_task(capsys):
    code, out, _ = _run([MODEL, "--json", "--images", "3"], capsys)
    assert code == 0
    rows = json.loads(out.strip().splitlines()[-1])
    assert rows["split"] == "eval" and rows["tasks"] == 10 and rows["samples"] == 30
    for r in (rows, rows["baseline"]):
        acc = r["per_task_accuracy"]
        assert len(acc) == 10 and all(a * 3 == round(a * 3) for a in acc)
        assert r["mean_accuracy"] == pytest.approx(np.mean(acc))
        assert r["spikes_per_sample"] > 0


def test_run_on_the_users_images_gives_predictions_per_task(tmp_path, capsys):
    from hnnbio.data.digits import load_digits

    grey, _ = load_digits("eval")
    np.save(tmp_path / "x.npy", grey[:2])
    code, out, _ = _run([MODEL, "--json", "--input", tmp_path / "x.npy"], capsys)
    assert code == 0
    rows = json.loads(out.strip().splitlines()[-1])
    assert np.shape(rows["predictions"]) == (10, 2) and "mean_accuracy" not in rows


@pytest.mark.parametrize("shape", [(3, 5), (2, 8, 7), (4,), (1, 65)])
def test_wrong_input_shape_is_one_line(tmp_path, capsys, shape):
    np.save(tmp_path / "x.npy", np.ones(shape))
    code, _, err = _run([MODEL, "--input", tmp_path / "x.npy"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_untrained_model_is_one_line(tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / MODEL.name)  # no weights file beside it
    code, _, err = _run([tmp_path / MODEL.name], capsys)
    assert code == 2 and "untrained" in err and len(err.strip().splitlines()) == 1


def test_weights_of_another_model_are_one_line(tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / MODEL.name)
    shutil.copy(MODELS / "attention-digits.pt", tmp_path / "modulation-continual.pt")
    code, _, err = _run([tmp_path / MODEL.name], capsys)
    assert code == 2 and "attention-digits" in err and len(err.strip().splitlines()) == 1


def test_weights_of_other_tasks_are_one_line(tmp_path, capsys):
    text = MODEL.read_text().replace("permutation_seed = 0", "permutation_seed = 1")
    (tmp_path / MODEL.name).write_text(text)
    (tmp_path / "modulation-continual.pt").symlink_to(MODELS / "modulation-continual.pt")
    code, _, err = _run([tmp_path / MODEL.name], capsys)
    assert code == 2 and "other tasks" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("backend", ["nest", "loihi"])
def test_unsupported_backend_is_one_line(backend):
    from hnnbio.errors import ParameterError
    from hnnbio.run import run_file

    with pytest.raises(ParameterError, match="backend") as info:
        run_file(MODEL, backend=backend)
    assert len(str(info.value).splitlines()) == 1


def test_out_folder_is_refused(tmp_path):
    from hnnbio.errors import ParameterError
    from hnnbio.run import run_file

    with pytest.raises(ParameterError, match="--out"):
        run_file(MODEL, out=tmp_path / "o", images=1)


@pytest.mark.slow
def test_targets_on_the_whole_evaluation_split(capsys):
    """Issue 11 part 3: tasks >= 10 and mean accuracy >= the baseline's + 0.20 (Brian2)."""
    code, out, _ = _run([MODEL, "--json", "--images", "397"], capsys)
    assert code == 0
    rows = json.loads(out.strip().splitlines()[-1])
    assert rows["samples"] == 397 * 10 and rows["tasks"] >= 10
    assert rows["mean_accuracy"] >= rows["baseline"]["mean_accuracy"] + 0.20
