"""The shipped column model specs load, their [sheet_params] build a ColumnSheet, and bind runs."""

import numpy as np
import pytest

from hnnbio.binding.spec import load_spec
from hnnbio.circuits.column import ColumnParams, ColumnSheet


@pytest.mark.parametrize("name", ["bars-column", "shapes-column", "corners-column"])
def test_column_spec_builds_a_sheet(name):
    spec = load_spec(name)
    reference = load_spec(name.split("-")[0])
    assert spec.sheet == "column"
    assert spec.autoencoder == reference.autoencoder
    assert spec.loop == reference.loop
    sheet = ColumnSheet(2, int(spec.autoencoder["layers"][0]),
                        ColumnParams.from_dict(spec.sheet_params))
    assert sheet.output.N == 2 * spec.autoencoder["layers"][0]


@pytest.mark.slow
def test_bars_column_binds_a_small_batch():
    from hnnbio.binding.bind import bind
    from hnnbio.data.datasets import generate

    images, labels = generate("bars", 2, seed=5, cache=False)
    result = bind(images, "bars-column", seed=0, truth=labels, cycles=20)
    assert result.n_steps == 20 * 54
    assert result.spike_step.size > 0
    # every spike is on a foreground pixel
    assert np.all(images.reshape(2, -1)[result.spike_image, result.spike_pixel] == 1)
    # after 20 cycles the bars are already separated (measured AMI 1.0 on these two images)
    assert np.mean(result.metrics["ami"]) > 0.8
