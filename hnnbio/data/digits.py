"""scikit-learn's bundled handwritten digits, with a fixed train / evaluation split.

:func:`sklearn.datasets.load_digits` ships 1797 images of 8 x 8 pixels, grey levels 0..16 (each
pixel counts the "on" pixels of a 4 x 4 block of the original 32 x 32 bitmaps), labels 0..9. It is
read from the scikit-learn installation: nothing is downloaded.

The split is fixed by position, so every run and every user sees the same sets:

=========  ==================  ======
split      indices             images
=========  ==================  ======
``train``  ``i < 1400``        1400
``eval``   ``i >= 1400``       397
=========  ==================  ======

:func:`binary_16` turns the 8 x 8 grey images into 16 x 16 binary ones: nearest-neighbour
upsampling by 2 (every pixel becomes a 2 x 2 block) and a threshold at half the grey range,

.. math::

    b_{2r + i,\\, 2c + j} = [\\, g_{r c} \\ge 8 \\,], \\qquad i, j \\in \\{0, 1\\}.

Example
-------
>>> images, labels = load_digits("eval")
>>> images.shape, images.dtype, int(images.max()), labels.shape
((397, 8, 8), dtype('uint8'), 16, (397,))
>>> binary_16(images).shape
(397, 16, 16)
"""

from __future__ import annotations

import numpy as np

from hnnbio.data import shapes
from hnnbio.errors import DataError, ParameterError

#: Images in scikit-learn's digits set.
N_IMAGES = 1797
#: Images with index below this are the training split; the rest are the evaluation split.
N_TRAIN = 1400
#: Largest grey level of the 8 x 8 images.
GREY_MAX = 16
#: Grey level at and above which a pixel is "on" in :func:`binarize` (half of ``GREY_MAX``).
THRESHOLD = 8
#: Image side of the bundled set (pixels).
IMAGE_SIZE = 8
SPLITS = ("train", "eval")


