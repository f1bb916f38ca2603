"""Training: pepper noise statistics, loss against a per-pixel baseline, weights file, CLI."""

import json

import numpy as np
import pytest
import torch

from hnnbio.ann.autoencoder import DenoisingAutoencoder, load_weights
from hnnbio.ann.train import corrupt, fit, train_autoencoder, train_model
from hnnbio.binding import datasets
from hnnbio.binding.spec import load_spec
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


def test_train_model_writes_a_loadable_weights_file(tmp_path):
    spec = load_spec("bars").replace(
        autoencoder={"layers": [400, 32, 400]}, training={"batch_size": 128}
    )
    row = train_model(spec, out=tmp_path / "bars.pt", epochs=2, n_images=300, progress=False)
    assert row["epochs"] == 2 and row["path"] == str(tmp_path / "bars.pt")
    model = load_weights(DenoisingAutoencoder([400, 32, 400], ["sigmoid"]), tmp_path / "bars.pt")
    info = model.training_info
    assert info["seed"] == 0 and info["epochs_run"] == 2 and info["settings"]["n_images"] == 300
    assert info["val_loss"] == pytest.approx(row["val_loss"])


def test_cli_train(tmp_path, capsys):
    from hnnbio.cli import main

    spec = tmp_path / "tiny.toml"
    text = (
        load_spec("bars")
        .path.read_text()
        .replace("layers = [400, 256, 400]", "layers = [400, 16, 400]")
    )
    spec.write_text(text)
    out = tmp_path / "tiny.pt"
    code = main(
        [
            "train",
            "--model",
            str(spec),
            "--epochs",
            "1",
            "--n-images",
            "200",
            "--out",
            str(out),
            "--quiet",
            "--json",
        ]
    )
    assert code == 0 and out.exists()
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["epochs"] == 1 and row["model"] == "bars"


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"epochs": 0}, "epochs"),
        ({"n_images": 0}, "n_images"),
        ({"n_images": 5}, "n_images"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_nonsense_training_arguments_raise(kwargs, parameter):
    with pytest.raises(ParameterError, match=parameter):
        train_autoencoder("bars", progress=False, **kwargs)


@pytest.mark.parametrize(
    "training, parameter",
    [
        ({"lr": 0.0}, "lr"),
        ({"noise": [0.8, 0.6]}, "noise"),
        ({"noise": [0.5, 1.0]}, "noise"),
        ({"validation": 1.5}, "validation"),
        ({"batch_size": 0}, "batch_size"),
        ({"patience": 0}, "patience"),
        ({"lr_gamma": 0.0}, "lr_gamma"),
    ],
)
def test_nonsense_training_settings_raise(training, parameter):
    spec = load_spec("bars").replace(training=training)
    with pytest.raises(ParameterError, match=parameter):
        train_autoencoder(spec, progress=False)


def test_images_of_the_wrong_size_raise():
    model = DenoisingAutoencoder([400, 8, 400], ["sigmoid"])
    with pytest.raises(ParameterError, match="images"):
        fit(model, np.zeros((50, 28, 28), dtype=np.uint8), SMALL, progress=False)
