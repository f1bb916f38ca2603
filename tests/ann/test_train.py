"""Training: pepper noise statistics, loss against a per-pixel baseline, settings, seeding.

The spec-reading adapter, the weights file and the CLI are tested in tests/binding/test_training.py.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

from hnnbio.ann.autoencoder import DenoisingAutoencoder
from hnnbio.ann.train import TrainingSettings, corrupt, fit, train_autoencoder
from hnnbio.data import datasets
from hnnbio.errors import ParameterError

SMALL = {
    "seed": 0,
    "epochs": 8,
    "batch_size": 64,
    "lr": 0.01,
    "noise": [0.6, 0.8],
    "validation": 0.1,
    "patience": 50,
    "lr_step": 100,
    "lr_gamma": 0.5,
}


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("HNNBIO_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)


def test_pepper_noise_drops_pixels_with_probability_p():
    x = torch.ones(200_000)
    g = torch.Generator().manual_seed(0)
    for p in (0.6, 0.8):
        kept = corrupt(x, p, g).mean().item()
        # binomial: standard deviation sqrt(p(1-p)/n) < 0.0012; allow 5 sigma
        assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / x.numel())
    zeros = torch.zeros(1000)
    assert corrupt(zeros, 0.7, g).sum() == 0  # noise only removes pixels


def test_training_beats_the_best_per_pixel_constant():
    images, _ = datasets.generate("bars", 600, seed=0, single=True)
    model = DenoisingAutoencoder([400, 64, 400], ["relu"])
    history = fit(model, images, {**SMALL, "epochs": 10, "batch_size": 32}, progress=False)
    assert history["epochs_run"] == 10 and len(history["train_loss"]) == 10
    assert history["val_loss"][-1] < 0.5 * history["val_loss"][0]
    # the best input-blind predictor outputs each pixel's frequency q; its BCE is the mean binary
    # entropy of q (nats). A denoiser that uses its input must beat it.
    q = images.reshape(len(images), -1).mean(axis=0).clip(1e-12, 1 - 1e-12)
    entropy = float(np.mean(-(q * np.log(q) + (1 - q) * np.log(1 - q))))
    assert history["val_loss_best"] < 0.5 * entropy
    assert history["val_loss_best"] == min(history["val_loss"])


def test_early_stopping_keeps_the_best_epoch():
    images, _ = datasets.generate("bars", 300, seed=1, single=True)
    model = DenoisingAutoencoder([400, 16, 400], ["sigmoid"])
    settings = {**SMALL, "epochs": 60, "patience": 2, "lr": 0.05}
    history = fit(model, images, settings, progress=False)
    assert history["stopped_early"] and history["epochs_run"] < 60
    assert history["epochs_run"] == history["best_epoch"] + 2
    # the returned weights are the best epoch's: re-evaluate the validation loss exactly
    # (the held-out noise is the generator's first draws: p per image, then the keep mask)
    x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32)[-30:]
    gen = torch.Generator().manual_seed(0)
    p = 0.6 + 0.2 * torch.rand(30, 1, generator=gen)
    noisy = x * (torch.rand(x.shape, generator=gen) >= p)
    with torch.no_grad():
        val = torch.nn.functional.binary_cross_entropy(model(noisy), x).item()
    assert val == pytest.approx(history["val_loss_best"], rel=1e-6)
    assert history["val_loss_best"] == min(history["val_loss"])


def test_step_decay_of_the_learning_rate():
    images, _ = datasets.generate("bars", 200, seed=2, single=True)
    model = DenoisingAutoencoder([400, 8, 400], ["relu"])
    history = fit(
        model, images, {**SMALL, "epochs": 5, "lr_step": 2, "lr_gamma": 0.5}, progress=False
    )
    np.testing.assert_allclose(history["lr"], [0.01, 0.01, 0.005, 0.005, 0.0025])


def test_same_seed_same_weights():
    images, _ = datasets.generate("bars", 200, seed=3, single=True)
    torch.manual_seed(0)
    a = DenoisingAutoencoder([400, 8, 400], ["sigmoid"])
    torch.manual_seed(0)
    b = DenoisingAutoencoder([400, 8, 400], ["sigmoid"])
    ha = fit(a, images, {**SMALL, "epochs": 2}, progress=False)
    hb = fit(b, images, {**SMALL, "epochs": 2}, progress=False)
    assert ha["val_loss"] == hb["val_loss"]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_train_autoencoder_same_arguments_same_weights():
    settings = TrainingSettings(n_images=200, epochs=2, batch_size=64)
    a, ha = train_autoencoder("bars", [400, 8, 400], ["sigmoid"], settings=settings, progress=False)
    b, hb = train_autoencoder("bars", [400, 8, 400], ["sigmoid"], settings=settings, progress=False)
    assert ha["val_loss"] == hb["val_loss"] and ha["settings"] == settings.to_dict()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert a.layers == [400, 8, 400] and not a.training


def test_train_autoencoder_is_fit_on_the_generated_single_objects():
    # what train_autoencoder documents: generate(dataset, n_images, seed, single=True), then the
    # initial weights after torch.manual_seed(seed), then fit
    settings = TrainingSettings(seed=4, n_images=150, epochs=2, batch_size=32)
    model, history = train_autoencoder(
        "bars", [400, 8, 400], ["relu"], settings=settings, progress=False
    )
    images, _ = datasets.generate("bars", 150, seed=4, single=True)
    torch.manual_seed(4)
    by_hand = DenoisingAutoencoder([400, 8, 400], ["relu"])
    expected = fit(by_hand, images, settings.to_dict(), progress=False)
    assert history["val_loss"] == expected["val_loss"]
    for pa, pb in zip(model.parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_settings_defaults_and_dict_round_trip():
    s = TrainingSettings()
    assert (s.seed, s.n_images, s.epochs, s.batch_size, s.lr) == (0, 60000, 300, 1024, 0.01)
    assert s.to_dict()["noise"] == [0.6, 0.8]
    assert list(s.to_dict()) == [
        "seed", "n_images", "epochs", "batch_size", "lr", "noise", "validation", "patience",
        "lr_step", "lr_gamma",
    ]  # fmt: skip
    assert TrainingSettings.from_dict(s.to_dict()) == s
    assert TrainingSettings.from_dict({"epochs": 3}, epochs=None, seed=7) == TrainingSettings(
        epochs=3, seed=7
    )
    assert TrainingSettings(noise=[0.1, 0.2]).noise == (0.1, 0.2)


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"epochs": 0}, "epochs"),
        ({"n_images": 0}, "n_images"),
        ({"n_images": 5}, "n_images"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"lr": 0.0}, "lr"),
        ({"noise": [0.8, 0.6]}, "noise"),
        ({"noise": [0.5, 1.0]}, "noise"),
        ({"noise": 0.5}, "noise"),
        ({"validation": 1.5}, "validation"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"patience": 0}, "patience"),
        ({"lr_step": 0}, "lr_step"),
        ({"lr_gamma": 0.0}, "lr_gamma"),
        ({"lr_gamma": 1.5}, "lr_gamma"),
    ],
)
def test_nonsense_training_settings_raise(kwargs, parameter):
    with pytest.raises(ParameterError, match=parameter):
        TrainingSettings(**kwargs)


def test_unknown_setting_and_wrong_settings_type_raise():
    with pytest.raises(ParameterError, match="learning_rate"):
        TrainingSettings.from_dict({"learning_rate": 0.1})
    with pytest.raises(ParameterError, match="settings"):
        train_autoencoder("bars", [400, 8, 400], ["sigmoid"], settings={"epochs": 1})


def test_train_autoencoder_passes_nonsense_architecture_and_data_set_errors():
    settings = TrainingSettings(n_images=20, epochs=1)
    with pytest.raises(ParameterError, match="images"):
        train_autoencoder("bars", [784, 8, 784], ["sigmoid"], settings=settings, progress=False)
    with pytest.raises(ParameterError, match="hidden"):
        train_autoencoder("bars", [400, 8, 400], ["tanh"], settings=settings, progress=False)


def test_training_imports_no_binding():
    code = (
        "import sys, hnnbio.ann.train; "
        "print(sorted(m for m in sys.modules if m.startswith('hnnbio.binding')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_images_of_the_wrong_size_raise():
    model = DenoisingAutoencoder([400, 8, 400], ["sigmoid"])
    with pytest.raises(ParameterError, match="images"):
        fit(model, np.zeros((50, 28, 28), dtype=np.uint8), SMALL, progress=False)
