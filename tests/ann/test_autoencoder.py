"""Denoising autoencoder: forward pass against a numpy reference, weights files, bad arguments."""

import numpy as np
import pytest
import torch

from hnnbio.ann.autoencoder import (
    DenoisingAutoencoder,
    autoencoder_forward,
    from_spec,
    load_autoencoder,
    load_weights,
    save_autoencoder,
)
from hnnbio.binding.spec import load_spec
from hnnbio.errors import ParameterError, WeightsError


def _numpy_forward(model, x):
    """Independent reference: plain numpy float64 of sigma(W h + b) / relu(W h + b)."""
    h = x.astype(np.float64)
    acts = list(model.hidden) + ["sigmoid"]
    for lin, act in zip(model.linears, acts, strict=True):
        h = h @ lin.weight.detach().double().numpy().T + lin.bias.detach().double().numpy()
        h = 1 / (1 + np.exp(-h)) if act == "sigmoid" else np.maximum(h, 0)
    return h


@pytest.mark.parametrize(
    "layers, hidden",
    [([400, 256, 400], ["sigmoid"]), ([784, 512, 400, 512, 784], ["relu", "sigmoid", "relu"])],
)
def test_forward_matches_numpy_reference(layers, hidden, rng):
    model = DenoisingAutoencoder(layers, hidden)
    x = (rng.random((5, layers[0])) < 0.3).astype(np.float32)
    out = model(torch.from_numpy(x))
    assert out.shape == (5, layers[0])
    assert torch.all((out > 0) & (out < 1))
    # float32 against float64: relative error of a few float32 ulps per layer
    np.testing.assert_allclose(out.detach().numpy(), _numpy_forward(model, x), rtol=1e-5, atol=1e-6)
    # the functional form is the same computation
    torch.testing.assert_close(
        autoencoder_forward(model.params(), torch.from_numpy(x)), out, rtol=0, atol=0
    )


def test_state_dict_keys_are_linears():
    model = DenoisingAutoencoder([16, 8, 4, 8, 16], ["relu", "sigmoid", "relu"])
    assert list(model.state_dict()) == [
        f"linears.{i}.{p}" for i in range(4) for p in ("weight", "bias")
    ]
    assert model.state_dict()["linears.0.weight"].shape == (8, 16)


@pytest.mark.parametrize("name", ["bars", "shapes", "corners"])
def test_from_spec_builds_the_spec_architecture(name):
    spec = load_spec(name)
    model = from_spec(spec)
    assert model.layers == spec.autoencoder["layers"]
    assert model.hidden == spec.autoencoder["hidden"]
    assert [m.out_features for m in model.linears] == spec.autoencoder["layers"][1:]


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 0.0), (torch.float16, None)])
def test_save_load_round_trip(tmp_path, dtype, tol):
    model = DenoisingAutoencoder([20, 6, 20], ["sigmoid"])
    path = save_autoencoder(
        model, tmp_path / "w.pt", training={"seed": 3, "val_loss": 0.25}, dtype=dtype
    )
    loaded = load_weights(DenoisingAutoencoder([20, 6, 20], ["sigmoid"]), path)
    assert loaded.training_info == {"seed": 3, "val_loss": 0.25}
    for key, value in model.state_dict().items():
        got = loaded.state_dict()[key]
        assert got.dtype == torch.float32
        # float16 storage rounds each value to the nearest float16, exactly what .half() does
        expected = value if dtype == torch.float32 else value.half().float()
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_load_autoencoder_reads_spec_weights_in_eval_mode(tmp_path):
    spec = load_spec("bars").replace(autoencoder={"weights": str(tmp_path / "b.pt")})
    save_autoencoder(from_spec(spec), tmp_path / "b.pt")
    model = load_autoencoder(spec)
    assert not model.training and model.layers == [400, 256, 400]


