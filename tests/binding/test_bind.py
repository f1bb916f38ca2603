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


class _Ring:
    """A stand-in for the simulation StableStop reads: the step count and the delay line."""

    def __init__(self, D, n):
        self.t, self.ring = 0, np.zeros((D, n), dtype=np.float32)

    def pending(self, unit):
        assert unit == "attention"
        return self.ring


def test_stable_stop_counts_cycles_without_a_new_lowest_phase_shift():
    from hnnbio.binding.bind import StableStop

    # one foreground pixel of two, its attention all in one slot per cycle: phase = slot
    D, slots = 8, [0, 3, 5, 6, 6, 6, 7, 7]
    stop = StableStop("attention", np.array([[0, 1]]), D, stable_cycles=3, min_cycles=2)
    sim, said = _Ring(D, 2), []
    for cycle, slot in enumerate(slots, start=1):
        sim.ring[:] = 0
        sim.ring[slot, 1], sim.ring[(slot + 4) % D, 0] = 1.0, 1.0  # background pixel ignored
        sim.t = cycle * D
        said.append(stop(sim))
    # shifts 3, 2, 1, 0, 0, 1, 0 steps (by hand); a new lowest resets the count, 0 after 0 not
    np.testing.assert_allclose(stop.changes, [3, 2, 1, 0, 0, 1, 0], atol=1e-5)
    assert stop.quiet == [0, 0, 0, 0, 0, 1, 2, 3]
    assert said == [False] * 7 + [True]
    late = StableStop("attention", np.array([[0, 1]]), D, stable_cycles=1, min_cycles=9)
    sim.t = 8 * D
    late.since = 5
    assert not late(sim)  # fewer than min_cycles cycles run


def test_stable_stop_gives_the_spikes_of_a_run_of_that_many_cycles(bars):
    images, truth = bars[0][:4], bars[1][:4]
    D = load_spec("bars").steps_per_cycle
    stopped = bind(images, "bars", seed=2, truth=truth, cycles=30, stop="stable",
                   stable_cycles=2, scores=("ami",))
    ran = stopped.info["cycles_run"]
    assert len(set(ran)) == 1 and 10 <= ran[0] < 30  # at least readout_cycles, and early
    plain = bind(images, "bars", seed=2, truth=truth, cycles=ran[0], scores=("ami",))
    np.testing.assert_array_equal(stopped.spike_step, plain.spike_step + (30 - ran[0]) * D)
    np.testing.assert_array_equal(stopped.spike_pixel, plain.spike_pixel)
    np.testing.assert_array_equal(stopped.spike_image, plain.spike_image)
    np.testing.assert_array_equal(stopped.attention, plain.attention)
    np.testing.assert_array_equal(stopped.labels, plain.labels)
    np.testing.assert_array_equal(stopped.metrics["ami"], plain.metrics["ami"])
    assert plain.info["stop"] == "none" and "cycles_run" not in plain.info


def test_bad_stop_settings(bars):
    with pytest.raises(ParameterError, match="stop: must be one of none, stable"):
        bind(bars[0][:1], "bars", stop="sometimes")
    with pytest.raises(ParameterError, match="stable_cycles: must be a positive integer"):
        bind(bars[0][:1], "bars", stop="stable", stable_cycles=0)
    with pytest.raises(ModelSpecError, match="stop must be none or stable"):
        load_spec("bars").replace(loop={"stop": "early"})
    assert load_spec("bars").replace(loop={"stop": "stable"}).loop["stop"] == "stable"
