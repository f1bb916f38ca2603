"""What the sheets of this package share (column, ping): checks of their design parameters, of the
batch and its foreground, pixel input and output spikes in flat indices ``image * N + pixel``."""

from __future__ import annotations

import dataclasses

import numpy as np

from hnnbio.errors import ParameterError


def check_integers(params, lows: dict) -> None:
    """Each field named in ``lows`` an integer >= its low (a bool is not an integer)."""
    for name, low in lows.items():
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ParameterError(f"{name}: must be an integer >= {low}, got {value!r}")


def check_numbers(params, names, strict: bool = True) -> None:
    """Each field named a finite number > 0 (``strict``) or >= 0."""
    for name in names:
        value = getattr(params, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value) or (value <= 0 if strict else value < 0):
            raise ParameterError(f"{name}: must be a number {'>' if strict else '>='} 0, "
                                 f"got {value!r}")


def params_from_dict(cls, values: dict, what: str):
    """``cls(**values)``; an unknown key raises ParameterError naming it."""
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ParameterError(f"{key}: unknown {what} parameter; known: "
                                 f"{', '.join(sorted(known))}")
    return cls(**values)


def node_params(cls, node):
    """The parameters of a graph population's ``params`` table (``cls.from_dict``); a wrong
    argument is a ParameterError naming the population."""
    try:
        return cls.from_dict(dict(node.params))
    except TypeError as exc:
        raise ParameterError(f"{node.name}: params: {exc}") from None


def check_batch(n_images, n_pixels, dt, params, cls) -> None:
    """The sheet's batch size, pixels per image, step (ms) and parameter object."""
    for name, value in (("n_images", n_images), ("n_pixels", n_pixels)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name}: must be an integer >= 1, got {value!r}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.number)) or not dt > 0:
        raise ParameterError(f"dt: must be > 0 ms, got {dt!r}")
    if params is not None and not isinstance(params, cls):
        raise ParameterError(f"params: expected {cls.__name__}, got {type(params).__name__}")


def foreground_units(foreground, n_images: int, n_pixels: int) -> np.ndarray | None:
    """Flat indices of the foreground (None: every pixel has its units)."""
    if foreground is None:
        return None
    foreground = np.asarray(foreground, dtype=bool)
    if foreground.shape != (n_images, n_pixels):
        raise ParameterError(f"foreground: shape {foreground.shape} != {(n_images, n_pixels)}")
    units = np.flatnonzero(foreground.ravel())
    if units.size == 0:
        raise ParameterError("foreground: no foreground pixel at all")
    return units


def unit_pixels(images, n_images: int, n_pixels: int, units, what: str) -> np.ndarray:
    """Checked pixels (n_images, n_pixels) in [0, 1] as the flat values of the sheet's units;
    input outside the foreground ``units`` raises, naming them ``what``."""
    images = np.asarray(images, dtype=float)
    if images.shape != (n_images, n_pixels):
        raise ParameterError(f"images: shape {images.shape} != {(n_images, n_pixels)}")
    if np.any((images < 0) | (images > 1)):
        raise ParameterError("images: values must lie in [0, 1]")
    flat = images.ravel()
    if units is None:
        return flat
    outside = np.ones(flat.size, dtype=bool)
    outside[units] = False
    if flat[outside].any():
        raise ParameterError(f"images: input outside the sheet's foreground {what}")
    return flat[units]


def spiked(spikespace, units) -> np.ndarray:
    """Flat indices of the neurons in a Brian2 ``_spikespace`` that spiked in the last step."""
    space = spikespace.get_value()
    fired = space[:space[-1]]
    return fired if units is None else units[fired]
