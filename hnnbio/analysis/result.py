"""The result of a binding run: one kind of object for Brian2 and for the chip emulator, which the
analyses read (it lives below binding so that analysis never imports binding).

Spikes are stored sparsely (one row per spike: image, step, pixel): a 50-cycle run on a 28x28
image has a few thousand spikes against 1.2 million raster cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class BindingResult:
    """Spikes, attention, predicted groups and metrics of a batch of binding runs.

    Attributes
    ----------
    images : ndarray, shape (n_images, height, width), uint8 in {0, 1}
        The input images.
    spike_image, spike_step, spike_pixel : ndarray, shape (n_spikes,), int
        One row per spike: which image, at which step (0-based), which pixel (row-major index).
    n_steps : int
        Steps simulated per image (``cycles * steps_per_cycle``).
    steps_per_cycle : int
        D, the length of one cycle of the loop.
    dt_ms : float
        Duration of one step in milliseconds (for Neo conversion and Elephant analyses).
    attention : ndarray, shape (n_images, steps_per_cycle, height, width), float32
        The top-down attention maps applied during the last cycle.
    labels : ndarray, shape (n_images, height, width), int
        Predicted group per pixel (0 for background pixels, 1..K for groups).
    truth : ndarray, shape (n_images, height, width), int, or None
        Ground-truth object labels (0 for background and overlaps), if given.
    metrics : dict of str to ndarray, shape (n_images,)
        Per-image scores, e.g. ``ami``, ``synchrony``, ``rate`` (present when ``truth`` is given).
    model : str
        Name of the model spec that produced the result.
    backend : str
        ``"brian2"`` or ``"emulator"`` (or ``"nospike"`` for the no-spike baseline).
    seconds : float
        Wall-clock time of the simulation and readout.
    info : dict
        Anything else worth keeping (counters of the emulator, seed, settings).
    """

    images: np.ndarray
    spike_image: np.ndarray
    spike_step: np.ndarray
    spike_pixel: np.ndarray
    n_steps: int
    steps_per_cycle: int
    dt_ms: float = 1.0
    attention: np.ndarray | None = None
    labels: np.ndarray | None = None
    truth: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    model: str = ""
    backend: str = "brian2"
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of one image."""
        return tuple(self.images.shape[1:])

    @property
    def n_pixels(self) -> int:
        return int(self.images.shape[1] * self.images.shape[2])

    def raster(self, image: int, first_step: int = 0, last_step: int | None = None) -> np.ndarray:
        """Dense spike raster of one image.

        Returns
        -------
        ndarray, shape (n_steps_in_range, n_pixels), bool
            ``raster[t, p]`` is True when pixel ``p`` spiked at step ``first_step + t``.
        """
        last = self.n_steps if last_step is None else last_step
        keep = (
            (self.spike_image == image) & (self.spike_step >= first_step) & (self.spike_step < last)
        )
        out = np.zeros((last - first_step, self.n_pixels), dtype=bool)
        out[self.spike_step[keep] - first_step, self.spike_pixel[keep]] = True
        return out

    def rasters(self, first_step: int = 0, last_step: int | None = None) -> np.ndarray:
        """Dense rasters of all images, shape (n_images, n_steps_in_range, n_pixels), bool."""
        last = self.n_steps if last_step is None else last_step
        keep = (self.spike_step >= first_step) & (self.spike_step < last)
        out = np.zeros((self.n_images, last - first_step, self.n_pixels), dtype=bool)
        out[self.spike_image[keep], self.spike_step[keep] - first_step, self.spike_pixel[keep]] = (
            True
        )
        return out

    def summary(self) -> dict:
        """Mean of each metric over images, plus counts and time (what the CLI prints) and, for a
        ping sheet, the rhythm its cycle was measured from."""
        out = {k: float(np.nanmean(v)) for k, v in self.metrics.items()}
        out.update(
            images=self.n_images,
            seconds=float(self.seconds),
            model=self.model,
            backend=self.backend,
        )
        if "rhythm" in self.info:  # a ping sheet: the cycle measured from the network
            out["rhythm"] = {k: self.info["rhythm"][k] for k in
                             ("period_steps", "frequency_hz", "slots", "steps_per_cycle")}
        return out

    def __repr__(self) -> str:
        means = ", ".join(f"{k}={np.nanmean(v):.3f}" for k, v in self.metrics.items())
        return (
            f"BindingResult(model={self.model!r}, backend={self.backend!r}, "
            f"images={self.n_images}, shape={self.shape}, steps={self.n_steps}, "
            f"spikes={self.spike_step.size}{', ' + means if means else ''})"
        )

    def save(self, path) -> None:
        """Write the result to a compressed ``.npz`` file (see :meth:`load`)."""
        import json

        arrays = {
            k: getattr(self, k) for k in ("images", "spike_image", "spike_step", "spike_pixel")
        }
        for k in ("attention", "labels", "truth"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k)
        for k, v in self.metrics.items():
            arrays[f"metric_{k}"] = np.asarray(v)
        meta = dict(
            n_steps=self.n_steps,
            steps_per_cycle=self.steps_per_cycle,
            dt_ms=self.dt_ms,
            model=self.model,
            backend=self.backend,
            seconds=self.seconds,
            info=_jsonable(self.info),
        )
        np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path) -> BindingResult:
        """Read a result written by :meth:`save`."""
        from hnnbio.hnn.result import read_result_npz

        meta, arrays = read_result_npz(path, "a binding")
        metrics = {
            k[len("metric_") :]: arrays.pop(k) for k in list(arrays) if k.startswith("metric_")
        }
        return cls(metrics=metrics, **arrays, **meta)


def _jsonable(obj):
    """Turn numpy scalars/arrays inside dicts and lists into plain Python for JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
