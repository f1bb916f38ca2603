"""Binding data sets: binary multi-object images with ground-truth object labels.

All sets are generated procedurally (vectorised numpy, about a second for 10,000 images),
deterministically for a seed, and cached on disk after the first generation.

Label convention: objects are numbered 1..K in the order they are drawn; a pixel covered by more
than one object gets label 0, like the background (see :mod:`hnnbio.data.shapes`).

========================  ========  ====  ================================================
name                      size      K     objects
========================  ========  ====  ================================================
``bars``                  20 x 20   12    6 vertical bars (objects 1-6), then 6 horizontal
``shapes``                28 x 28   3     square / triangle / flipped triangle templates
``corners``               28 x 28   5     a 20 x 20 square of 4 corners, then 4 lone corners
``mnist_shape``           28 x 28   2     an MNIST digit, then a shape (needs MNIST)
``multi_mnist``           48 x 48   3     three cropped MNIST digits (needs MNIST)
``multi_digits``          32 x 32   2     two handwritten digits (scikit-learn's, bundled)
``digits_shape``          28 x 28   2     a handwritten digit, then a shape
========================  ========  ====  ================================================

``single=True`` gives the autoencoders' training sets of one object per image (Bars: one bar,
half vertical, half horizontal; Shapes: one shape; Corners: 1/7 lone squares, 6/7 lone corners;
Multi-digits: one digit; Digits+Shape: half one digit, half one shape). The digit sets follow the
fixed split of :mod:`hnnbio.data.digits`: single-object (training) images are made of digits of
the training split (index < 1400) only, multi-object (evaluation) images of the evaluation split
(index >= 1400) only.

Example
-------
>>> images, labels = generate("bars", 2, seed=1, cache=False)
>>> images.shape, labels.max(), n_objects("bars")
((2, 20, 20), np.int16(12), 12)
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np

from hnnbio.data import digits, idx, shapes
from hnnbio.errors import DataError

#: Bumped whenever generation changes, so stale cache files are never read.
GENERATOR_VERSION = 1
#: Objects per multi-object image.
N_OBJECTS = {
    "bars": 12,
    "shapes": 3,
    "corners": 5,
    "mnist_shape": 2,
    "multi_mnist": 3,
    "multi_digits": 2,
    "digits_shape": 2,
    "moving_shapes": 3,
}
#: Image side (pixels).
IMAGE_SIZE = {
    "bars": 20,
    "shapes": 28,
    "corners": 28,
    "mnist_shape": 28,
    "multi_mnist": 48,
    "multi_digits": 32,
    "digits_shape": 28,
    "moving_shapes": 28,
}
DATASETS = ("bars", "shapes", "corners", "mnist_shape", "multi_mnist", "multi_digits",
            "digits_shape")
#: Data sets with a single-object set (the autoencoders' training sets).
SINGLE = ("bars", "shapes", "corners", "multi_digits", "digits_shape")
#: Generate in chunks of this many images (bounds the memory of the (n, K, H, W) masks).
CHUNK = 4096
CACHE_ENV = "HNNBIO_CACHE"


def n_objects(name: str) -> int:
    """Number of objects K in one multi-object image of data set ``name``."""
    _check_name(name, tuple(N_OBJECTS))
    return N_OBJECTS[name]


def n_objects_per_image(labels: np.ndarray) -> np.ndarray:
    """Number of distinct objects visible (with at least one label pixel) in each image.

    Parameters
    ----------
    labels : ndarray, shape (n_images, height, width), int >= 0

    Returns
    -------
    ndarray, shape (n_images,), int64
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise DataError(f"labels: expected shape (n_images, height, width), got {labels.shape}")
    if labels.size and labels.min() < 0:
        raise DataError("labels: negative labels; objects are 1..K and 0 is background")
    n = labels.shape[0]
    width = int(labels.max(initial=0)) + 1
    flat = labels.reshape(n, -1).astype(np.int64) + width * np.arange(n)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n * width).reshape(n, width)
    return (counts[:, 1:] > 0).sum(axis=1)


def cache_dir() -> Path:
    """The cache folder: ``$HNNBIO_CACHE`` or ``~/.cache/hnnbio``, subfolder ``datasets``."""
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hnnbio"
    return Path(root) / "datasets"


