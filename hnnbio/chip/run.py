"""Run a chip program on images: the sheet's spikes and the attention as an HNNResult.

The emulator's result is the engine's result type (:class:`hnnbio.hnn.result.HNNResult`): the
spikes of the sheet population and the attention applied during the last cycle (``applied``, one
row per step, value = code / 256), under the HNN graph's own node names, plus counters and
estimates in ``info``. Experiments read it as they read a float run (binding:
:mod:`hnnbio.binding.emulate`). The host loads each batch: the image bits and the initial delay
ring, ``c[slot, p] = |N(0, 1)|`` normalised over the D slots of each pixel (as the float loop),
encoded as ``round(256 c)`` clamped to [0, 255]. A column sheet's program (manifest
``sheet.column``: ``attention_gain`` g, ``attention_scale`` a, ``latency_steps`` L,
``input_steps`` I; its ring has D + L slots) gets what its column does in the float loop: slot
``L + k`` holds the code of the spike probability ``p(c_k) = g tanh(a c_k) / (1 + g tanh(a c_k))``
(:func:`hnnbio.chip.rules.column_gate`), ``c`` normalised over the D slots as in the float loop,
and slots 0 .. L + I - 1 are zero: the output is L steps behind the attention that gates it, and
the pyramidal neuron receives its first input I steps after the image is applied (the attention
of those first steps gates nothing).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch

from hnnbio.chip import estimates
from hnnbio.chip.emulator import Emulator
from hnnbio.chip.program import Program, load_program
from hnnbio.chip.rules import column_gate
from hnnbio.errors import DataError, ParameterError
from hnnbio.hnn.result import HNNResult, Spikes

#: Images emulated together when the caller gives no batch size.
BATCH_SIZE = 128


def initial_attention(n_images: int, ring_length: int, n_pixels: int, seed: int,
                      dtype=np.int64, column: dict | None = None) -> np.ndarray:
    """Initial delay-ring codes, shape (n_images, ring_length, n_pixels), in [0, 255].

    ``dtype`` (int64 by default; emulate asks for uint8) changes the type, never the codes.
    ``column`` (a program's ``sheet.column``: ``attention_gain``, ``attention_scale``,
    ``latency_steps`` L, ``input_steps`` I, default 0): slot ``L + k`` holds ``round(256 p(c_k))``
    of the soft assignment ``c`` over ``ring_length - L`` slots and the first ``L + I`` slots are
    0 (see the module docstring); without it the codes are ``round(256 c)`` over all slots.
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.integer) or np.iinfo(dtype).max < 255:
        raise ParameterError(f"dtype: must be an integer type holding 0 .. 255, got {dtype}")
    latency = 0 if column is None else int(column["latency_steps"])
    silent = 0 if column is None else int(column.get("input_steps", 0))
    if not 0 <= latency < ring_length or not 0 <= silent < ring_length - latency:
        raise ParameterError(f"column: latency_steps {latency} and input_steps {silent} leave no "
                             f"slot of the {ring_length}-slot ring")
    rng = np.random.default_rng([seed, 1])
    c = rng.standard_normal((n_images, ring_length - latency, n_pixels))
    np.abs(c, out=c)  # in place: the same operations, no temporaries
    c /= c.sum(axis=1, keepdims=True)
    if column is not None:
        c = column_gate(c, float(column["attention_gain"]), float(column["attention_scale"]))
    c *= 256
    np.rint(c, out=c)
    np.clip(c, 0, 255, out=c)
    if latency:
        c = np.concatenate([np.zeros((n_images, latency, n_pixels)), c], axis=1)
    if column is not None:  # the pyramidal neuron has no input yet: nothing fires
        c[:, latency:latency + silent] = 0
    return c.astype(dtype)


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def node_names(program: Program) -> dict:
    """The HNN graph's names of the program's ``sheet`` and ``attention`` (``input``,
    ``window``, ``network`` too); a program written before they were kept gets the chip's."""
    names = {"input": "image", "sheet": "sheet", "window": "window", "network": "network",
             "attention": "attention"}
    names.update(program.manifest["model"].get("nodes", {}))
    return names


