"""Object templates and vectorised drawing of the synthetic binding data sets.

Every data set is drawn the same way: each image holds ``K`` objects, each object is a binary mask
``(K, H, W)``; the image is their union and the label of a pixel is the number of the one object
that covers it (1..K in drawing order), or 0 where no object or more than one object covers it::

    image[p] = 1  if  sum_k mask_k[p] >= 1
    label[p] = k  if  mask_k[p] = 1 and sum_j mask_j[p] = 1,  else 0

Masks are drawn for many images at once by fancy indexing: an object with template pixels
``(ys, xs)`` at top-left corner ``(r, c)`` sets ``mask[n, k, r + ys, c + xs]``.
"""

from __future__ import annotations

import numpy as np

#: Shapes templates, exactly as the reference gives them (7 x 7 square, 7 x 12 triangle).
SQUARE = np.array(
    [
        [int(ch) for ch in row]
        for row in ("1111111", "1111111", "1100011", "1100011", "1100011", "1111111", "1111111")
    ],
    dtype=np.uint8,
)
TRIANGLE = np.array(
    [
        [int(ch) for ch in row]
        for row in (
            "000001100000",
            "000011110000",
            "000111111000",
            "001110011100",
            "011100001110",
            "111111111111",
            "111111111111",
        )
    ],
    dtype=np.uint8,
)
#: The three Shapes templates: square, triangle, triangle flipped upside down.
SHAPE_TEMPLATES = (SQUARE, TRIANGLE, TRIANGLE[::-1].copy())

#: A corner piece: 5 x 5 with its first two rows and first two columns set (an L of thickness 2).
CORNER = np.zeros((5, 5), dtype=np.uint8)
CORNER[:2, :] = 1
CORNER[:, :2] = 1
#: The four orientations: 0 top-left (as is), 1 top-right (columns flipped), 2 bottom-left (rows
#: flipped), 3 bottom-right (both flipped).
CORNER_TEMPLATES = (
    CORNER,
    CORNER[:, ::-1].copy(),
    CORNER[::-1, :].copy(),
    CORNER[::-1, ::-1].copy(),
)
#: Side of the Corners square outline (pixels).
SQUARE_SIDE = 20


