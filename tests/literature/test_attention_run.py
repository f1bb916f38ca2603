"""`hnnbio run models/attention-digits.toml --json` on a few evaluation images, and its bad inputs
(one line, exit status 2)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hnnbio.cli import main

MODELS = Path(__file__).resolve().parents[2] / "models"
MODEL = MODELS / "attention-digits.toml"


def _run(args, capsys):
    code = main(["run", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_json_prints_both_models_on_the_same_images(capsys):
    code, out, _ = _run([MODEL, "--json", "--images", "4"], capsys)
    assert code == 0
    rows = json.loads(out.strip().splitlines()[-1])
    assert rows["split"] == "eval" and rows["samples"] == 4
    for r in (rows, rows["baseline"]):
        assert 0 <= r["accuracy"] <= 1 and r["accuracy"] * 4 == int(r["accuracy"] * 4)
        assert r["spikes_per_sample"] > 0
        assert r["spikes_per_sample"] == pytest.approx(sum(r["spikes_per_population"].values()))
    assert rows["steps"] == 24


def test_run_on_the_users_images_gives_predictions(tmp_path, capsys):
    from hnnbio.data.digits import load_digits

    grey, _ = load_digits("eval")
    np.save(tmp_path / "x.npy", grey[:2])
    code, out, _ = _run([MODEL, "--json", "--input", tmp_path / "x.npy"], capsys)
    assert code == 0
    rows = json.loads(out.strip().splitlines()[-1])
    assert len(rows["predictions"]) == 2 and "accuracy" not in rows


@pytest.mark.parametrize("shape", [(3, 5), (2, 8, 7), (4,)])
def test_wrong_input_shape_is_one_line(tmp_path, capsys, shape):
    np.save(tmp_path / "x.npy", np.ones(shape))
    code, _, err = _run([MODEL, "--input", tmp_path / "x.npy"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_grey_levels_out_of_range_are_refused(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.full((1, 64), 17.0))
    code, _, err = _run([MODEL, "--input", tmp_path / "x.npy"], capsys)
    assert code == 2 and "grey levels" in err and len(err.strip().splitlines()) == 1


def test_untrained_model_is_one_line(tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / MODEL.name)  # no weights file beside it
    code, _, err = _run([tmp_path / MODEL.name, "--images", "1"], capsys)
    assert code == 2 and "untrained" in err and len(err.strip().splitlines()) == 1


def test_weights_of_another_model_are_refused(tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / MODEL.name)
    (tmp_path / "attention-digits.pt").symlink_to(MODELS / "bars.pt")
    code, _, err = _run([tmp_path / MODEL.name, "--images", "1"], capsys)
    assert code == 2 and "not of model" in err and len(err.strip().splitlines()) == 1


def test_weights_of_another_size_are_refused(tmp_path, capsys):
    text = MODEL.read_text().replace("size = 2048", "size = 1024").replace(
        "n_features = 2048", "n_features = 1024")
    (tmp_path / MODEL.name).write_text(text)
    (tmp_path / "attention-digits.pt").symlink_to(MODELS / "attention-digits.pt")
    code, _, err = _run([tmp_path / MODEL.name, "--images", "1"], capsys)
    assert code == 2 and "sizes" in err and len(err.strip().splitlines()) == 1


def test_unsupported_backend_and_out_are_refused(tmp_path):
    from hnnbio.errors import ParameterError
    from hnnbio.run import run_file

    with pytest.raises(ParameterError, match="backend"):
        run_file(MODEL, backend="nest")
    with pytest.raises(ParameterError, match="--out"):
        run_file(MODEL, out=tmp_path / "o", images=1)


def test_unknown_experiment_key_is_refused(tmp_path, capsys):
    text = MODEL.read_text().replace('kind = "classification"',
                                     'kind = "classification"\nbogus = 1')
    (tmp_path / MODEL.name).write_text(text)
    code, _, err = _run([tmp_path / MODEL.name, "--images", "1"], capsys)
    assert code == 2 and "bogus" in err and len(err.strip().splitlines()) == 1


def test_export_of_the_shipped_model_splits_the_fan_in(tmp_path, capsys):
    """The shipped model's readout sums 2048 hidden neurons, more than a core's 256 axons:
    `hnnbio export` splits them over partial-sum cores (exit 0, a loadable program within the
    mesh), and `--backend emulator` runs it."""
    from hnnbio.chip.program import load_program
    from hnnbio.chip.spec import TIANJIC_LIKE

    target = tmp_path / "att.hnnc"
    assert main(["export", "--model", str(MODEL), "-o", str(target), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    program = load_program(target)
    assert len(program.cores) == rows["cores"] <= TIANJIC_LIKE.n_cores
    partial = [c for c in program.cores if c.role == "partial" and c.layer == "out"]
    assert len(partial) == 2048 // 256 - 1  # one block on the readout's core, 7 beside it
    code, out, _ = _run([MODEL, "--json", "--images", "2", "--backend", "emulator"], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["backend"] == "emulator"


DENSE = Path(__file__).resolve().parents[1] / "chip" / "fixtures" / "attention-dense.toml"


def test_export_compiles_the_trained_attention_model(tmp_path, capsys):
    """`hnnbio export` of a classification model file compiles its trained graph (weights from
    the .pt file): the program's weights are the trained ones, not the file's zero placeholders."""
    from hnnbio.chip.program import load_program

    target = tmp_path / "att.hnnc"
    assert main(["export", "--model", str(DENSE), "-o", str(target), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["model"] == "attention-dense" and rows["cores"] >= 3
    program = load_program(target)
    assert any(np.abs(a).max() > 0 for k, a in program.arrays.items() if "weight" in k)


def test_backend_emulator_runs_both_models_on_the_chip(capsys):
    code, out, _ = _run([DENSE, "--json", "--images", "20", "--backend", "emulator"], capsys)
    assert code == 0
    chip = json.loads(out.strip().splitlines()[-1])
    code, out, _ = _run([DENSE, "--json", "--images", "20"], capsys)
    brian = json.loads(out.strip().splitlines()[-1])
    assert chip["backend"] == "emulator" and brian["backend"] == "brian2"
    for c, b in ((chip, brian), (chip["baseline"], brian["baseline"])):
        assert abs(c["accuracy"] - b["accuracy"]) <= 0.1  # 20 images: at most 2 differ
        assert c["spikes_per_sample"] == pytest.approx(b["spikes_per_sample"], rel=0.05)
