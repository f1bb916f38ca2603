"""Training a model spec's autoencoder: settings from the spec, the weights file, the CLI."""

import json

import pytest
import torch

from hnnbio.ann.autoencoder import DenoisingAutoencoder, load_weights
from hnnbio.ann.train import TrainingSettings, train_autoencoder
from hnnbio.binding.spec import load_spec
from hnnbio.binding.training import train_model, train_spec, training_settings
from hnnbio.errors import ModelSpecError, ParameterError


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("HNNBIO_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)


def test_settings_come_from_the_spec_with_overrides():
    spec = load_spec("bars").replace(training={"batch_size": 128, "lr": 0.02})
    s = training_settings(spec, n_images=300, seed=None)
    assert s == TrainingSettings(batch_size=128, lr=0.02, n_images=300)
    assert training_settings("shapes") == TrainingSettings.from_dict(load_spec("shapes").training)


def test_train_spec_is_train_autoencoder_with_the_specs_architecture():
    spec = load_spec("bars").replace(autoencoder={"layers": [400, 8, 400]})
    a, ha = train_spec(spec, n_images=200, epochs=2, progress=False)
    b, hb = train_autoencoder(
        "bars",
        [400, 8, 400],
        list(spec.autoencoder["hidden"]),
        settings=TrainingSettings.from_dict(spec.training, n_images=200, epochs=2),
        progress=False,
    )
    assert ha["val_loss"] == hb["val_loss"] and ha["settings"] == hb["settings"]
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
    assert info["settings"]["noise"] == [0.6, 0.8] and info["dataset"] == "bars"
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
        train_spec("bars", progress=False, **kwargs)


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
def test_nonsense_spec_training_settings_raise(training, parameter):
    """Checked when the model file is read, before any training."""
    with pytest.raises(ModelSpecError, match=parameter):
        load_spec("bars").replace(training=training)
