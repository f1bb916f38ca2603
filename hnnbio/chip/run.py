"""Run a chip program on images: spikes, attention, counters and scores as a BindingResult.

The emulator's result is the same kind of object as the float loop's (backend ``"emulator"``), so
every readout and analysis works on both. The host loads each batch: the image bits and the initial
delay ring, ``c[slot, p] = |N(0, 1)|`` normalised over the D slots of each pixel (as the float
loop), encoded as ``round(256 c)`` clamped to [0, 255].
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hnnbio.binding.result import BindingResult
from hnnbio.chip.emulator import Emulator
from hnnbio.chip.program import Program, load_program
from hnnbio.errors import DataError, ParameterError


def initial_attention(n_images: int, ring_length: int, n_pixels: int, seed: int,
                      dtype=np.int64) -> np.ndarray:
    """Initial delay-ring codes, shape (n_images, ring_length, n_pixels), in [0, 255].

    ``dtype`` (int64 by default; emulate asks for uint8) changes the type, never the codes.
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer) or np.iinfo(dtype).max < 255:
        raise ParameterError(f"dtype: must be an integer type holding 0 .. 255, got {dtype}")
    rng = np.random.default_rng([seed, 1])
    c = rng.standard_normal((n_images, ring_length, n_pixels))
    np.abs(c, out=c)  # in place: the same operations, no temporaries
    c /= c.sum(axis=1, keepdims=True)
    c *= 256
    np.rint(c, out=c)
    np.clip(c, 0, 255, out=c)
    return c.astype(dtype)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def emulate(program: Program | str | Path, images: np.ndarray, seed: int = 0,
            batch_size: int | None = None, truth: np.ndarray | None = None,
            cycles: int | None = None, progress: bool = False) -> BindingResult:
    """Run a program on images and read out (and score, with ``truth``) as the float loop does.

    Parameters
    ----------
    program : Program or path
    images : ndarray, shape (n_images, height, width), {0, 1}
    seed : int
        Seeds the LFSRs (per image, independent of the batch size) and the initial attention.
    batch_size : int, optional
        Images emulated together (default: the spec's 128).
    truth : ndarray, shape (n_images, height, width), optional
        Ground-truth labels; with them metrics are filled.
    cycles : int, optional
        Overrides the program's number of cycles.
    progress : bool
        Show a progress bar over steps.
    """
    from tqdm import tqdm

    program = program if isinstance(program, Program) else load_program(program)
    m = program.manifest
    images = np.asarray(images)
    shape = tuple(m["model"]["image_shape"])
    if images.ndim != 3 or images.shape[1:] != shape or images.shape[0] < 1:
        raise DataError(f"images: expected shape (n_images, {shape[0]}, {shape[1]}), got "
                        f"{images.shape}")
    if not np.isin(images, (0, 1)).all():
        raise DataError("images: must be binary (0 or 1)")
    n_images = images.shape[0]
    size = _positive("batch_size", batch_size if batch_size is not None else 128)
    n_cycles = _positive("cycles", cycles if cycles is not None else m["loop"]["cycles"])
    d = int(m["loop"]["steps_per_cycle"])
    n_steps = n_cycles * d
    emulator = Emulator(program)
    flat = images.reshape(n_images, -1)
    ring0 = initial_attention(n_images, emulator.ring_length, emulator.n_pixels, seed,
                             dtype=np.uint8)
    start = time.perf_counter()
    spikes, counts, attention, totals = [], [], [], {}
    bar = tqdm(total=n_steps * ((n_images + size - 1) // size), disable=not progress, unit="step")
    for first in range(0, n_images, size):
        emulator.reset(flat[first:first + size], ring0[first:first + size], seed, first_image=first)
        att = np.zeros((flat[first:first + size].shape[0], d, emulator.n_pixels), dtype=np.uint8)
        for t in range(n_steps):
            if t >= n_steps - d:
                att[:, t - (n_steps - d)] = emulator.ring[:, t % emulator.ring_length]
            emulator.step(dense=False)
            flat_spikes = emulator.last_spikes  # a fresh array each step
            spikes.append(flat_spikes + first * emulator.n_pixels if first else flat_spikes)
            counts.append(emulator.last_spikes.size)
            bar.update(1)
        attention.append(att)
        for k, v in emulator.counters.items():
            totals[k] = totals.get(k, 0) + v
    bar.close()
    counters = emulator.summary()
    counters.update(totals)
    counters["steps"] = n_steps
    counters["energy_uj_per_image"] = (totals["macs"] * program.chip.pj_per_mac
                                       + totals["sops"] * program.chip.pj_per_sop) * 1e-6 / n_images
    del counters["energy_uj"]
    counters["latency_ms_per_image"] = counters["latency_us_per_step"] * n_steps * 1e-3
    spike_image, spike_pixel = np.divmod(np.concatenate(spikes).astype(np.int64, copy=False),
                                         emulator.n_pixels)
    steps = np.tile(np.arange(n_steps, dtype=np.int64), len(counts) // n_steps)
    result = BindingResult(
        images=images.astype(np.uint8),
        spike_image=spike_image, spike_step=np.repeat(steps, counts), spike_pixel=spike_pixel,
        n_steps=n_steps, steps_per_cycle=d, dt_ms=float(m["loop"]["dt_ms"]),
        attention=(np.concatenate(attention).astype(np.float32) / 256.0).reshape(
            n_images, d, *shape),
        truth=None if truth is None else np.asarray(truth), model=m["model"]["name"],
        backend="emulator",
        info=dict(seed=seed, batch_size=size, cycles=n_cycles, counters=counters,
                  readout_cycles=min(int(m["loop"]["readout_cycles"]), n_cycles),
                  smoothing=[1.0, 0.5], cores=emulator.utilisation()))
    result.info["loop_seconds"] = time.perf_counter() - start
    if truth is not None:
        from hnnbio.binding.evaluate import evaluate

        evaluate(result, seed=seed)
    result.seconds = time.perf_counter() - start
    return result


def emulate_program(path: str | Path, n_images: int = 16, seed: int = 0,
                    batch_size: int | None = None, progress: bool = False,
                    cycles: int | None = None) -> BindingResult:
    """Generate the program's data set, emulate and score.

    Images come from ``datasets.generate(dataset, n_images, seed)`` of the program's data set.

    Returns a BindingResult with backend ``"emulator"`` and the counters in
    ``result.info["counters"]`` (what ``hnnbio emulate`` prints).
    """
    from hnnbio.data import datasets

    program = load_program(path)
    n_images = _positive("n_images", n_images)
    images, labels = datasets.generate(program.manifest["model"]["dataset"], n_images, seed)
    result = emulate(program, images, seed=seed, batch_size=batch_size, truth=labels,
                     cycles=cycles, progress=progress)
    result.info["program"] = str(path)
    return result
