"""The shipped weights (models/*.pt) denoise held-out corrupted single objects.

Measured against two input-only references: the BCE of the corrupted image itself (clipped to
[1e-3, 1 - 1e-3]) and its overlap with the clean image, ``1 - p`` in expectation.
"""

import pytest
import torch

from hnnbio.ann.autoencoder import load_autoencoder
from hnnbio.binding.spec import load_spec
from hnnbio.data import datasets


@pytest.mark.parametrize("name", ["bars", "shapes", "corners"])
def test_shipped_weights_denoise_held_out_objects(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HNNBIO_CACHE", str(tmp_path))
    spec = load_spec(name)
    model = load_autoencoder(spec)
    assert spec.weights_path.stat().st_size < 5_000_000
    images, _ = datasets.generate(spec.dataset, 500, seed=2024, single=True)  # training used seed 0
    x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    noisy = x * (torch.rand(x.shape, generator=gen) >= 0.7)
    with torch.no_grad():
        recon = model(noisy)
    bce = torch.nn.functional.binary_cross_entropy
    bce_recon = bce(recon, x).item()
    bce_noisy = bce(noisy.clamp(1e-3, 1 - 1e-3), x).item()
    on = x > 0
    iou = (((recon > 0.5) & on).sum(1) / ((recon > 0.5) | on).sum(1)).mean().item()
    iou_noisy = ((noisy > 0).sum(1) / on.sum(1)).mean().item()
    assert bce_recon < 0.2 * bce_noisy
    # the corrupted input keeps 1 - p = 30% of each object (up to sampling noise)
    assert abs(iou_noisy - 0.3) < 0.03
    assert iou > 2 * iou_noisy
