"""Issue 14, part 4 for bind and train: nothing overwritten without --overwrite, nothing left
behind by SIGTERM, SIGINT or (on the next run) SIGKILL; `hnnbio run --json` spike counts."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.bind import run_bind
from hnnbio.cli import main
from hnnbio.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def _listing(folder):
    """Every file under ``folder`` (``labels/0000.png`` included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_bind_out_on_an_existing_result_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["bind", "--images", "1", "--cycles", "2", "--out", str(out), "--quiet"]) == 0
    first = _listing(out)
    assert "result.npz" in first and "result.nix" in first and "labels/0000.png" in first
    capsys.readouterr()
    argv = ["bind", "--images", "2", "--cycles", "2", "--seed", "3", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err and "--overwrite" in err
    assert _listing(out) == first  # not a byte changed
    assert main([*argv, "--overwrite"]) == 0
    assert BindingResult.load(out / "result.npz").images.shape[0] == 2
    assert set(_listing(out)) == set(first) | {"labels/0001.png"}  # the labels folder replaced
    assert not list(tmp_path.glob(".hnnbio-*"))


def test_overwrite_removes_files_of_the_old_result_not_written_again(tmp_path):
    out = tmp_path / "res"
    run_bind("bars", n_images=1, cycles=2, out=out)
    (out / "notes.txt").write_text("mine")
    run_bind("bars", n_images=1, cycles=2, out=out, nix=False, overwrite=True)
    names = {p.name for p in out.iterdir()}
    assert "result.nix" not in names  # the old NIX file would not match the new result.npz
    assert {"result.npz", "notes.txt"} <= names


_HOOKED = """
import os, signal, sys
import hnnbio.hnn.engine as engine
from hnnbio.cli import main

original = engine.Simulation.run

def run(self, *args, **kwargs):  # the signal arrives during bind's simulation
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return original(self, *args, **kwargs)

engine.Simulation.run = run
sys.exit(main(["bind", "--images", "1", "--cycles", "2", "--quiet", "--out", sys.argv[2]]))
"""


@pytest.mark.parametrize("name, status", [("SIGTERM", 143), ("SIGINT", 130), ("SIGKILL", -9)])
def test_a_signal_during_bind_leaves_no_temporary_folder(name, status, tmp_path):
    out = tmp_path / "res"
    proc = subprocess.run([sys.executable, "-c", _HOOKED, name, str(out)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == status, proc.stderr
    assert not out.exists()
    left = list(tmp_path.glob(".hnnbio-bind-*"))
    if name != "SIGKILL":
        assert left == [] and proc.stderr.strip().splitlines()[-1] in ("terminated",
                                                                        "interrupted")
        return
    assert len(left) == 1  # a SIGKILL cannot be caught; the next bind here removes it
    run_bind("bars", n_images=1, cycles=1, out=tmp_path / "next")
    assert not list(tmp_path.glob(".hnnbio-*"))


def test_brian2_interrupts_end_the_command_not_the_run(monkeypatch, tmp_path):
    """Brian2's default turns Ctrl+C during Network.run into a stop, after which bind would score
    and write a truncated run; inside the CLI the preference is off, and back after."""
    from brian2 import prefs

    import hnnbio.hnn.engine as engine

    seen = []
    original = engine.Simulation.run

    def run(self, *args, **kwargs):
        seen.append(prefs.core.stop_on_keyboard_interrupt)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(engine.Simulation, "run", run)
    prefs.core.stop_on_keyboard_interrupt = True
    assert main(["bind", "--images", "1", "--cycles", "1", "--quiet"]) == 0
    assert seen == [False] and prefs.core.stop_on_keyboard_interrupt is True


def test_train_refuses_existing_weights_unless_overwrite(tmp_path, capsys, monkeypatch):
    import hnnbio.ann.train

    def never(*args, **kwargs):
        raise AssertionError("trained before the weights file was checked")

    shipped = ROOT / "models" / "bars.pt"
    before = shipped.read_bytes()
    monkeypatch.setattr(hnnbio.ann.train, "fit", never)
    assert main(["train", "--dataset", "bars", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shipped weights" in err and "--overwrite" in err
    mine = tmp_path / "w.pt"
    mine.write_bytes(b"my weights")
    assert main(["train", "--dataset", "bars", "--out", str(mine), "--quiet"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert mine.read_bytes() == b"my weights" and shipped.read_bytes() == before
    monkeypatch.undo()
    argv = ["train", "--dataset", "bars", "--out", str(mine), "--epochs", "1", "--n-images",
            "20", "--quiet", "--overwrite"]
    assert main(argv) == 0
    assert mine.read_bytes() != b"my weights" and shipped.read_bytes() == before


def test_run_json_spike_counts_per_population(tmp_path, capsys):
    """A graph run: spike_counts equals, per population, the number of spikes in the npz."""
    from hnnbio.hnn.result import HNNResult

    model = tmp_path / "g.toml"
    model.write_text(
        'name = "g"\n[simulation]\ndt = "1 ms"\nsteps = 40\n'
        '[populations.a]\nsize = 3\nmodel = "lif"\nparams = { i_bias = "0.3 nA" }\n'
        '[populations.b]\nsize = 2\nmodel = "lif"\n')
    out = tmp_path / "res"
    status = main(["run", str(model), "--json", "--out", str(out)])
    captured = capsys.readouterr()
    if status != 0:
        pytest.fail(captured.err)
    row = json.loads(captured.out.strip().splitlines()[-1])
    saved = HNNResult.load(out / "result.npz")
    assert row["spike_counts"] == {k: int(s.step.size) for k, s in saved.spikes.items()}
    # a: 0.3 nA * 100 Mohm = 30 mV above rest, threshold 20 mV: fires; b: no drive, silent
    assert row["spike_counts"]["a"] > 0 and row["spike_counts"]["b"] == 0


def test_run_binding_input_of_a_wrong_shape_is_one_line(tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 7)))
    assert main(["run", "models/bars.toml", "--input", str(x), "--steps", "54"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(B, 20, 20) or (B, 400)" in err


def test_write_outputs_refuses_a_result_folder(tmp_path):
    from hnnbio.binding.bind import write_outputs

    result = run_bind("bars", n_images=1, cycles=1)
    out = tmp_path / "r"
    write_outputs(result, out, nix=False)
    with pytest.raises(DataError, match="not empty"):
        write_outputs(result, out, nix=False)
