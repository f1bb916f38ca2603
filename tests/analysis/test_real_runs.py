"""Within-object pairs are more synchronous than across-object pairs on real small binding runs."""

import numpy as np
import pytest

import hnnbio
from hnnbio.analysis.summary import summarise
from hnnbio.binding.spec import load_spec
from hnnbio.data import datasets


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bars", "corners", "shapes"])
def test_within_object_sttc_and_cch_peaks_exceed_across(model):
    import torch

    torch.set_num_threads(1)
    spec = load_spec(model)
    if not spec.weights_path.exists():
        pytest.skip(
            f"{model}: trained weights {spec.weights_path.name} not shipped in this checkout"
        )
    images, labels = datasets.generate(spec.dataset, 3, seed=2)
    result = hnnbio.bind(images, model=spec, truth=labels, cycles=25)
    s = summarise(result, contrast_images=0)
    assert np.all(s.sttc_within > s.sttc_across), (s.sttc_within, s.sttc_across)
    assert np.all(s.cch_peak_within > s.cch_peak_across), (s.cch_peak_within, s.cch_peak_across)