def generate(
    name: str,
    n_images: int,
    seed: int = 0,
    single: bool = False,
    *,
    mnist_path: str | Path | None = None,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate (or read from the cache) ``n_images`` images of data set ``name``.

    Parameters
    ----------
    name : one of :data:`DATASETS`
    n_images : int
        Number of images, >= 1.
    seed : int
        Seed; the same (name, n_images, seed, single) always gives the same arrays.
    single : bool
        One object per image (the autoencoders' training sets; bars, shapes, corners only).
    mnist_path : str or Path, optional
        MNIST image file in IDX format (raw or .gz) or a folder holding it; default
        ``$HNNBIO_MNIST``. Needed by ``mnist_shape`` and ``multi_mnist`` only.
    cache : bool
        Read and write the on-disk cache (see :func:`cache_dir`).

    Returns
    -------
    images : ndarray, shape (n_images, height, width), uint8 in {0, 1}
    labels : ndarray, shape (n_images, height, width), int16
        Object numbers 1..K in drawing order; 0 for background and for overlaps.
    """
    _check_name(name, DATASETS)
    n_images = _check_count("n_images", n_images)
    if single and name not in SINGLE:
        raise DataError(f"single: no single-object set for {name!r}; use one of "
                        f"{', '.join(SINGLE)}")
    key = [name, n_images, int(seed), int(bool(single)), GENERATOR_VERSION]
    if name in ("mnist_shape", "multi_mnist"):
        path = idx.find_mnist(mnist_path)
        key.append(f"{path.resolve()}:{path.stat().st_size}:{path.stat().st_mtime_ns}")
    else:
        path = None

    def make():
        rng = np.random.default_rng([int(seed), DATASETS.index(name), int(bool(single))])
        return _generate(rng, name, n_images, single, path)

    return _cached(key, make) if cache else make()


def generate_moving(
    n_sequences: int, n_frames: int, seed: int = 0, *, cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Moving Shapes sequences: a new shape every 15 frames (up to 3), moving one pixel per frame in
    a random direction, clamped at the borders
    (see :func:`hnnbio.data.shapes.moving_shapes_masks`).

    Returns
    -------
    sequences : ndarray, shape (n_sequences, n_frames, 28, 28), uint8 in {0, 1}
    labels : ndarray, shape (n_sequences, n_frames, 28, 28), int16
    """
    n_sequences = _check_count("n_sequences", n_sequences)
    n_frames = _check_count("n_frames", n_frames)

    def make():
        rng = np.random.default_rng([int(seed), len(DATASETS), 0])
        masks = shapes.moving_shapes_masks(rng, n_sequences, n_frames)
        images, labels = shapes.images_from_masks(masks)
        shape = (n_sequences, n_frames, 28, 28)
        return images.reshape(shape), labels.reshape(shape)

    key = ["moving_shapes", n_sequences, n_frames, int(seed), GENERATOR_VERSION]
    return _cached(key, make) if cache else make()


# --- internals -------------------------------------------------------------------------------


def _check_name(name, known: tuple) -> None:
    if not isinstance(name, str) or name not in known:
        raise DataError(f"name: unknown data set {name!r}; choose one of {', '.join(known)}")


def _check_count(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{what}: must be an integer >= 1, got {value!r}")
    return int(value)


def _generate(rng: np.random.Generator, name: str, n: int, single: bool, mnist_path):
    if name == "bars":
        draw = shapes.single_bar_masks if single else shapes.bars_masks
    elif name == "shapes":
        draw = (
            (lambda r, m: shapes.shapes_masks(r, m, n_objects=1)) if single else shapes.shapes_masks
        )
    elif name == "corners":
        draw = shapes.single_corners_masks if single else shapes.corners_masks
    elif name == "multi_digits":
        draw = lambda r, m: digits.multi_digits_masks(r, m, single)  # noqa: E731
    elif name == "digits_shape":
        draw = lambda r, m: digits.digits_shape_masks(r, m, single)  # noqa: E731
    elif name == "mnist_shape":
        draw = lambda r, m: idx.mnist_shape_masks(r, m, mnist_path)  # noqa: E731
    else:
        draw = lambda r, m: idx.multi_mnist_masks(r, m, mnist_path)  # noqa: E731
    images, labels = [], []
    for start in range(0, n, CHUNK):
        im, lab = shapes.images_from_masks(draw(rng, min(CHUNK, n - start)))
        images.append(im)
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)


def _cached(key: list, make) -> tuple[np.ndarray, np.ndarray]:
    """Return ``make()``, read from / written to a cache file named by a hash of ``key``."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    path = cache_dir() / f"{key[0]}-{key[1]}-{digest}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) == repr(key):
                    return data["images"], data["labels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # corrupted or foreign file: regenerate and overwrite
    images, labels = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, images=images, labels=labels, key=np.array(repr(key)))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache is not an error: the arrays are still returned
    return images, labels
