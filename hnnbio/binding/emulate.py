"""Binding on the chip emulator: a program's run read out and scored as the float loop's.

:func:`hnnbio.chip.run.emulate` returns the engine's result type (the sheet's spikes, the last
cycle's attention); here it becomes a :class:`~hnnbio.analysis.result.BindingResult` with backend
``"emulator"``, scored with :func:`hnnbio.binding.evaluate.evaluate` when ground truth is given, so
every readout, metric and analysis works on both back ends. :func:`emulate_program` generates the
program's data set first (what ``hnnbio emulate`` runs).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.spec import READOUT
from hnnbio.chip import run as chip_run
from hnnbio.chip.program import Program, load_program


def to_binding_result(result, images: np.ndarray, truth: np.ndarray | None = None,
                      sheet: str | None = None, attention: str | None = None) -> BindingResult:
    """The BindingResult of an emulator run (:class:`hnnbio.hnn.result.HNNResult`).

    ``sheet`` and ``attention`` name the population and the unit (default: the run's only ones).
    """
    spikes = result.spikes[sheet or next(iter(result.spikes))]
    applied = result.applied[attention or next(iter(result.applied))]
    info = dict(result.info)
    shape = tuple(info.pop("image_shape"))
    d = int(info.pop("steps_per_cycle"))
    backend = info.pop("backend", "emulator")
    info["smoothing"] = list(READOUT["smoothing"])
    return BindingResult(
        images=np.asarray(images).astype(np.uint8),
        spike_image=spikes.sample, spike_step=spikes.step, spike_pixel=spikes.neuron,
        n_steps=result.n_steps, steps_per_cycle=d, dt_ms=result.dt_ms,
        attention=applied.reshape(result.n_samples, d, *shape),
        truth=None if truth is None else np.asarray(truth), model=result.name, backend=backend,
        info=info)


def emulate(program: Program | str | Path, images: np.ndarray, seed: int = 0,
            batch_size: int | None = None, truth: np.ndarray | None = None,
            cycles: int | None = None, progress: bool = False) -> BindingResult:
    """Run a program on images and read out (and score, with ``truth``) as the float loop does.

    Parameters
    ----------
    program : Program or path
    images : ndarray, shape (n_images, height, width), {0, 1}
    seed : int
        Seeds the LFSRs (per image, independent of the batch size), the initial attention and
        k-means.
    batch_size : int, optional
        Images emulated together (default 128).
    truth : ndarray, shape (n_images, height, width), optional
        Ground-truth labels; with them metrics are filled.
    cycles : int, optional
        Overrides the program's number of cycles.
    progress : bool
        Show a progress bar over steps.
    """
    start = time.perf_counter()
    program = program if isinstance(program, Program) else load_program(program)
    names = chip_run.node_names(program)
    run = chip_run.emulate(program, images, seed=seed, batch_size=batch_size, cycles=cycles,
                           progress=progress)
    result = to_binding_result(run, images, truth, names["sheet"], names["attention"])
    if truth is not None:
        from hnnbio.binding.evaluate import evaluate

        evaluate(result, seed=seed)
    result.seconds = time.perf_counter() - start
    return result


def emulate_program(path: str | Path | Program, n_images: int = 16, seed: int = 0,
                    batch_size: int | None = None, progress: bool = False,
                    cycles: int | None = None) -> BindingResult:
    """Generate the program's data set, emulate and score (``path``: a program file, or a
    program compiled in memory).

    Images come from ``datasets.generate(dataset, n_images, seed)`` of the program's data set.

    Returns a BindingResult with backend ``"emulator"`` and the counters in
    ``result.info["counters"]`` (what ``hnnbio emulate`` prints).
    """
    from hnnbio.data import datasets
    from hnnbio.errors import DataError, ParameterError
    from hnnbio.hnn.engine import check_seed

    check_seed(seed)
    program = path if isinstance(path, Program) else load_program(path)
    where = f"program {program.manifest['model']['name']!r}" if path is program else path
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise ParameterError(f"n_images: must be a positive integer, got {n_images!r}")
    dataset = program.manifest["model"]["dataset"]
    if dataset == "none":  # the programs of spiking and experiment graphs (hnnbio.chip.snn, hifi)
        name = program.manifest["model"]["name"]
        raise DataError(f"{where}: not a binding program (model {name!r} reads no image data "
                        f"set); run its model with `hnnbio run MODEL --backend emulator`")
    if dataset is None:
        raise DataError(f"{where}: the program names no data set; emulate your own images with "
                        f"hnnbio.binding.emulate.emulate")
    images, labels = datasets.generate(dataset, int(n_images), seed)
    result = emulate(program, images, seed=seed, batch_size=batch_size, truth=labels,
                     cycles=cycles, progress=progress)
    if path is not program:
        result.info["program"] = str(path)
    return result
