"""MNIST-based binding sets from a user-supplied MNIST image file (IDX format, raw or gzip).

IDX format (LeCun's MNIST files): a big-endian header ``0x00 0x00 <type> <n_dims>`` followed by
``n_dims`` big-endian uint32 sizes and the data in C order; type ``0x08`` is unsigned bytes.
MNIST's image file ``train-images-idx3-ubyte`` is ``(60000, 28, 28)`` uint8.

- MNIST+Shape (28 x 28): object 1 a digit thresholded at 0.5 (``pixel / 255 > 0.5``), object 2 one
  Shapes template at a uniform position.
- Multi-MNIST (48 x 48): three thresholded digits cropped to their bounding boxes at uniform
  positions; the third digit's position is drawn again (up to 100 times) while more than 20% of its
  pixels are covered by the first two.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from hnnbio.data import shapes
from hnnbio.errors import DataError

#: Environment variable naming the MNIST image file (or a folder holding it).
MNIST_ENV = "HNNBIO_MNIST"
#: File names looked for inside a folder.
MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-images-idx3-ubyte.gz",
    "train-images.idx3-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-images-idx3-ubyte.gz",
)
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw, or gzip-compressed: detected from its first bytes).

    Returns
    -------
    ndarray of the shape and type stored in the file.

    Raises
    ------
    DataError
        The file is missing, too short, or its header is not IDX.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mnist_path: IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"mnist_path: {path} is not a readable gzip file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES or raw[3] == 0:
        raise DataError(f"mnist_path: {path} is not an IDX file (bad header {raw[:4].hex()})")
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataError(f"mnist_path: {path} is truncated (header of {n_dims} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_DTYPES[raw[2]])
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != size:
        raise DataError(
            f"mnist_path: {path} holds {len(raw) - header} data bytes, "
            f"expected {size} for shape {shape}"
        )
    return np.frombuffer(raw[header:], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def find_mnist(mnist_path: str | Path | None) -> Path:
    """The MNIST image file: ``mnist_path``, else ``$HNNBIO_MNIST``; a folder is searched for the
    standard file names. Raises DataError saying how to supply it when it is absent."""
    given = mnist_path or os.environ.get(MNIST_ENV)
    how = (
        f"download MNIST's train-images-idx3-ubyte(.gz) and pass mnist_path=... or set {MNIST_ENV}"
    )
    if not given:
        raise DataError(f"mnist_path: no MNIST image file given; {how}")
    path = Path(given).expanduser()
    if path.is_dir():
        for name in MNIST_NAMES:
            if (path / name).is_file():
                return path / name
        raise DataError(f"mnist_path: no MNIST image file ({MNIST_NAMES[0]}[.gz]) in {path}; {how}")
    if not path.is_file():
        raise DataError(f"mnist_path: MNIST image file not found: {path}; {how}")
    return path


def load_digits(mnist_path: str | Path | None) -> np.ndarray:
    """Thresholded MNIST digits, shape (n_digits, 28, 28), bool (``pixel / 255 > 0.5``)."""
    path = find_mnist(mnist_path)
    digits = read_idx(path)
    if digits.ndim != 3 or digits.shape[1:] != (28, 28) or len(digits) == 0:
        raise DataError(
            f"mnist_path: {path} holds an array of shape {digits.shape}, "
            f"expected MNIST images (n, 28, 28)"
        )
    return digits.astype(np.float64) / 255.0 > 0.5


def _place_digits(
    masks: np.ndarray,
    obj: int,
    digits: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    boxes: np.ndarray,
) -> None:
    """Write digits cropped to ``boxes`` (r0, c0) so their box corner lands at (rows, cols)."""
    n, _, size, _ = masks.shape
    pad = np.zeros((n, size + 56, size + 56), dtype=bool)
    rr = np.arange(28)
    r = (rows - boxes[:, 0] + 28)[:, None, None] + rr[None, :, None]
    c = (cols - boxes[:, 1] + 28)[:, None, None] + rr[None, None, :]
    pad[np.arange(n)[:, None, None], r, c] = digits
    masks[:, obj] = pad[:, 28 : 28 + size, 28 : 28 + size]


def mnist_shape_masks(rng: np.random.Generator, n: int, mnist_path=None) -> np.ndarray:
    """Masks of ``n`` MNIST+Shape images (28 x 28): a digit, then one shape."""
    digits = load_digits(mnist_path)
    masks = np.zeros((n, 2, 28, 28), dtype=bool)
    masks[:, 0] = digits[rng.integers(0, len(digits), n)]
    kinds = rng.integers(0, len(shapes.SHAPE_TEMPLATES), n)
    rows, cols = shapes.shape_corners(rng, kinds, 28)
    shapes.stamp_choice(
        masks, np.arange(n), np.ones(n, dtype=np.int64), kinds, shapes.SHAPE_TEMPLATES, rows, cols
    )
    return masks


def multi_mnist_masks(
    rng: np.random.Generator,
    n: int,
    mnist_path=None,
    size: int = 48,
    max_overlap: float = 0.2,
    tries: int = 100,
) -> np.ndarray:
    """Masks of ``n`` Multi-MNIST images (48 x 48) of three cropped digits."""
    digits = load_digits(mnist_path)
    any_r, any_c = digits.any(axis=2), digits.any(axis=1)
    r0, c0 = any_r.argmax(axis=1), any_c.argmax(axis=1)
    h = 28 - any_r[:, ::-1].argmax(axis=1) - r0
    w = 28 - any_c[:, ::-1].argmax(axis=1) - c0
    masks = np.zeros((n, 3, size, size), dtype=bool)
    for obj in range(3):
        pick = rng.integers(0, len(digits), n)
        boxes = np.stack([r0[pick], c0[pick]], axis=1)
        todo = np.arange(n)
        for _ in range(tries if obj == 2 else 1):
            rows = (rng.random(len(todo)) * (size - h[pick[todo]] + 1)).astype(np.int64)
            cols = (rng.random(len(todo)) * (size - w[pick[todo]] + 1)).astype(np.int64)
            part = masks[todo]
            _place_digits(part, obj, digits[pick[todo]], rows, cols, boxes[todo])
            masks[todo] = part
            area = np.maximum(part[:, obj].sum(axis=(1, 2)), 1)
            covered = (part[:, obj] & part[:, :obj].any(axis=1)).sum(axis=(1, 2))
            todo = todo[covered / area >= max_overlap]
            if len(todo) == 0:
                break
    return masks
