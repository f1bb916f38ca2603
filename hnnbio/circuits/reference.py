"""The reference sheet: stochastic gated units, one per pixel and image (reference binding model).

Each unit spikes at step ``t`` with probability ``x * c_t`` unless refractory, where ``x`` is the
pixel's binary input and ``c_t`` the top-down attention (multiplicative gating of the feed-forward
input)::

    spike_t = [u_t < x * c_t] and not refractory,   u_t ~ U(0, 1)

After a spike the unit is silent for ``refractory_steps`` steps (so at ``x * c = 1`` it fires every
``refractory_steps + 1`` steps). In Brian2: ``threshold='rand() < x*c'`` and
``refractory=(refractory_steps + 1) * dt`` (Brian2 lets a unit fire again once ``t - lastspike >=
refractory``, i.e. a refractory period of ``r * dt`` silences only ``r - 1`` steps).

B images of N pixels are one NeuronGroup of B*N units, index = image * N + pixel. Background pixels
(``x = 0``) can never fire, so given the images up front (``foreground=``) the group holds only the
foreground units; the sheet still speaks in flat indices ``image * N + pixel`` (a lookup table maps
the group's units to them), which makes every step proportionally cheaper.
"""

from __future__ import annotations

import numpy as np
from brian2 import NeuronGroup, ms

from hnnbio.errors import ParameterError

EQUATIONS = """
x : 1 (constant)  # feed-forward input (binary pixel)
c : 1             # top-down attention (gain on the input)
"""


class ReferenceSheet:
    """Stochastic gated units implementing :class:`hnnbio.circuits.sheet.Sheet`.

    Parameters
    ----------
    n_images : int
        B, images simulated together.
    n_pixels : int
        N, pixels per image.
    refractory_steps : int
        r, steps a unit stays silent after a spike (>= 0).
    dt : float
        Step in milliseconds.
    foreground : ndarray, shape (n_images, n_pixels), bool, optional
        Simulate only these units (the input must then be 0 elsewhere).
    """

    def __init__(
        self,
        n_images: int,
        n_pixels: int,
        refractory_steps: int,
        dt: float = 1.0,
        foreground: np.ndarray | None = None,
    ):
        for name, value, low in (
            ("n_images", n_images, 1),
            ("n_pixels", n_pixels, 1),
            ("refractory_steps", refractory_steps, 0),
        ):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name}: must be an integer >= {low}, got {value!r}")
        if not dt > 0:
            raise ParameterError(f"dt: must be > 0 ms, got {dt}")
        self.n_images, self.n_pixels = int(n_images), int(n_pixels)
        self.refractory_steps = int(refractory_steps)
        self.dt = float(dt)
        size = self.n_images * self.n_pixels
        if foreground is None:
            self.units = None
        else:
            foreground = np.asarray(foreground, dtype=bool)
            if foreground.shape != (self.n_images, self.n_pixels):
                raise ParameterError(
                    f"foreground: shape {foreground.shape} != {(self.n_images, self.n_pixels)}"
                )
            self.units = np.flatnonzero(foreground.ravel())  # unit -> flat index
            if self.units.size == 0:
                raise ParameterError("foreground: no foreground pixel at all")
            size = self.units.size
        self.group = NeuronGroup(
            size,
            EQUATIONS,
            threshold="rand() < x*c",
            refractory=(self.refractory_steps + 1) * self.dt * ms,
            dt=self.dt * ms,
            dtype={"c": np.float32},  # the attention is float32 (the autoencoder's output)
        )
        self.output = self.group
        self.objects = [self.group]
        self._spikespace = self.group.variables["_spikespace"]
        self._x = self.group.variables["x"]
        self._c = self.group.variables["c"]

    def set_input(self, images: np.ndarray) -> None:
        images = np.asarray(images, dtype=float)
        if images.shape != (self.n_images, self.n_pixels):
            raise ParameterError(
                f"images: shape {images.shape} != {(self.n_images, self.n_pixels)}"
            )
        flat = images.ravel()
        if self.units is not None:
            outside = np.ones(flat.size, bool)
            outside[self.units] = False
            if flat[outside].any():
                raise ParameterError("images: input outside the sheet's foreground units")
            flat = flat[self.units]
        self._x.get_value()[:] = flat

    def set_attention(self, attention: np.ndarray) -> None:
        flat = np.reshape(attention, -1)
        if flat.size != self.n_images * self.n_pixels:
            raise ParameterError(
                f"attention: {flat.size} values != {self.n_images} x {self.n_pixels}"
            )
        c = self._c.get_value()
        if self.units is None:
            c[:] = flat
        elif flat.dtype == c.dtype:  # gather straight into the group's array
            np.take(flat, self.units, out=c, mode="clip")  # units < n_images * n_pixels
        else:
            c[:] = flat[self.units]

    def step_indices(self) -> np.ndarray:
        """Flat indices (image * N + pixel) of the units that spiked in the step just simulated."""
        space = self._spikespace.get_value()
        fired = space[: space[-1]]
        return fired if self.units is None else self.units[fired]

    def step_spikes(self) -> np.ndarray:
        out = np.zeros(self.n_images * self.n_pixels, dtype=bool)
        out[self.step_indices()] = True
        return out.reshape(self.n_images, self.n_pixels)
