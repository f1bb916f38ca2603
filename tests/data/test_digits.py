"""scikit-learn's digits: the fixed split, shapes and grey levels, upsampling and threshold."""

import numpy as np
import pytest

from hnnbio.data import digits
from hnnbio.errors import DataError, ParameterError


@pytest.fixture(scope="module")
def splits():
    return {split: digits.load_digits(split) for split in ("train", "eval")}


def test_split_sizes_shapes_and_value_ranges(splits):
    (xt, yt), (xe, ye) = splits["train"], splits["eval"]
    assert xt.shape == (1400, 8, 8) and yt.shape == (1400,)
    assert xe.shape == (397, 8, 8) and ye.shape == (397,)
    for x, y in ((xt, yt), (xe, ye)):
        assert x.dtype == np.uint8 and x.min() == 0 and x.max() == 16
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))


def test_split_is_by_index_and_disjoint(splits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    (xt, yt), (xe, ye) = splits["train"], splits["eval"]
    # train is exactly indices 0..1399, eval exactly 1400..1796: together all 1797, none twice
    np.testing.assert_array_equal(xt, bunch.images[:1400])
    np.testing.assert_array_equal(yt, bunch.target[:1400])
    np.testing.assert_array_equal(xe, bunch.images[1400:])
    np.testing.assert_array_equal(ye, bunch.target[1400:])
    assert len(xt) + len(xe) == digits.N_IMAGES == len(bunch.images)


def test_loading_twice_gives_equal_independent_arrays():
    a, la = digits.load_digits("eval")
    b, lb = digits.load_digits("eval")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    a[0, 0, 0] = 99
    assert b[0, 0, 0] != 99


def test_upsampling_by_hand():
    small = np.array([[[0, 7], [8, 16]]], dtype=np.uint8)
    expected = np.array(
        [[[0, 0, 7, 7], [0, 0, 7, 7], [8, 8, 16, 16], [8, 8, 16, 16]]], dtype=np.uint8
    )
    np.testing.assert_array_equal(digits.upsample(small, 2), expected)
    np.testing.assert_array_equal(digits.upsample(small, 1), small)
    assert digits.upsample(np.arange(6).reshape(2, 3), 3).shape == (6, 9)
    assert digits.upsample(small, 2).dtype == np.uint8


def test_binarisation_threshold_is_grey_8_inclusive():
    grey = np.arange(17)
    np.testing.assert_array_equal(digits.binarize(grey), (grey >= 8).astype(np.uint8))
    assert digits.binarize(np.array([7]))[0] == 0 and digits.binarize(np.array([8]))[0] == 1
    assert digits.binarize(grey).dtype == np.uint8


def test_binary_16_by_hand_and_on_the_data(splits):
    small = np.zeros((1, 8, 8), dtype=np.uint8)
    small[0, 0, 0], small[0, 0, 1], small[0, 7, 7] = 8, 7, 16
    out = digits.binary_16(small)
    assert out.shape == (1, 16, 16) and out.dtype == np.uint8
    expected = np.zeros((1, 16, 16), dtype=np.uint8)
    expected[0, 0:2, 0:2] = 1  # grey 8 -> on, a 2 x 2 block
    expected[0, 14:16, 14:16] = 1  # grey 16 -> on; grey 7 at (0, 1) stays off
    np.testing.assert_array_equal(out, expected)
    x, _ = splits["eval"]
    b = digits.binary_16(x)
    assert b.shape == (397, 16, 16) and set(np.unique(b)) == {0, 1}
    # every 2 x 2 block is one source pixel: on exactly where that pixel is >= 8
    np.testing.assert_array_equal(b[:, ::2, ::2], (x >= 8).astype(np.uint8))
    np.testing.assert_array_equal(b[:, 1::2, 1::2], b[:, ::2, ::2])


def test_nonsense_arguments_raise():
    with pytest.raises(DataError, match="split"):
        digits.load_digits("test")
    with pytest.raises(ParameterError, match="factor"):
        digits.upsample(np.zeros((2, 2)), 0)
    with pytest.raises(ParameterError, match="factor"):
        digits.upsample(np.zeros((2, 2)), 1.5)
    with pytest.raises(DataError, match="images"):
        digits.upsample(np.zeros(4), 2)
    with pytest.raises(DataError, match="grey"):
        digits.binarize(np.array([0, 17]))
    with pytest.raises(DataError, match="grey"):
        digits.binarize(np.array([-1, 3]))
    with pytest.raises(DataError, match="images"):
        digits.binary_16(np.zeros((2, 16, 16)))


def test_first_eval_images_are_the_split_s_first_and_refuse_beyond_it():
    grey, labels = digits.load_digits("eval")
    first, first_labels = digits.first_eval_images(5)
    np.testing.assert_array_equal(first, grey[:5])
    np.testing.assert_array_equal(first_labels, labels[:5])
    assert digits.first_eval_images(None)[0].shape == (397, 8, 8)
    assert digits.first_eval_images(397)[0].shape == (397, 8, 8)
    with pytest.raises(ParameterError, match="398 asked, the evaluation split has 397"):
        digits.first_eval_images(398)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ParameterError, match="images: must be a positive integer"):
            digits.first_eval_images(bad)
