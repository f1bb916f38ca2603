"""The training augmentation of hnnbio.experiments.train_classification (--augment, --noise),
checked against hand-computed resamplings and binomial bounds."""

import math

import pytest
import torch

from hnnbio.errors import ParameterError
from hnnbio.experiments.train_classification import (
    affine,
    augmented,
    main,
    pepper_salt,
    shifted,
    warp,
)


def _images(n=6, seed=1):
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(seed))


def test_identity_map_returns_the_image():
    x = _images()
    theta = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(len(x), 2, 3)
    assert torch.allclose(warp(x, theta), x, atol=1e-6)


def test_zero_ranges_are_the_identity():
    x = _images()
    out = affine(x, torch.Generator().manual_seed(0), rotate_deg=0, scale=0, shear_deg=0,
                 shift_px=0)
    assert torch.allclose(out, x, atol=1e-6)


def test_whole_pixel_translation_moves_the_image_by_one_pixel():
    # output (i, j) samples input (i, j + 1): a shift by 2/8 in normalised coordinates
    x = _images(2)
    theta = torch.tensor([[1.0, 0, 2 / 8], [0, 1, 0]]).expand(2, 2, 3)
    out = warp(x, theta).view(2, 8, 8)
    img = x.view(2, 8, 8)
    assert torch.allclose(out[:, :, :7], img[:, :, 1:], atol=1e-6)
    assert torch.all(out[:, :, 7] == 0)  # zero outside the image


def test_half_pixel_translation_averages_neighbours():
    x = _images(2)
    theta = torch.tensor([[1.0, 0, 1 / 8], [0, 1, 0]]).expand(2, 2, 3)
    out = warp(x, theta).view(2, 8, 8)
    img = x.view(2, 8, 8)
    assert torch.allclose(out[:, :, :7], (img[:, :, :7] + img[:, :, 1:]) / 2, atol=1e-6)


def test_quarter_turn_rotates_the_grid():
    # theta maps output to input coordinates; a 90 degree rotation of the pixel-centre grid
    # lands exactly on pixel centres, so the output is a rot90 of the input
    x = _images(1)
    theta = torch.tensor([[[0.0, -1, 0], [1, 0, 0]]])
    out = warp(x, theta).view(8, 8)
    img = x.view(8, 8)
    # output (row i, col j) reads input at x_in = -y_out, y_in = x_out: row j, col 7 - i
    expected = torch.stack([torch.stack([img[j, 7 - i] for j in range(8)]) for i in range(8)])
    assert torch.allclose(out, expected, atol=1e-6)


def test_random_maps_stay_within_their_ranges():
    # a constant image: bilinear interpolation returns the constant wherever all four
    # neighbours are inside. The central 2 x 2 pixels (0.71 px from the centre) are mapped at
    # most 0.71 / 0.9 x |rotation| x (1 + tan 10 deg) + 1 px shift < 2 px from the centre per
    # axis, well inside the +-3.5 px of pixel centres, so they stay exactly 1
    x = torch.ones(500, 64)
    out = affine(x, torch.Generator().manual_seed(0)).view(500, 8, 8)
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert torch.allclose(out[:, 3:5, 3:5], torch.ones(500, 2, 2), atol=1e-5)
    # the corners are moved out of the image by some maps (zero fill) and not by others
    corner = out[:, 0, 0]
    assert (corner < 0.99).any() and (corner > 0.99).any()
    assert not torch.allclose(out[0], out[1])  # each image its own map


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_noise_replaces_about_p_of_the_pixels_by_0_or_16(p):
    n = 400
    x = torch.full((n, 64), 0.5)  # grey 8: neither value the noise writes
    out = pepper_salt(x, p, torch.Generator().manual_seed(0))
    hit = out != 0.5
    assert torch.all((out[hit] == 0) | (out[hit] == 1))
    trials = n * 64
    sd = math.sqrt(trials * p * (1 - p))
    assert abs(int(hit.sum()) - trials * p) < 4 * sd
    salt = int((out == 1).sum())
    assert abs(salt - int(hit.sum()) / 2) < 4 * math.sqrt(int(hit.sum()) / 4)


def test_noise_probability_per_image():
    x = torch.full((4, 64), 0.5)
    out = pepper_salt(x, torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.Generator().manual_seed(0))
    assert torch.all(out[0] == 0.5) and torch.all(out[2] == 0.5)
    assert torch.all(out[1] != 0.5) and torch.all(out[3] != 0.5)


def test_batch_noise_touches_about_half_the_images():
    n = 2000
    x = torch.full((n, 64), 0.5)
    gen = torch.Generator().manual_seed(0)
    # shift first (zero fill changes border pixels), so compare the noisy pixels only
    out = augmented(x, gen, "shift", noise=0.3)
    clean = augmented(x, torch.Generator().manual_seed(0), "shift", noise=0.0)
    noisy_images = (out != clean).any(1).float().mean()
    # half the images get p ~ U[0, 0.3]; one with p > 0 is hit somewhere unless all 64 pixels
    # escape, P = E[(1 - p)^64] = (1 - 0.7^65) / (65 * 0.3) for p uniform in [0, 0.3]
    escape = (1 - 0.7 ** 65) / (65 * 0.3)
    expected = 0.5 * (1 - escape)
    assert abs(float(noisy_images) - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_default_augmentation_is_the_shift():
    x = _images(16)
    a = augmented(x, torch.Generator().manual_seed(3))
    b = shifted(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("args", [["--noise", "1.5"], ["--fit", "0"], ["--fit", "1400"]])
def test_bad_flags_are_one_line(args, capsys):
    code = main(["models/attention-digits.toml", *args, "--epochs", "1", "--out",
                 "/nonexistent/x.pt"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_unknown_augmentation_is_refused():
    from hnnbio.experiments.train_classification import train

    with pytest.raises(ParameterError, match="augment"):
        train("models/attention-digits.toml", epochs=1, augment="elastic", out="/nonexistent")
