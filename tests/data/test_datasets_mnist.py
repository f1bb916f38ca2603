"""MNIST-based sets from a tiny hand-written IDX file (the real MNIST is never downloaded)."""

import gzip
import struct

import numpy as np
import pytest

from hnnbio.data import datasets, idx
from hnnbio.errors import DataError


def _digits():
    """Six 28x28 'digits': filled rectangles at value 200 with a rim of value 100 (below 0.5)."""
    out = np.zeros((6, 28, 28), dtype=np.uint8)
    for i in range(6):
        h, w = 6 + 2 * i, 4 + i
        r, c = 3 + i, 5 + 2 * i
        out[i, r - 1 : r + h + 1, c - 1 : c + w + 1] = 100
        out[i, r : r + h, c : c + w] = 200
    return out


def _write_idx(path, array, compress=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.fixture
def mnist_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HNNBIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HNNBIO_MNIST", raising=False)
    return _write_idx(tmp_path / "train-images-idx3-ubyte.gz", _digits(), compress=True)


def test_read_idx_raw_and_gzip(tmp_path):
    digits = _digits()
    raw = _write_idx(tmp_path / "a-idx3-ubyte", digits)
    gz = _write_idx(tmp_path / "b-idx3-ubyte.gz", digits, compress=True)
    np.testing.assert_array_equal(idx.read_idx(raw), digits)
    np.testing.assert_array_equal(idx.read_idx(gz), digits)
    # a 1-d int32 IDX file (type 0x0C, big-endian) reads back too
    values = np.array([1, -2, 70000], dtype=">i4")
    path = tmp_path / "c-idx1-int"
    path.write_bytes(struct.pack(">BBBBI", 0, 0, 0x0C, 1, 3) + values.tobytes())
    np.testing.assert_array_equal(idx.read_idx(path), [1, -2, 70000])


def test_mnist_shape_digit_is_thresholded_at_half(mnist_file):
    images, labels = datasets.generate("mnist_shape", 40, seed=0, mnist_path=mnist_file)
    assert images.shape == (40, 28, 28) and labels.max() <= 2
    thresholded = _digits() > 127
    kinds = set()
    for img, lab in zip(images, labels, strict=True):
        overlap = (img == 1) & (lab == 0)
        # two objects: every overlap pixel is in both, so digit = label 1 + overlap exactly
        digit = (lab == 1) | overlap
        matches = [k for k, d in enumerate(thresholded) if np.array_equal(d, digit)]
        assert len(matches) == 1
        kinds.add(matches[0])
        # and the shape = label 2 + overlap has a template's pixel count (40 square, 48 triangle)
        assert ((lab == 2) | overlap).sum() in (40, 48)
    assert len(kinds) >= 4


def test_multi_mnist_cropped_digits_with_bounded_overlap(mnist_file):
    rng = np.random.default_rng(0)
    masks = idx.multi_mnist_masks(rng, 60, mnist_file)
    assert masks.shape == (60, 3, 48, 48)
    crops = []
    for d in _digits() > 127:
        ys, xs = np.nonzero(d)
        crops.append(d[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    for image_masks in masks:
        for m in image_masks:
            ys, xs = np.nonzero(m)
            crop = m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            assert any(c.shape == crop.shape and np.array_equal(c, crop) for c in crops)
        third = image_masks[2]
        covered = (third & image_masks[:2].any(axis=0)).sum()
        assert covered / third.sum() < 0.2
    images, labels = datasets.generate("multi_mnist", 5, seed=1, mnist_path=mnist_file)
    assert images.shape == (5, 48, 48) and labels.max() <= 3


def test_mnist_from_environment_variable_and_folder(mnist_file, monkeypatch):
    monkeypatch.setenv("HNNBIO_MNIST", str(mnist_file.parent))
    a, _ = datasets.generate("mnist_shape", 5, seed=3)
    b, _ = datasets.generate("mnist_shape", 5, seed=3, mnist_path=mnist_file)
    np.testing.assert_array_equal(a, b)


def test_missing_mnist_names_the_file_and_how_to_supply_it(tmp_path, monkeypatch):
    monkeypatch.delenv("HNNBIO_MNIST", raising=False)
    with pytest.raises(DataError, match="HNNBIO_MNIST"):
        datasets.generate("mnist_shape", 2)
    missing = tmp_path / "nowhere-idx3-ubyte.gz"
    with pytest.raises(DataError, match="nowhere-idx3-ubyte.gz.*HNNBIO_MNIST"):
        datasets.generate("multi_mnist", 2, mnist_path=missing)
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        datasets.generate("multi_mnist", 2, mnist_path=tmp_path)


def test_bad_idx_files_raise(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x03")
    with pytest.raises(DataError, match="not an IDX file"):
        idx.read_idx(bad)
    short = _write_idx(tmp_path / "short", _digits())
    short.write_bytes(short.read_bytes()[:-10])
    with pytest.raises(DataError, match="data bytes"):
        idx.read_idx(short)
    wrong = _write_idx(tmp_path / "wrong-idx3-ubyte", np.zeros((2, 5, 5), dtype=np.uint8))
    with pytest.raises(DataError, match="mnist_path"):
        datasets.generate("mnist_shape", 2, mnist_path=wrong)