@contextlib.contextmanager
def one_torch_thread():
    """torch at one thread while the emulator runs (restored after). Its steps alternate
    numpy's BLAS (the dense layers, with OpenBLAS's own threads, which spin between calls) and
    torch's embedding_bag (the event-driven first layer, with torch's OpenMP threads): the two
    pools fight for the cores. Measured on 2 cores, 256 Bars images: 49 s with both pools,
    8.8 s with OpenBLAS at one thread, 10.9 s with torch at one thread (the same spikes);
    torch's is the one limited, so the BLAS products keep their threads on larger machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def emulate(program: Program | str | Path, images: np.ndarray, seed: int = 0,
            batch_size: int | None = None, cycles: int | None = None,
            progress: bool = False) -> HNNResult:
    """Run a program on images.

    Parameters
    ----------
    program : Program or path
    images : ndarray, shape (n_images, height, width), {0, 1}
    seed : int
        Seeds the LFSRs (per image, independent of the batch size) and the initial attention.
    batch_size : int, optional
        Images emulated together (default 128).
    cycles : int, optional
        Overrides the program's number of cycles.
    progress : bool
        Show a progress bar over steps.

    Returns
    -------
    HNNResult
        ``spikes[sheet]`` (sample, step, neuron as int64, one row per spike, in step order within
        each batch), ``applied[attention]`` of shape (n_images, steps_per_cycle, n_pixels),
        float32 (the codes / 256 read from the ring in the last cycle), and in ``info``:
        ``backend`` ("emulator"), ``seed``, ``batch_size``, ``cycles``, ``steps_per_cycle``,
        ``readout_cycles``, ``image_shape``, ``counters`` (with energy and latency), ``cores``
        (utilisation) and ``loop_seconds``.
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
    size = _positive("batch_size", batch_size if batch_size is not None else BATCH_SIZE)
    n_cycles = _positive("cycles", cycles if cycles is not None else m["loop"]["cycles"])
    d = int(m["loop"]["steps_per_cycle"])
    n_steps = n_cycles * d
    emulator = Emulator(program)
    flat = images.reshape(n_images, -1)
    ring0 = initial_attention(n_images, emulator.ring_length, emulator.n_pixels, seed,
                              dtype=np.uint8, column=m["sheet"].get("column"))
    start = time.perf_counter()
    spikes, counts, attention, totals = [], [], [], {}
    bar = tqdm(total=n_steps * ((n_images + size - 1) // size), disable=not progress, unit="step")
    with one_torch_thread():  # see one_torch_thread: 5x on 2 cores
        for first in range(0, n_images, size):
            # the attention of the last cycle is recorded whole; before that only the awake codes
            batch = flat[first:first + size]
            emulator.reset(batch, ring0[first:first + size], seed, first_image=first,
                           full_from=n_steps - d - emulator.ring_length)
            att = np.zeros((batch.shape[0], d, emulator.n_pixels), dtype=np.uint8)
            for t in range(n_steps):
                record = t >= n_steps - d  # the attention applied in the last cycle
                emulator.step(dense=False, record=record)
                if record:
                    att[:, t - (n_steps - d)] = emulator.applied
                flat_spikes = emulator.last_spikes  # a fresh array each step
                spikes.append(flat_spikes + first * emulator.n_pixels if first else flat_spikes)
                counts.append(emulator.last_spikes.size)
                bar.update(1)
            attention.append(att)
            for k, v in emulator.counters.items():
                totals[k] = totals.get(k, 0) + v
    bar.close()
    counters = estimates.per_image(totals, program, n_images, n_steps)  # compute + routing
    sample, neuron = np.divmod(np.concatenate(spikes).astype(np.int64, copy=False),
                               emulator.n_pixels)
    steps = np.tile(np.arange(n_steps, dtype=np.int64), len(counts) // n_steps)
    names = node_names(program)
    result = HNNResult(
        name=m["model"]["name"], n_samples=n_images, n_steps=n_steps,
        dt_ms=float(m["loop"]["dt_ms"]),
        spikes={names["sheet"]: Spikes(sample=sample, step=np.repeat(steps, counts),
                                       neuron=neuron, size=emulator.n_pixels)},
        applied={names["attention"]: np.concatenate(attention).astype(np.float32) / 256.0},
        info=dict(backend="emulator", seed=seed, batch_size=size, cycles=n_cycles,
                  steps_per_cycle=d,
                  readout_cycles=min(int(m["loop"]["readout_cycles"]), n_cycles),
                  image_shape=list(shape), counters=counters, cores=emulator.utilisation()))
    result.info["loop_seconds"] = time.perf_counter() - start
    return result
