"""The export, chip dump and emulate subcommands, end to end on the shipped Bars model."""

import json

import pytest

from hnnbio.cli import main

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def test_export_dump_emulate(tmp_path, capsys):
    program = tmp_path / "bars.hnnc"
    assert main(["export", "--model", "bars", "-o", str(program), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["cores"] == 6 and program.exists()
    assert main(["export", "--model", "bars", "-o", str(program)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["chip", "dump", str(program)]) == 0
    text = capsys.readouterr().out
    assert "core 5" in text and "attention" in text and "delay 54" in text
    assert main(["emulate", str(program), "--images", "2", "--seed", "1", "--quiet", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["backend"] == "emulator" and rows["images"] == 2
    for key in ("ami", "synchrony", "rate", "macs", "sops", "packets", "energy_uj_per_image",
                "latency_ms_per_image"):
        assert key in rows
    program.write_bytes(program.read_bytes()[:-10])
    assert main(["emulate", str(program), "--quiet"]) == 2
    assert "truncated" in capsys.readouterr().err


def test_run_backend_emulator_on_a_binding_model_is_export_plus_emulate(tmp_path, capsys):
    """`hnnbio run models/bars.toml --backend emulator` compiles and emulates in one command:
    the rows of `hnnbio export` + `hnnbio emulate` on the same images, seed and cycles (it used
    to read the binding model as a plain spiking graph: 'no run length')."""
    import json

    from hnnbio.cli import main

    program = tmp_path / "bars.hnnc"
    assert main(["export", "--model", "models/bars.toml", "-o", str(program)]) == 0
    capsys.readouterr()
    assert main(["emulate", str(program), "--images", "2", "--cycles", "12", "--quiet",
                 "--json"]) == 0
    emulated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["run", "models/bars.toml", "--backend", "emulator", "--images", "2",
                 "--steps", "648", "--json"]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("ami", "ari_fg", "synchrony", "images", "steps"):
        assert run[key] == emulated[key], key
    assert run["backend"] == "emulator" and run["spike_counts"]["sheet"] > 0


def test_one_torch_thread_changes_no_spike_and_restores_the_setting():
    """The emulator runs torch at one thread (its pool and numpy's BLAS pool fought for the
    cores, 5x slower on 2 cores: benchmarks/bench_emulator_threads.py): the same spikes and
    attention as with torch's own thread count, which it restores."""
    import numpy as np
    import torch

    from hnnbio.chip import run as chip_run
    from hnnbio.chip.compiler import compile_model
    from hnnbio.data import datasets

    program = compile_model("bars")
    images, _ = datasets.generate("bars", 3, 0)
    before = torch.get_num_threads()
    shipped = chip_run.emulate(program, images, cycles=2)
    assert torch.get_num_threads() == before
    original = chip_run.one_torch_thread
    try:
        import contextlib

        chip_run.one_torch_thread = contextlib.nullcontext
        both = chip_run.emulate(program, images, cycles=2)
    finally:
        chip_run.one_torch_thread = original
    a, b = shipped.spikes["sheet"], both.spikes["sheet"]
    assert a.step.size > 0
    for field in ("sample", "step", "neuron"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_array_equal(shipped.applied["attention"], both.applied["attention"])
