"""bind / run_bind / `hnnbio bind`: bad input, outputs, binding clearly above the no-spike loop."""

import json

import numpy as np
import pytest

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.bind import bind, run_bind
from hnnbio.binding.spec import load_spec
from hnnbio.data import datasets
from hnnbio.errors import DataError, ModelSpecError, ParameterError, WeightsError


@pytest.fixture(scope="module")
def bars():
    return datasets.generate("bars", 8, seed=3)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((2, 20, 20), 0.5), "not binary"),
        (np.full((2, 20, 20), np.nan), "NaN"),
        (np.ones((2, 28, 28)), "pixels"),
        (np.ones((20, 20)), "shape"),
        (np.zeros((0, 20, 20)), "no images"),
        (
            np.concatenate([np.ones((1, 20, 20)), np.zeros((1, 20, 20))]),
            "image 1 has no foreground",
        ),
        (np.array([[["a"] * 20] * 20]), "dtype"),
    ],
)
def test_bad_images(images, message):
    with pytest.raises(DataError, match=message) as info:
        bind(images, "bars")
    assert "\n" not in str(info.value)


def test_bad_settings(bars):
    images, _ = bars
    with pytest.raises(ParameterError, match="batch_size"):
        bind(images, "bars", batch_size=-1)
    with pytest.raises(ParameterError, match="cycles"):
        bind(images, "bars", cycles=0)
    with pytest.raises(DataError, match="truth"):
        bind(images, "bars", truth=np.zeros((1, 20, 20)))
    with pytest.raises(ModelSpecError, match="unknown model"):
        bind(images, "no_such_model")
    with pytest.raises(ParameterError, match="n_images"):
        run_bind("bars", n_images=0)


def test_missing_weights(bars, tmp_path):
    spec = load_spec("bars").replace(autoencoder={"weights": str(tmp_path / "missing.pt")})
    with pytest.raises(WeightsError, match="missing.pt"):
        bind(bars[0], spec, cycles=1)


@pytest.mark.slow
def test_binding_beats_the_no_spike_loop_on_bars(bars):
    """8 Bars images, the full 50 cycles: AMI near the published 0.965, far above the no-spike loop
    (published 0.096), with a synchrony score far above the rate score."""
    import torch

    from hnnbio.ann.autoencoder import load_autoencoder
    from hnnbio.binding.nospike import run_nospike

    torch.set_num_threads(1)
    images, labels = bars
    result = bind(images, "bars", seed=1, truth=labels)
    baseline = run_nospike(
        images, load_autoencoder(load_spec("bars")), load_spec("bars"), seed=1, truth=labels
    )
    ami, base = np.mean(result.metrics["ami"]), np.mean(baseline.metrics["ami"])
    assert ami > 0.85 and ami > base + 0.5
    assert np.nanmean(result.metrics["synchrony"]) > 0.8
    assert np.nanmean(result.metrics["rate"]) < 0.3
    assert result.attention.shape == (8, 54, 20, 20)
    assert result.n_steps == 50 * 54


def test_run_bind_writes_outputs(tmp_path):
    out = tmp_path / "run"
    result = run_bind("bars", n_images=2, seed=0, out=out, cycles=3, nix=False)
    names = sorted(p.name for p in out.iterdir())
    assert {"result.npz", "groups.png", "raster.png", "attention.png"} <= set(names)
    loaded = BindingResult.load(out / "result.npz")
    assert np.array_equal(loaded.spike_step, result.spike_step)
    assert np.allclose(loaded.metrics["ami"], result.metrics["ami"], equal_nan=True)
    assert not list(tmp_path.glob(".hnnbio-*"))


def test_failed_write_leaves_no_partial_files(tmp_path, monkeypatch):
    import hnnbio.binding.figures as figures

    def broken(*args, **kwargs):
        raise DataError("figures: broken on purpose")

    monkeypatch.setattr(figures, "write_figures", broken)
    out = tmp_path / "run"
    with pytest.raises(DataError, match="broken"):
        run_bind("bars", n_images=1, seed=0, out=out, cycles=2)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_bind_json(capsys):
    from hnnbio.cli import main

    assert (
        main(["bind", "--model", "bars", "--images", "2", "--cycles", "3", "--json", "--quiet"])
        == 0
    )
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["images"] == 2 and {"ami", "synchrony", "rate", "seconds"} <= set(row)


def test_cli_bind_error_is_one_line(capsys):
    from hnnbio.cli import main

    assert main(["bind", "--model", "nope", "--images", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown model" in err


def test_column_sheet_through_bind(bars):
    images, labels = bars
    result = bind(images[:2], "bars-column", seed=0, truth=labels[:2], cycles=2)
    assert result.info["sheet"] == "column" and result.spike_step.size > 0
    assert not np.isin(
        result.spike_pixel[result.spike_image == 0], np.flatnonzero(images[0].ravel() == 0)
    ).any()


def test_bind_keeps_the_users_brian2_target():
    """hnnbio sets its code-generation target only while it builds and runs a network."""
    from brian2 import prefs

    from hnnbio.binding.bind import bind
    from hnnbio.data import datasets

    images, labels = datasets.generate("bars", 2, 0)
    for user in ("numpy", "auto"):
        prefs.codegen.target = user
        bind(images, "bars", truth=labels, cycles=2)
        assert prefs.codegen.target == user
