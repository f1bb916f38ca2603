"""Binding with a PING sheet: the cycle is measured from the network, checked against the rhythm
read independently off the output spikes; spec errors of ping models name their key."""

from pathlib import Path

import numpy as np
import pytest

from hnnbio.binding.bind import bind
from hnnbio.binding.spec import load_spec
from hnnbio.data import datasets
from hnnbio.errors import ModelSpecError

MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture(scope="module")
def shapes_gamma():
    return load_spec(MODELS / "shapes-gamma.toml")


def test_spec_has_no_given_cycle(shapes_gamma):
    spec = shapes_gamma
    assert spec.sheet == "ping" and spec.measured_cycle
    p = spec.sheet_params
    assert spec.steps_per_cycle == p["slots"] * 30  # the bound: slots x max_period_steps


def _edited(tmp_path, old, new):
    text = (MODELS / "shapes-gamma.toml").read_text()
    assert old in text
    path = tmp_path / "m.toml"
    path.write_text(text.replace(old, new))
    (tmp_path / "shapes.pt").symlink_to(MODELS / "shapes.pt")
    return path


@pytest.mark.parametrize("old, new, message", [
    ("cycles = 50", "cycles = 50\nsteps_per_cycle = 32", "steps_per_cycle is not given"),
    ("delay_steps = 1", "delay_steps = 32", "delay_steps must be 1"),
    ("cycles = 50", "cycles = 50\nstop = \"stable\"", "stop must be none"),
    ("slots = 8", "slots = 1", "slots: must be an integer >= 2"),
    ("floor = 0.3", "floor = -0.3", "floor: must be a number in"),
])
def test_bad_ping_specs_name_the_key(tmp_path, old, new, message):
    with pytest.raises(ModelSpecError, match=message):
        load_spec(_edited(tmp_path, old, new))


def test_replace_cannot_set_the_cycle(shapes_gamma):
    with pytest.raises(ModelSpecError, match="measured, not set"):
        shapes_gamma.replace(loop={"steps_per_cycle": 32})


def test_bind_refuses_an_early_stop_on_a_ping_sheet(shapes_gamma):
    from hnnbio.errors import ParameterError

    images, _ = datasets.generate("shapes", 1, 0)
    with pytest.raises(ParameterError, match="stop: a ping sheet's batches end on gamma cycles"):
        bind(images, shapes_gamma, stop="stable")


def volley_period(result, image, first_step):
    """Mean interval between volley onsets (a step with spikes after >= 3 silent ones), from
    the output spikes alone."""
    r = result.raster(image, first_step).any(axis=1)
    onsets = [t for t in range(3, r.size) if r[t] and not r[t - 3:t].any()]
    return np.diff(onsets).mean()


def test_cycle_is_slots_times_the_rhythm_seen_in_the_spikes(shapes_gamma):
    images, labels = datasets.generate("shapes", 3, seed=5)
    result = bind(images, shapes_gamma, seed=0, truth=labels, cycles=4, scores=("ami",))
    rh = result.info["rhythm"]
    slots = shapes_gamma.sheet_params["slots"]
    assert result.steps_per_cycle == round(slots * rh["period_steps"]) == rh["steps_per_cycle"]
    assert rh["frequency_hz"] == pytest.approx(1000 / rh["period_steps"])
    first = result.n_steps - 4 * result.steps_per_cycle
    from_spikes = np.mean([volley_period(result, b, max(first, 0)) for b in range(3)])
    assert from_spikes == pytest.approx(rh["period_steps"], abs=1.0)
    assert 30 <= rh["frequency_hz"] <= 150  # gamma to high gamma at dt = 1 ms
    # every image made its 4 x slots gamma cycles; the attention is the next cycle's K slots
    assert result.attention.shape == (3, slots, 28, 28)
    assert rh["gamma_cycles_min"] >= 1


def test_gamma_rhythm_script(tmp_path):
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[2] / "analyses" / "gamma_rhythm.py"
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--model", "shapes-gamma", "--images", "2", "--cycles", "4",
                        "--out", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "gamma_rhythm.json").read_text())
    assert (tmp_path / "gamma_rhythm.png").stat().st_size > 10_000
    assert row["steps_per_cycle"] == round(row["slots"] * row["interneuron_period_steps"])
    # the spectrum of the excitatory rate peaks near the interneurons' rate (an independent read)
    assert abs(row["spectrum_peak_hz"] / row["interneuron_frequency_hz"] - 1) < 0.25


def test_batch_bound_counts_at_most_one_spike_per_refractory_period(shapes_gamma):
    from hnnbio.binding.bind import SPIKE_BYTES, batch_fit

    r = shapes_gamma.sheet_params["refractory_steps"]
    per_image = 784 * 50 * shapes_gamma.steps_per_cycle * SPIKE_BYTES // (r + 1)
    assert batch_fit(shapes_gamma, 50, available=2 * 10 * per_image) == 10
