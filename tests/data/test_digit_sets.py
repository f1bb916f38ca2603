"""The binding sets made of scikit-learn's digits: split, placement, labels, determinism.

Each object of a generated image is matched by brute force against every glyph of a split at
every position: a multi-object image must be made of evaluation-split glyphs (index >= 1400),
a single-object (training) image of training-split glyphs (index < 1400).
"""

import numpy as np
import pytest

from hnnbio.data import digits
from hnnbio.data.datasets import IMAGE_SIZE, N_OBJECTS, generate
from hnnbio.errors import DataError

G = digits.GLYPH_SIZE


def _glyph_pool(split):
    images, _ = digits.load_digits(split)
    # independent of digits.glyphs: upsample with np.kron, threshold at 8
    big = np.stack([np.kron(im, np.ones((2, 2), dtype=np.uint8)) for im in images]) >= 8
    return big[big.any(axis=(1, 2))]


def _placed_at(mask, pool):
    """All (glyph, row, col) with mask == glyph placed at (row, col) on an empty canvas."""
    size = mask.shape[0]
    found = []
    for row in range(size - G + 1):
        for col in range(size - G + 1):
            if mask.sum() != 0 and (mask[row:row + G, col:col + G].sum() != mask.sum()):
                continue
            window = mask[row:row + G, col:col + G]
            hits = np.flatnonzero((pool == window).all(axis=(1, 2)))
            found += [(int(h), row, col) for h in hits]
    return found


def _object_masks(name, n, seed, single):
    rng = np.random.default_rng(seed)
    draw = digits.multi_digits_masks if name == "multi_digits" else digits.digits_shape_masks
    return draw(rng, n, single)


@pytest.mark.parametrize("name", ["multi_digits", "digits_shape"])
def test_multi_object_images_use_evaluation_digits_only(name):
    masks = _object_masks(name, 6, 5, single=False)
    eval_pool, train_pool = _glyph_pool("eval"), _glyph_pool("train")
    eval_only = eval_pool[~(eval_pool[:, None] == train_pool[None]).all(axis=(2, 3)).any(axis=1)]
    n_unique_eval = 0
    for image in masks:
        digit = image[0]
        assert _placed_at(digit, eval_pool), "a digit not made of an evaluation glyph"
        n_unique_eval += bool(_placed_at(digit, eval_only))
    assert n_unique_eval >= 4  # glyphs found only in the evaluation split are drawn


@pytest.mark.parametrize("name", ["multi_digits", "digits_shape"])
def test_single_object_images_use_training_digits_only(name):
    masks = _object_masks(name, 8, 6, single=True)
    train_pool = _glyph_pool("train")
    assert masks.shape[1] == 1
    n_digits = 0
    for image in masks:
        hits = _placed_at(image[0], train_pool)
        n_digits += bool(hits)
    if name == "multi_digits":
        assert n_digits == 8
    else:  # half digits, half shapes: the shapes match no glyph
        assert n_digits == 4


@pytest.mark.parametrize("name", ["multi_digits", "digits_shape"])
def test_sizes_labels_and_overlaps(name):
    images, labels = generate(name, 300, seed=2, cache=False)
    size = IMAGE_SIZE[name]
    assert images.shape == labels.shape == (300, size, size)
    assert set(np.unique(labels)) == {0, 1, 2} and N_OBJECTS[name] == 2
    # an overlap pixel is on in the image and labelled 0; a labelled pixel is always on
    assert (images[labels > 0] == 1).all()
    overlaps = ((images == 1) & (labels == 0)).sum()
    assert overlaps > 0  # positions are uniform and overlaps are allowed
    again = generate(name, 300, seed=2, cache=False)
    assert (again[0] == images).all() and (again[1] == labels).all()
    other = generate(name, 300, seed=3, cache=False)
    assert (other[0] != images).any()


def test_positions_are_uniform_over_the_canvas():
    masks = digits.multi_digits_masks(np.random.default_rng(0), 300)
    pool = _glyph_pool("eval")
    rows = np.array([min(r for _, r, _ in _placed_at(m, pool)) for m in masks[:, 0]])
    cols = np.array([min(c for _, _, c in _placed_at(m, pool)) for m in masks[:, 1]])
    for corner in (rows, cols):  # uniform on 0..16: every value drawn, mean 8, sd sqrt(288/12)
        assert corner.min() >= 0 and corner.max() <= 32 - G
        assert abs(corner.mean() - 8) < 4 * np.sqrt(24 / 300)


def test_digit_sets_have_single_sets_but_mnist_sets_do_not():
    with pytest.raises(DataError, match="single"):
        generate("multi_mnist", 2, single=True, cache=False)