def load_digits(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of one split of scikit-learn's digits.

    Parameters
    ----------
    split : {"train", "eval"}
        ``"train"``: indices 0..1399; ``"eval"``: indices 1400..1796.

    Returns
    -------
    images : ndarray, shape (n_images, 8, 8), uint8, grey levels 0..16
    labels : ndarray, shape (n_images,), int64, digits 0..9
    """
    if split not in SPLITS:
        raise DataError(f"split: must be one of {', '.join(SPLITS)}, got {split!r}")
    # Imported here: scikit-learn takes a second to import and only this loader needs it.
    from sklearn.datasets import load_digits as _sklearn_load_digits

    bunch = _sklearn_load_digits()
    grey = np.asarray(bunch.images)
    if grey.shape != (N_IMAGES, IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"scikit-learn's digits: expected shape {(N_IMAGES, IMAGE_SIZE, IMAGE_SIZE)}, got "
            f"{grey.shape}; reinstall scikit-learn"
        )
    images = grey.astype(np.uint8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    part = slice(0, N_TRAIN) if split == "train" else slice(N_TRAIN, N_IMAGES)
    return images[part].copy(), labels[part].copy()


def first_eval_images(images: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``images`` digits of the evaluation split (all of them with None), as
    :func:`load_digits`; a count that is not a positive integer, or beyond the split's 397
    images, is refused with one line."""
    grey, labels = load_digits("eval")
    if images is None:
        return grey, labels
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise ParameterError(f"images: must be a positive integer, got {images!r}")
    if images > len(labels):
        raise ParameterError(f"images: {images} asked, the evaluation split has {len(labels)} "
                             f"(digits {N_TRAIN}..{N_IMAGES - 1})")
    return grey[:images], labels[:images]


def upsample(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Nearest-neighbour upsampling: every pixel becomes a ``factor x factor`` block.

    Parameters
    ----------
    images : ndarray, shape (..., height, width)
    factor : int >= 1

    Returns
    -------
    ndarray, shape (..., factor * height, factor * width), the dtype of ``images``
    """
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 1:
        raise ParameterError(f"factor: must be an integer >= 1, got {factor!r}")
    images = np.asarray(images)
    if images.ndim < 2:
        raise DataError(f"images: expected shape (..., height, width), got {images.shape}")
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


def binarize(images: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """1 where the grey level is ``>= threshold``, else 0; uint8, the shape of ``images``."""
    images = np.asarray(images)
    if images.size and (images.min() < 0 or images.max() > GREY_MAX):
        raise DataError(
            f"images: grey levels must lie in 0..{GREY_MAX}, got {images.min()}..{images.max()}"
        )
    return (images >= threshold).astype(np.uint8)


def binary_16(images: np.ndarray) -> np.ndarray:
    """8 x 8 grey digits -> 16 x 16 binary images (upsampling by 2, then threshold 8).

    Parameters
    ----------
    images : ndarray, shape (n_images, 8, 8), grey levels 0..16

    Returns
    -------
    ndarray, shape (n_images, 16, 16), uint8 in {0, 1}
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"images: expected shape (n_images, 8, 8), got {images.shape}")
    return binarize(upsample(images, 2))


# --- the binding data sets made of these digits ------------------------------------------------

#: Side of one digit glyph of the binding sets (the 8 x 8 digit upsampled x2, see binary_16).
GLYPH_SIZE = 16


def glyphs(split: str) -> np.ndarray:
    """The 16 x 16 binary glyphs of one split (see :func:`binary_16`), empty glyphs dropped.

    Returns
    -------
    ndarray, shape (n_glyphs, 16, 16), bool
    """
    images, _ = load_digits(split)
    glyph = binary_16(images).astype(bool)
    return glyph[glyph.any(axis=(1, 2))]


def place_glyphs(rng: np.random.Generator, masks: np.ndarray, objects: np.ndarray,
                 pool: np.ndarray) -> None:
    """Draw one glyph of ``pool`` (uniform) per image into ``masks[:, objects[i]]``, at a uniform
    top-left corner keeping it inside the canvas (drawn glyph first, then its corner)."""
    n, size = masks.shape[0], masks.shape[-1]
    choice = rng.integers(0, len(pool), n)
    rows = rng.integers(0, size - GLYPH_SIZE + 1, n)
    cols = rng.integers(0, size - GLYPH_SIZE + 1, n)
    img = np.arange(n)[:, None, None]
    ys = rows[:, None, None] + np.arange(GLYPH_SIZE)[None, :, None]
    xs = cols[:, None, None] + np.arange(GLYPH_SIZE)[None, None, :]
    masks[img, np.asarray(objects)[:, None, None], ys, xs] = pool[choice]


def multi_digits_masks(rng: np.random.Generator, n: int, single: bool = False,
                       size: int = 32) -> np.ndarray:
    """Masks of ``n`` Multi-digits images: two digits (any classes) at uniform positions on a
    ``size`` x ``size`` canvas, overlaps allowed. Multi-object images use the evaluation split
    only; ``single=True`` (the autoencoder's training set) one digit of the training split.
    """
    pool = glyphs("train" if single else "eval")
    k = 1 if single else 2
    masks = np.zeros((n, k, size, size), dtype=bool)
    for obj in range(k):
        place_glyphs(rng, masks, np.full(n, obj), pool)
    return masks


def digits_shape_masks(rng: np.random.Generator, n: int, single: bool = False,
                       size: int = 28) -> np.ndarray:
    """Masks of ``n`` Digits+Shape images: a digit (evaluation split) at a uniform position, then
    one shape of the Shapes set, on a ``size`` x ``size`` canvas. ``single=True``: one object per
    image, a digit of the training split or a shape, half and half (shuffled).
    """
    k = 1 if single else 2
    masks = np.zeros((n, k, size, size), dtype=bool)
    if single:
        is_digit = rng.permutation(np.arange(n) % 2 == 0)
    else:
        is_digit = np.ones(n, dtype=bool)
    digit_masks = masks[is_digit]
    place_glyphs(rng, digit_masks, np.zeros(len(digit_masks), dtype=np.int64),
                 glyphs("train" if single else "eval"))
    masks[is_digit] = digit_masks
    shape_images = np.flatnonzero(~is_digit) if single else np.arange(n)
    kinds = rng.integers(0, len(shapes.SHAPE_TEMPLATES), len(shape_images))
    rows, cols = shapes.shape_corners(rng, kinds, size)
    shapes.stamp_choice(masks, shape_images, np.full(len(shape_images), k - 1), kinds,
                        shapes.SHAPE_TEMPLATES, rows, cols)
    return masks