def images_from_masks(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union image and labels of object masks.

    Parameters
    ----------
    masks : ndarray, shape (n_images, n_objects, height, width), bool
        One mask per object, objects in drawing order.

    Returns
    -------
    images : ndarray, shape (n_images, height, width), uint8 in {0, 1}
    labels : ndarray, shape (n_images, height, width), int16
        1..n_objects where exactly one object covers the pixel, 0 for background and overlaps.
    """
    count = masks.sum(axis=1, dtype=np.int16)
    images = (count > 0).astype(np.uint8)
    which = np.argmax(masks, axis=1).astype(np.int16) + 1
    labels = np.where(count == 1, which, 0).astype(np.int16)
    return images, labels


def stamp(
    masks: np.ndarray,
    image_idx: np.ndarray,
    object_idx: np.ndarray,
    template: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> None:
    """Set ``template`` into ``masks[image_idx, object_idx]`` at top-left corners ``(rows, cols)``.

    All index arrays have shape (n,); corners must keep the template inside the canvas.
    """
    if len(image_idx) == 0:
        return
    ys, xs = np.nonzero(template)
    masks[image_idx[:, None], object_idx[:, None], rows[:, None] + ys, cols[:, None] + xs] = True


def stamp_choice(
    masks: np.ndarray,
    image_idx: np.ndarray,
    object_idx: np.ndarray,
    kinds: np.ndarray,
    templates: tuple,
    rows: np.ndarray,
    cols: np.ndarray,
) -> None:
    """Like :func:`stamp`, with template ``templates[kinds[i]]`` for object ``i``."""
    for kind, template in enumerate(templates):
        sel = kinds == kind
        stamp(masks, image_idx[sel], object_idx[sel], template, rows[sel], cols[sel])


def shape_corners(
    rng: np.random.Generator, kinds: np.ndarray, size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform top-left corners keeping Shapes templates ``kinds`` fully inside the canvas."""
    heights = np.array([t.shape[0] for t in SHAPE_TEMPLATES])[kinds]
    widths = np.array([t.shape[1] for t in SHAPE_TEMPLATES])[kinds]
    rows = (rng.random(kinds.shape) * (size - heights + 1)).astype(np.int64)
    cols = (rng.random(kinds.shape) * (size - widths + 1)).astype(np.int64)
    return rows, cols


def bars_masks(rng: np.random.Generator, n: int, size: int = 20, n_each: int = 6) -> np.ndarray:
    """Masks of ``n`` Bars images: objects 1..n_each vertical bars, then n_each horizontal bars.

    Columns (rows) of one image are distinct, drawn uniformly without replacement.
    """
    cols = np.argsort(rng.random((n, size)), axis=1)[:, :n_each]
    rows = np.argsort(rng.random((n, size)), axis=1)[:, :n_each]
    masks = np.zeros((n, 2 * n_each, size, size), dtype=bool)
    img = np.arange(n)[:, None]
    obj = np.arange(n_each)[None, :]
    masks[img, obj, :, cols] = True
    masks[img, obj + n_each, rows, :] = True
    return masks


def single_bar_masks(rng: np.random.Generator, n: int, size: int = 20) -> np.ndarray:
    """Masks of ``n`` one-bar images: half vertical (rounded up), half horizontal, shuffled."""
    vertical = rng.permutation(np.arange(n) % 2 == 0)
    where = rng.integers(0, size, n)
    masks = np.zeros((n, 1, size, size), dtype=bool)
    idx = np.arange(n)
    masks[idx[vertical], 0, :, where[vertical]] = True
    masks[idx[~vertical], 0, where[~vertical], :] = True
    return masks


def shapes_masks(
    rng: np.random.Generator, n: int, n_objects: int = 3, size: int = 28
) -> np.ndarray:
    """Masks of ``n`` Shapes images of ``n_objects`` shapes (template and corner uniform)."""
    kinds = rng.integers(0, len(SHAPE_TEMPLATES), (n, n_objects))
    rows, cols = shape_corners(rng, kinds, size)
    masks = np.zeros((n, n_objects, size, size), dtype=bool)
    img, obj = np.meshgrid(np.arange(n), np.arange(n_objects), indexing="ij")
    stamp_choice(
        masks, img.ravel(), obj.ravel(), kinds.ravel(), SHAPE_TEMPLATES, rows.ravel(), cols.ravel()
    )
    return masks


def square_outline(
    masks: np.ndarray,
    image_idx: np.ndarray,
    object_idx: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> None:
    """Draw 20 x 20 square outlines (four corner pieces) with top-left corners ``(rows, cols)``."""
    far = SQUARE_SIDE - CORNER.shape[0]
    for kind, (dr, dc) in enumerate(((0, 0), (0, far), (far, 0), (far, far))):
        stamp(masks, image_idx, object_idx, CORNER_TEMPLATES[kind], rows + dr, cols + dc)


def corners_masks(rng: np.random.Generator, n: int, n_lone: int = 4, size: int = 28) -> np.ndarray:
    """Masks of ``n`` Corners images: object 1 a square outline at x, y in 0..8, then ``n_lone``
    lone corners (orientation uniform, x, y in 0..23)."""
    masks = np.zeros((n, 1 + n_lone, size, size), dtype=bool)
    idx = np.arange(n)
    span = size - SQUARE_SIDE + 1
    square_outline(
        masks, idx, np.zeros(n, dtype=np.int64), rng.integers(0, span, n), rng.integers(0, span, n)
    )
    img, obj = np.meshgrid(idx, np.arange(1, 1 + n_lone), indexing="ij")
    span = size - CORNER.shape[0] + 1
    stamp_choice(
        masks,
        img.ravel(),
        obj.ravel(),
        rng.integers(0, 4, img.size),
        CORNER_TEMPLATES,
        rng.integers(0, span, img.size),
        rng.integers(0, span, img.size),
    )
    return masks


def single_corners_masks(
    rng: np.random.Generator, n: int, size: int = 28, p_square: float = 1 / 7
) -> np.ndarray:
    """Masks of ``n`` one-object Corners images: a lone square with probability ``p_square``, else a
    lone corner."""
    masks = np.zeros((n, 1, size, size), dtype=bool)
    is_square = rng.random(n) < p_square
    idx = np.arange(n)
    zeros = np.zeros(n, dtype=np.int64)
    span = size - SQUARE_SIDE + 1
    r, c = rng.integers(0, span, n), rng.integers(0, span, n)
    square_outline(masks, idx[is_square], zeros[is_square], r[is_square], c[is_square])
    span = size - CORNER.shape[0] + 1
    kinds, r, c = rng.integers(0, 4, n), rng.integers(0, span, n), rng.integers(0, span, n)
    lone = ~is_square
    stamp_choice(masks, idx[lone], zeros[lone], kinds[lone], CORNER_TEMPLATES, r[lone], c[lone])
    return masks


def moving_shapes_masks(
    rng: np.random.Generator,
    n_sequences: int,
    n_frames: int,
    n_objects: int = 3,
    every: int = 15,
    size: int = 28,
    speed: float = 1.0,
) -> np.ndarray:
    """Masks of moving Shapes sequences, shape (n_sequences * n_frames, n_objects, size, size).

    Object ``k`` (0-based) appears at frame ``every * k`` at a uniform position and moves at
    ``speed`` pixels per frame in a uniform random direction; its top-left corner is
    ``clip(round(start + velocity * (t - every * k)), 0, size - template size)`` (clamped at the
    borders). Frames are ordered sequence-major.
    """
    kinds = rng.integers(0, len(SHAPE_TEMPLATES), (n_sequences, n_objects))
    rows0, cols0 = shape_corners(rng, kinds, size)
    angle = rng.random((n_sequences, n_objects)) * 2 * np.pi
    heights = np.array([t.shape[0] for t in SHAPE_TEMPLATES])[kinds]
    widths = np.array([t.shape[1] for t in SHAPE_TEMPLATES])[kinds]
    age = np.arange(n_frames)[None, :, None] - every * np.arange(n_objects)[None, None, :]
    rows = np.clip(
        np.rint(rows0[:, None] + speed * np.sin(angle)[:, None] * age), 0, (size - heights)[:, None]
    ).astype(np.int64)
    cols = np.clip(
        np.rint(cols0[:, None] + speed * np.cos(angle)[:, None] * age), 0, (size - widths)[:, None]
    ).astype(np.int64)
    shown = np.broadcast_to(age >= 0, rows.shape)
    seq, frame, obj = np.meshgrid(
        np.arange(n_sequences), np.arange(n_frames), np.arange(n_objects), indexing="ij"
    )
    kinds_all = np.broadcast_to(kinds[:, None, :], rows.shape)
    masks = np.zeros((n_sequences * n_frames, n_objects, size, size), dtype=bool)
    image = (seq * n_frames + frame)[shown]
    stamp_choice(
        masks, image, obj[shown], kinds_all[shown], SHAPE_TEMPLATES, rows[shown], cols[shown]
    )
    return masks