def test_bad_weights_files_raise(tmp_path):
    model = DenoisingAutoencoder([20, 6, 20], ["sigmoid"])
    with pytest.raises(WeightsError, match="missing.pt: weights file not found"):
        load_weights(model, tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsError, match="junk.pt: corrupt weights file"):
        load_weights(model, junk)
    good = save_autoencoder(model, tmp_path / "good.pt")
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(WeightsError, match="trunc.pt: corrupt"):
        load_weights(model, truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"a": torch.zeros(2)}, foreign)
    with pytest.raises(WeightsError, match="foreign.pt: not an hnnbio autoencoder"):
        load_weights(model, foreign)
    payload = torch.load(good, weights_only=True)
    torch.save({**payload, "version": 99}, tmp_path / "v99.pt")
    with pytest.raises(WeightsError, match="v99.pt: weights format version 99"):
        load_weights(model, tmp_path / "v99.pt")
    with pytest.raises(WeightsError, match="good.pt: architecture mismatch"):
        load_weights(DenoisingAutoencoder([20, 7, 20], ["sigmoid"]), good)
    with pytest.raises(WeightsError, match="good.pt: architecture mismatch"):
        load_weights(DenoisingAutoencoder([20, 6, 20], ["relu"]), good)
    state = dict(payload["state_dict"])
    state["linears.0.weight"] = torch.zeros(6, 21)
    torch.save({**payload, "state_dict": state}, tmp_path / "shape.pt")
    with pytest.raises(WeightsError, match="shape.pt: state dict does not fit"):
        load_weights(model, tmp_path / "shape.pt")


def test_stochastic_latent_spikes_with_the_rate_and_passes_gradients():
    # 1-1-1-1-1 network: middle rate sigmoid(b) = 0.3 for every input; the spike s in {0, 1}
    # reaches the output as sigmoid(relu(s)) in {1/2, sigmoid(1)}
    model = DenoisingAutoencoder([1, 1, 1, 1, 1], ["relu", "sigmoid", "relu"], latent="stochastic")
    with torch.no_grad():
        for lin in model.linears:
            lin.weight.fill_(1.0)
            lin.bias.zero_()
        model.linears[1].weight.zero_()
        model.linears[1].bias.fill_(float(np.log(0.3 / 0.7)))
    n = 100_000
    torch.manual_seed(1)
    out = model(torch.ones(n, 1))
    high = torch.isclose(out, torch.sigmoid(torch.tensor(1.0)))
    assert torch.all(high | torch.isclose(out, torch.tensor(0.5)))
    # binomial(n, 0.3): standard deviation sqrt(0.3 * 0.7 / n) = 0.0014; allow 5 sigma
    assert abs(high.float().mean().item() - 0.3) < 5 * np.sqrt(0.21 / n)
    # straight-through: the spike's gradient is the rate's, d h / d b = 0.3 * 0.7
    out.sum().backward()
    assert model.linears[1].bias.grad.item() > 0
    # same seed, same spikes in the functional form
    torch.manual_seed(1)
    again = autoencoder_forward(model.params(), torch.ones(n, 1))
    torch.testing.assert_close(again, out, rtol=0, atol=0)


def test_latent_mismatch_in_file_raises(tmp_path):
    layers, hidden = [6, 4, 2, 4, 6], ["relu", "sigmoid", "relu"]
    path = save_autoencoder(DenoisingAutoencoder(layers, hidden, "stochastic"), tmp_path / "s.pt")
    with pytest.raises(WeightsError, match="s.pt: architecture mismatch"):
        load_weights(DenoisingAutoencoder(layers, hidden), path)


@pytest.mark.parametrize(
    "layers, hidden, latent, parameter",
    [
        ([400], [], "deterministic", "layers"),
        ([400, 0, 400], ["sigmoid"], "deterministic", "layers"),
        ([400, 256, 300], ["sigmoid"], "deterministic", "layers"),
        ([400, 256, 400], [], "deterministic", "hidden"),
        ([400, 256, 400], ["tanh"], "deterministic", "hidden"),
        ([400, 256, 400], ["sigmoid"], "quantum", "latent"),
        ([400, 256, 400], ["relu"], "stochastic", "latent"),
        ([400, 256, 128, 256, 400], ["sigmoid", "sigmoid", "tanh"], "stochastic", "hidden"),
        ([400, 8, 8, 400], ["sigmoid", "sigmoid"], "stochastic", "latent"),
    ],
)
def test_nonsense_architecture_raises(layers, hidden, latent, parameter):
    with pytest.raises(ParameterError, match=parameter):
        DenoisingAutoencoder(layers, hidden, latent)
