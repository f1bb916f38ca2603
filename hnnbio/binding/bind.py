"""Binding by synchrony on images: the public entry points ``bind`` and ``run_bind``.

``bind`` checks the images, builds the model's HNN graph (:meth:`ModelSpec.graph`: the sheet
population, the autoencoder, the window and attention units), runs it on the engine
(:class:`hnnbio.hnn.engine.Simulation`) batch by batch, B images as one group, and returns one
:class:`~hnnbio.analysis.result.BindingResult`, read out and scored when the ground truth is given.
``run_bind`` generates the spec's data set and writes the result, figures and a NIX file.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.evaluate import evaluate
from hnnbio.binding.spec import ModelSpec, load_spec
from hnnbio.errors import DataError, ParameterError


def check_images(images, n_pixels: int) -> np.ndarray:
    """Check a batch of binary images; return it as uint8, shape (n_images, height, width)."""
    arr = np.asarray(images)
    if arr.ndim != 3:
        raise DataError(f"images: expected shape (n_images, height, width), got {arr.shape}")
    if arr.shape[0] == 0:
        raise DataError("images: no images given (n_images = 0)")
    if arr.shape[1] * arr.shape[2] != n_pixels:
        raise DataError(
            f"images: {arr.shape[1]}x{arr.shape[2]} = {arr.shape[1] * arr.shape[2]} "
            f"pixels, the model expects {n_pixels}"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"images: dtype {arr.dtype} is not numeric")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise DataError("images: contain NaN; give binary images (0/1)")
    if not np.isin(arr, (0, 1)).all():
        raise DataError("images: not binary; threshold them to 0/1 first")
    empty = np.flatnonzero(~arr.reshape(arr.shape[0], -1).any(axis=1))
    if empty.size:
        raise DataError(f"images: image {int(empty[0])} has no foreground pixel")
    return arr.astype(np.uint8)


def bind(
    images,
    model: str | Path | ModelSpec = "bars",
    seed: int = 0,
    batch_size: int | None = None,
    truth: np.ndarray | None = None,
    cycles: int | None = None,
    progress: bool = False,
    autoencoder=None,
    scores: tuple | None = None,
) -> BindingResult:
    """Run binding by synchrony on images.

    Parameters
    ----------
    images : array, shape (n_images, height, width), binary
    model : str, path or ModelSpec
        A shipped model name (``"bars"``), a .toml path (an HNN file with a binding experiment)
        or a loaded spec.
    seed : int
        Seed of the run (batch ``b`` is seeded from ``(seed, b)``).
    batch_size : int, optional
        Images per Brian2 group; default the spec's ``loop.batch_size``.
    truth : ndarray, shape (n_images, height, width), optional
        Ground-truth labels; with them the result is read out and scored.
    cycles : int, optional
        Overrides the spec's ``loop.cycles``.
    progress : bool
        Show a progress bar over cycles.
    autoencoder : torch.nn.Module, optional
        Use this network instead of loading the spec's weights.
    scores : tuple of str, optional
        Metrics to compute (default all: ami, synchrony, rate, ami_auto), see
        :func:`~hnnbio.binding.evaluate.evaluate`.

    Returns
    -------
    BindingResult
        Spikes and last-cycle attention; labels and metrics when ``truth`` is given (otherwise
        labels with the data set's object count).
    """
    from hnnbio.circuits import CIRCUITS
    from hnnbio.hnn.engine import Simulation, check_seed

    spec = load_spec(model)
    check_seed(seed)
    n_pixels = int(spec.autoencoder["layers"][0])
    images = check_images(images, n_pixels)
    n_images, height, width = images.shape
    if truth is not None:
        truth = np.asarray(truth)
        if truth.shape != images.shape:
            raise DataError(f"truth: shape {truth.shape} != images {images.shape}")
    size = batch_size if batch_size is not None else spec.loop["batch_size"]
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ParameterError(f"batch_size: must be a positive integer, got {size!r}")
    if cycles is not None and (isinstance(cycles, bool) or
                               not isinstance(cycles, (int, np.integer)) or cycles < 1):
        raise ParameterError(f"cycles: must be a positive integer, got {cycles!r}")
    n_cycles = int(cycles or spec.loop["cycles"])
    if autoencoder is None:
        from hnnbio.ann.autoencoder import load_autoencoder

        autoencoder = load_autoencoder(spec)
    graph = spec.graph(autoencoder)
    sheet, attention_unit = spec.sheet_name, spec.attention_name
    n_steps = n_cycles * spec.steps_per_cycle
    start = time.perf_counter()
    flat = images.reshape(n_images, -1)
    parts = []
    for b, first in enumerate(range(0, n_images, size)):
        batch = flat[first : first + size]
        batch_seed = int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
        sim = Simulation(graph, batch, seed=batch_seed, circuits=CIRCUITS)
        out = sim.run(n_steps, progress=progress)
        spikes = out.spikes[sheet]
        if first:
            spikes.sample += first
        parts.append(dict(spike_image=spikes.sample, spike_step=spikes.step,
                          spike_pixel=spikes.neuron, attention=out.applied[attention_unit]))

    def join(key):  # one batch: no copy of millions of spikes
        return parts[0][key] if len(parts) == 1 else np.concatenate([p[key] for p in parts])

    attention = join("attention").reshape(n_images, spec.steps_per_cycle, height, width)
    result = BindingResult(
        images=images,
        spike_image=join("spike_image"),
        spike_step=join("spike_step"),
        spike_pixel=join("spike_pixel"),
        n_steps=n_steps,
        steps_per_cycle=spec.steps_per_cycle,
        dt_ms=float(spec.loop["dt_ms"]),
        attention=attention,
        truth=truth,
        model=spec.name,
        backend="brian2",
        info=dict(
            seed=seed,
            batch_size=size,
            cycles=n_cycles,
            sheet=spec.sheet,
            readout_cycles=min(int(spec.loop["readout_cycles"]), n_cycles),
            smoothing=list(spec.readout["smoothing"]),
        ),
    )
    result.info["loop_seconds"] = time.perf_counter() - start
    if truth is not None:
        evaluate(result, seed=seed, **({} if scores is None else {"scores": tuple(scores)}))
    else:
        from hnnbio.data.datasets import N_OBJECTS

        if spec.dataset in N_OBJECTS:
            evaluate(result, n_objects=N_OBJECTS[spec.dataset], seed=seed)
    result.seconds = time.perf_counter() - start
    return result


def run_bind(
    model: str | Path | ModelSpec = "bars",
    n_images: int = 16,
    seed: int = 0,
    out: str | Path | None = None,
    batch_size: int | None = None,
    cycles: int | None = None,
    progress: bool = False,
    nix: bool = True,
) -> BindingResult:
    """Generate the spec's data set, bind, score, and optionally write the outputs.

    With ``out``, writes ``result.npz`` (:meth:`BindingResult.save`), PNG figures
    (:mod:`hnnbio.binding.figures`) and ``result.nix`` (Neo/NIX) into the folder ``out``;
    everything is written to a temporary folder first and moved into place at the end, so an error
    leaves no partial files. ``nix=False`` skips the NIX file.
    """
    from hnnbio.data import datasets

    spec = load_spec(model)
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise ParameterError(f"n_images: must be a positive integer, got {n_images!r}")
    images, labels = datasets.generate(spec.dataset, int(n_images), seed)
    result = bind(
        images,
        spec,
        seed=seed,
        batch_size=batch_size,
        truth=labels,
        cycles=cycles,
        progress=progress,
    )
    if out is not None:
        write_outputs(result, Path(out), nix=nix)
    return result


def write_outputs(result: BindingResult, out: Path, nix: bool = True) -> list[Path]:
    """Write result.npz, figures and result.nix into ``out`` atomically (temp folder, then move).

    ``result.nix`` (:func:`hnnbio.analysis.files.write_result_file`) holds every image in the
    compact population layout (one train per image with a per-spike pixel annotation; read back
    as one train per neuron): a train per neuron costs NixIO ~50 ms each, ~20 s per Bars image.
    """
    from hnnbio.analysis.files import write_result_file
    from hnnbio.binding.figures import write_figures

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"out: {out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".bind-", dir=out.parent))
    try:
        result.save(tmp / "result.npz")
        write_figures(result, tmp)
        if nix:
            write_result_file(result, tmp / "result.nix", layout="population")
        out.mkdir(exist_ok=True)
        written = []
        for f in sorted(tmp.iterdir()):
            target = out / f.name
            f.replace(target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
