"""analyses/table1.py and benchmarks/bench_binding.py run tiny; the reference loop binds."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table1_small(tmp_path):
    table1 = _load(ROOT / "analyses" / "table1.py")
    rows = table1.main(
        ["--images", "2", "--models", "bars", "--cycles", "3", "--out", str(tmp_path), "--quiet"]
    )
    assert [r["model"] for r in rows] == ["bars"]
    assert (tmp_path / "table1.png").exists()
    text = (tmp_path / "table1.md").read_text()
    assert "| bars | reference | nested | 2 |" in text and "0.965" in text
    assert json.loads((tmp_path / "table1.json").read_text())[0]["images"] == 2


def test_bench_binding_small(capsys):
    bench = _load(ROOT / "benchmarks" / "bench_binding.py")
    row = bench.main(["--images", "2", "--reference-images", "1", "--cycles", "2", "--no-rss"])
    assert row["hnnbio_images_per_s"] > 0 and row["reference_images_per_s"] > 0
    # bars: 400-256-400, 2 * (400 * 256 + 256 * 400) FLOPs per step, 2 cycles of 54 steps
    assert row["ae_flops_per_image"] == 2 * (2 * 400 * 256) * 2 * 54
    assert row["gap_to_floor"] > 1  # the loop does more than its dense products
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"] == "bars"


def test_reference_loop_binds_bars():
    """The one-image-at-a-time baseline is a faithful loop: it binds Bars like the paper (0.965)."""
    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.binding.spec import load_spec
    from hnnbio.data import datasets

    reference = _load(ROOT / "benchmarks" / "reference_loop.py")
    spec = load_spec("bars")
    images, truth = datasets.generate("bars", 2, seed=7)
    with torch.no_grad():
        scores, _ = reference.reference_bind(images, truth, load_autoencoder(spec), spec)
    assert np.mean(scores) > 0.85


def test_reference_loop_refractoriness():
    """At full drive (AE output 1) a unit fires every r + 1 steps exactly."""
    reference = _load(ROOT / "benchmarks" / "reference_loop.py")

    class One(torch.nn.Module):
        def forward(self, x):
            return torch.ones_like(x)

    spikes = reference.reference_run_one(
        np.ones(3), One(), steps_per_cycle=1, refractory_steps=4, cycles=30
    )
    # c starts at |N|/|N| = 1 with one slot, so every step has drive 1
    for p in range(3):
        assert np.flatnonzero(spikes[:, p]).tolist() == list(range(0, 30, 5))
