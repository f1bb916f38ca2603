"""The user's own images for binding: ``.npy`` arrays, PNG files and folders of PNGs.

What is read (:func:`read_images`):

==================  ==========================================================================
source              accepted
==================  ==========================================================================
``X.npy``           shape (B, H, W) or (H, W); bool, integers 0/1, uint8 0/255 (read as 0/1,
                    and said so in the returned note), or floats that are exactly 0.0/1.0
``X.png``           one image; grey, RGB or RGBA (alpha ignored), every pixel 0 or 255 (or 0/1)
folder              every ``*.png`` in it, sorted by name, all of one size
==================  ==========================================================================

Refused, with one line naming the file (and the image of a stack) and the problem
(:class:`hnnbio.errors.DataError`): a missing or unreadable file, another format, a shape that is
not 2-D or 3-D, NaN or infinite values, non-binary values, an empty image (no pixel on), a folder
without PNGs or with PNGs of different sizes.

Ground truth (:func:`read_truth`): a ``.npy`` of integer labels >= 0 (0 background and overlaps,
1..K objects) of the images' shape, or a PNG/folder of PNGs of grey levels used as labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hnnbio.errors import DataError

SUFFIXES = (".npy", ".png")
NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file


def read_images(path: str | Path) -> tuple[np.ndarray, str]:
    """Read binary images from a ``.npy``, a PNG or a folder of PNGs.

    Returns
    -------
    images : ndarray, shape (B, H, W), uint8 in {0, 1}
    note : str
        How the values were read (e.g. ``"uint8 0/255 read as 0/1"``), for the user.
    """
    raw, name = _read_any(Path(path), "images")
    return _binary(raw, name)


def read_truth(path: str | Path, shape: tuple) -> np.ndarray:
    """Read ground-truth labels of images of ``shape`` (B, H, W): int64, >= 0."""
    raw, name = _read_any(Path(path), "truth")
    if raw.dtype.kind == "b" or raw.dtype.kind not in "iuf":
        raise DataError(f"{name}: labels must be integers, got dtype {raw.dtype}")
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
            raise DataError(f"{name}: labels must be whole numbers (found NaN, inf or fractions)")
    labels = raw.astype(np.int64)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.shape != tuple(shape):
        raise DataError(f"{name}: labels of shape {labels.shape} for images of shape "
                        f"{tuple(shape)}")
    if labels.min(initial=0) < 0:
        raise DataError(f"{name}: negative labels; objects are 1..K and 0 is background")
    return labels


def _read_any(path: Path, what: str) -> tuple[np.ndarray, str]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise DataError(f"{what}: {path}: no .png files in the folder")
        arrays = [_read_png(p) for p in files]
        for file, arr in zip(files, arrays, strict=True):
            if arr.shape != arrays[0].shape:
                raise DataError(f"{what}: {file}: size {_size(arr)} differs from "
                                f"{files[0].name}'s {_size(arrays[0])}")
        return np.stack(arrays), str(path)
    if not path.is_file():
        raise DataError(f"{what}: {path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".png":
        return _read_png(path), str(path)
    if suffix != ".npy":
        raise DataError(f"{what}: {path}: unsupported format {suffix or '(none)'}; give a .npy "
                        "array (B, H, W), a .png or a folder of .png files")
    arr = load_npy(path, what, finite=False)  # NaN is named later, with the other values
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise DataError(f"{what}: {path}: expected shape (B, H, W) or (H, W), got {arr.shape}")
    return arr, str(path)


def load_npy(path: str | Path, what: str = "input", finite: bool = True) -> np.ndarray:
    """A numeric ``.npy`` array, read without pickles; one line naming ``what``, the file and
    the problem: no such file, not a .npy file (no NumPy header: a garbage or renamed file),
    unreadable (truncated, object arrays), a dtype that is not numeric, NaN or infinite values
    (with ``finite``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what}: {path}: no such file")
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        raise DataError(f"{what}: {path}: not a .npy file (it does not start with NumPy's "
                        "header)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, ... on bad files
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"{what}: {path}: not a readable .npy file ({type(exc).__name__}"
                        f"{': ' + reason if reason else ''})") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: {path}: expected a numeric array, got dtype {arr.dtype}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError(f"{what}: {path}: contains NaN or infinite values")
    return arr


def _size(arr: np.ndarray) -> str:
    return f"{arr.shape[1]}x{arr.shape[0]}"


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "P"):
                im = im.convert("RGBA").convert("RGB")
            grey = np.asarray(im.convert("L") if im.mode not in ("L", "1", "I", "I;16") else im)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"images: {path}: not a readable PNG ({type(exc).__name__})") from None
    return grey.astype(np.int64) if grey.dtype != bool else grey


def _binary(raw: np.ndarray, name: str) -> tuple[np.ndarray, str]:
    arr = raw[None] if raw.ndim == 2 else raw
    note = "binary values"
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataError(f"{name}: NaN or infinite values; images must be binary (0/1)")
    values = np.unique(arr)
    if arr.dtype.kind == "b":
        images = arr.astype(np.uint8)
    elif set(values.tolist()) <= {0, 1}:
        images = arr.astype(np.uint8)
    elif set(values.tolist()) <= {0, 255} and arr.dtype.kind in "iu":
        images = (arr == 255).astype(np.uint8)
        note = "uint8 0/255 read as 0/1"
    else:
        bad = next(v for v in values.tolist() if v not in (0, 1))
        raise DataError(f"{name}: non-binary values (found {bad!r}); images must be 0/1, bool or "
                        "uint8 0/255 (threshold grey images first)")
    empty = np.flatnonzero(~images.reshape(len(images), -1).any(axis=1))
    if empty.size:
        which = f"image {int(empty[0])}" if len(images) > 1 else "the image"
        raise DataError(f"{name}: {which} is empty (no pixel on); binding needs objects")
    return images, note
