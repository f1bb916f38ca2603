"""Binding by synchrony on images: the public entry points ``bind`` and ``run_bind``.

``bind`` checks the images, builds the model's HNN graph (:meth:`ModelSpec.graph`: the sheet
population, the autoencoder, the window and attention units), runs it on the engine
(:class:`hnnbio.hnn.engine.Simulation`) batch by batch, B images as one group, and returns one
:class:`~hnnbio.analysis.result.BindingResult`, read out and scored when the ground truth is given.
``run_bind`` generates the spec's data set and writes the result, figures and a NIX file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from hnnbio.analysis.result import BindingResult
from hnnbio.binding.evaluate import estimate_groups, evaluate
from hnnbio.binding.spec import ModelSpec, load_spec
from hnnbio.errors import DataError, ParameterError
from hnnbio.outputs import OutputFolder


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


def check_objects(n_objects, images: np.ndarray):
    """``n_objects`` checked against the images: "auto", or K >= 1 per image (an int or one per
    image) with at least K foreground pixels in each image; returns "auto" or an int array."""
    if isinstance(n_objects, str):
        if n_objects != "auto":
            raise ParameterError(f"objects: must be a positive integer or 'auto', got "
                                 f"{n_objects!r}")
        return "auto"
    counts = np.asarray(n_objects)
    if counts.dtype == bool or counts.dtype.kind not in "iu" or counts.ndim > 1 or \
            (counts.ndim == 1 and counts.size != len(images)):
        raise ParameterError(f"objects: must be a positive integer (or one per image), got "
                             f"{n_objects!r}")
    counts = np.broadcast_to(counts, (len(images),)).astype(np.int64)
    if (counts < 1).any():
        raise ParameterError(f"objects: must be >= 1, got {int(counts.min())}")
    on = images.reshape(len(images), -1).sum(axis=1)
    few = np.flatnonzero(counts > on)
    if few.size:
        i = int(few[0])
        raise ParameterError(f"objects: {int(counts[i])} objects for image {i}, which has only "
                             f"{int(on[i])} foreground pixels")
    return counts


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
    n_objects=None,
    stop: str | None = None,
    stable_cycles: int | None = None,
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
        Images per Brian2 group; default the spec's ``loop.batch_size``, fewer when they would
        not fit in the memory available (:func:`batch_fit`).
    truth : ndarray, shape (n_images, height, width), optional
        Ground-truth labels; with them the result is read out and scored.
    cycles : int, optional
        Overrides the spec's ``loop.cycles``.
    progress : bool
        Show a progress bar over cycles.
    autoencoder : torch.nn.Module, optional
        Use this network instead of loading the spec's weights.
    scores : tuple of str, optional
        Metrics to compute (default all: ami, synchrony, rate, ami_auto, ari_fg, ari), see
        :func:`~hnnbio.binding.evaluate.evaluate`.
    n_objects : int, array of int (one per image) or "auto", optional
        Objects per image for the readout (K + 1 k-means clusters); ``"auto"``: K estimated from
        the spikes (Ward + silhouette, as ``ami_auto``). Default: from ``truth``, else the data
        set's object count.
    stop : "none" or "stable", optional
        Overrides the spec's ``loop.stop``: ``"stable"`` ends a batch early once its phase
        assignment is stable (:class:`StableStop`), after at least ``readout_cycles`` cycles; the
        readout takes the last ``readout_cycles`` cycles before the stop.
    stable_cycles : int, optional
        Overrides the spec's ``loop.stable_cycles`` (cycles without progress that count as
        stable).

    Returns
    -------
    BindingResult
        Spikes and last-cycle attention; labels and metrics when ``truth`` is given (otherwise
        labels only).
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
    if batch_size is not None:
        _positive("batch_size", batch_size)
    if cycles is not None:
        _positive("cycles", cycles)
    n_cycles = int(cycles or spec.loop["cycles"])
    stop = spec.loop.get("stop", "none") if stop is None else stop
    if stop not in STOPS:
        raise ParameterError(f"stop: must be one of {', '.join(STOPS)}, got {stop!r}")
    if spec.measured_cycle and stop != "none":
        raise ParameterError(f"stop: a ping sheet's batches end on gamma cycles (stop 'none'), "
                             f"got {stop!r}")
    stable_cycles = _positive("stable_cycles", spec.loop.get("stable_cycles", 5)
                              if stable_cycles is None else stable_cycles)
    readout_cycles = min(int(spec.loop["readout_cycles"]), n_cycles)
    size = batch_size if batch_size is not None else \
        min(int(spec.loop["batch_size"]), batch_fit(spec, n_cycles))
    if autoencoder is None:
        from hnnbio.ann.autoencoder import load_autoencoder

        autoencoder = load_autoencoder(spec)
    graph = spec.graph(autoencoder)
    sheet = spec.sheet_name
    cycle = (MeasuredCycle(spec, n_cycles, readout_cycles) if spec.measured_cycle
             else FixedCycle(spec, n_cycles, n_images, stop, stable_cycles, readout_cycles))
    start = time.perf_counter()
    flat = images.reshape(n_images, -1)
    parts = []
    for b, first in enumerate(range(0, n_images, size)):
        batch = flat[first : first + size]
        batch_seed = int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
        sim = Simulation(graph, batch, seed=batch_seed, circuits=CIRCUITS)
        out = sim.run(cycle.n_steps, progress=progress, until=cycle.until(batch),
                      check_every=cycle.check_every)
        spikes = out.spikes[sheet]
        if first:
            spikes.sample += first
        attention = cycle.batch_done(out, sim, slice(first, first + len(batch)), spikes)
        parts.append(dict(spike_image=spikes.sample, spike_step=spikes.step,
                          spike_pixel=spikes.neuron, attention=attention))
    n_steps, D, cycle_info = cycle.finish(parts)

    def join(key):  # one batch: no copy of millions of spikes
        return parts[0][key] if len(parts) == 1 else np.concatenate([p[key] for p in parts])

    attention = join("attention").reshape(n_images, -1, height, width)
    result = BindingResult(
        images=images,
        spike_image=join("spike_image"),
        spike_step=join("spike_step"),
        spike_pixel=join("spike_pixel"),
        n_steps=n_steps,
        steps_per_cycle=D,
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
            readout_cycles=readout_cycles,
            smoothing=list(spec.readout["smoothing"]),
            stop=stop,
            **cycle_info,
        ),
    )
    result.info["loop_seconds"] = time.perf_counter() - start
    counts = check_objects(n_objects, images) if n_objects is not None else None
    auto = isinstance(counts, str)
    if truth is not None:
        chosen = {} if scores is None else {"scores": tuple(scores)}
        evaluate(result, n_objects=None if auto else counts, seed=seed, **chosen)
    elif auto:
        estimate_groups(result)
    elif counts is not None:
        evaluate(result, n_objects=counts, seed=seed)
    else:
        from hnnbio.data.datasets import N_OBJECTS

        if spec.dataset in N_OBJECTS:
            evaluate(result, n_objects=N_OBJECTS[spec.dataset], seed=seed)
    result.seconds = time.perf_counter() - start
    return result


class FixedCycle:
    """The cycle source of a sheet whose cycle D is given (``steps_per_cycle``): every batch runs
    ``cycles`` x D steps, or stops early (``stop = "stable"``, :class:`StableStop`) and is then
    aligned at the end (its last cycles are the readout's)."""

    def __init__(self, spec, n_cycles: int, n_images: int, stop: str, stable_cycles: int,
                 readout_cycles: int):
        self.unit, self.D = spec.attention_name, spec.steps_per_cycle
        self.n_steps, self.check_every = n_cycles * self.D, self.D
        self.stop, self.stable_cycles, self.readout_cycles = stop, stable_cycles, readout_cycles
        self.cycles_run = np.full(n_images, n_cycles, dtype=np.int64)

    def until(self, batch: np.ndarray):
        """The batch's stopping rule (None: run every step)."""
        if self.stop == "none":
            return None
        return StableStop(self.unit, batch, self.D, self.stable_cycles, self.readout_cycles)

    def batch_done(self, out, sim, images: slice, spikes) -> np.ndarray:
        """After a batch (its images ``images``): align an early stop; the attention applied."""
        if out.n_steps < self.n_steps:
            spikes.step += self.n_steps - out.n_steps
            self.cycles_run[images] = out.n_steps // self.D
        return out.applied.get(self.unit)

    def finish(self, parts: list) -> tuple[int, int, dict]:
        """(steps, D, result info) once every batch ran."""
        if self.stop == "none":
            return self.n_steps, self.D, {}
        return self.n_steps, self.D, dict(stable_cycles=self.stable_cycles,
                                          cycles_run=self.cycles_run.tolist())


class MeasuredCycle:
    """The cycle source of a ping sheet: D is not given but measured. A batch ends when every
    image's interneuron made ``cycles`` x ``slots`` gamma cycles (:class:`GammaCycles`, within a
    budget of ``cycles`` x the spec's ``steps_per_cycle`` steps); the batches are aligned at
    their ends and D = slots x the measured period (:func:`measured_cycle`)."""

    def __init__(self, spec, n_cycles: int, readout_cycles: int):
        self.spec, self.sheet, self.readout_cycles = spec, spec.sheet_name, readout_cycles
        self.gamma_cycles = n_cycles * spec.ping.slots
        self.n_steps, self.check_every = n_cycles * spec.steps_per_cycle, GammaCycles.CHECK_EVERY
        self.batches = []  # per batch: (steps run, its ping sheet)

    def until(self, batch: np.ndarray):
        return GammaCycles(self.sheet, self.gamma_cycles)

    def batch_done(self, out, sim, images: slice, spikes) -> np.ndarray:
        """After a batch: keep its sheet (its gamma cycles); the attention of its next cycle."""
        sheet = sim.populations[self.sheet].sheet
        self.batches.append((out.n_steps, sheet))
        return sheet.next_cycle()

    def finish(self, parts: list) -> tuple[int, int, dict]:
        """The batches end together (spike steps shifted in place); D and the rhythm."""
        n_steps = max(steps for steps, _ in self.batches)
        for part, (steps, _) in zip(parts, self.batches, strict=True):
            part["spike_step"] += n_steps - steps
        D, rhythm = measured_cycle(self.batches, n_steps, self.readout_cycles, self.spec)
        return n_steps, D, dict(rhythm=rhythm)


class GammaCycles:
    """When a batch of a ping sheet ends: every image's interneuron has made ``n`` gamma cycles
    (``cycles * slots``), asked every :attr:`CHECK_EVERY` steps."""

    CHECK_EVERY = 10

    def __init__(self, sheet: str, n: int):
        self.sheet, self.n = sheet, int(n)

    def __call__(self, sim) -> bool:
        return bool(sim.populations[self.sheet].sheet.cycles.min() >= self.n)


def measured_cycle(batches, n_steps: int, readout_cycles: int, spec) -> tuple[int, dict]:
    """D of a ping run and its rhythm: the interneurons' mean period over the steps of the
    last ``readout_cycles`` cycles (a first estimate of D from the whole run sets that range),
    per image, averaged over images; D = slots x period, rounded to a step."""
    from hnnbio.circuits.ping import rhythm

    slots = spec.ping.slots
    dt_ms = float(spec.loop["dt_ms"])

    def measure(first_step):  # first_step counted from the end of the aligned run
        periods, cycles = [], []
        for steps, sheet in batches:
            r = rhythm(sheet.cycle_starts, sheet.n_images, first_step - (n_steps - steps), dt_ms)
            periods.append(r.get("image_periods", np.array([])))
            cycles.append(r["cycles"])
        return np.concatenate(periods), np.concatenate(cycles)

    periods, _ = measure(0)
    if periods.size == 0:
        raise DataError("ping sheet: no image made two gamma cycles; no rhythm to measure")
    d = max(1, int(round(slots * periods.mean())))
    periods, cycles = measure(max(0, n_steps - readout_cycles * d))
    if periods.size:
        d = max(1, int(round(slots * periods.mean())))
    period = float(periods.mean()) if periods.size else float("nan")
    return d, dict(slots=slots, period_steps=period,
                   period_sd_over_images=float(periods.std()) if periods.size else float("nan"),
                   frequency_hz=1000.0 / (period * dt_ms), steps_per_cycle=d,
                   steps_run=int(n_steps), gamma_cycles_min=int(cycles.min()))


#: The loop's stopping rules: ``none`` (run every cycle), ``stable`` (:class:`StableStop`).
STOPS = ("none", "stable")


class StableStop:
    """When to stop a batch: its phase assignment is stable.

    A pixel's phase is the circular mean of the attention it will receive over the next cycle
    (the delay line's D slots, slot ``s`` at angle ``2 pi s / D``); once per cycle the batch's
    change is the mean, over the foreground pixels of all its images, of the shift of that phase
    since the previous cycle, in steps. The change falls as the groups form and then stays at a
    noise floor set by the random spikes (its level differs between models). The batch is stable
    when ``stable_cycles`` cycles in a row brought no new lowest change (lower than the lowest so
    far by more than ``margin``), and it stops then if at least ``min_cycles`` cycles have run.
    ``changes`` keeps the change of every cycle.
    """

    def __init__(self, unit: str, images: np.ndarray, steps_per_cycle: int, stable_cycles: int,
                 min_cycles: int, margin: float = 0.05):
        self.unit, self.D = unit, int(steps_per_cycle)
        self.stable_cycles, self.min_cycles, self.margin = stable_cycles, min_cycles, margin
        self.foreground = np.flatnonzero(np.asarray(images).reshape(-1) > 0)
        angle = 2 * np.pi * np.arange(self.D) / self.D
        self.basis = np.stack([np.cos(angle), np.sin(angle)]).astype(np.float32)  # (2, D)
        self.previous, self.best, self.since, self.changes = None, np.inf, 0, []
        self.quiet = []  # per check (end of cycle 1, 2, ...): cycles in a row without progress

    def phases(self, sim) -> np.ndarray:
        """Phase (radians) of each foreground pixel of the batch from the unit's delay line."""
        z = self.basis @ sim.pending(self.unit)  # (2, B * n)
        return np.arctan2(z[1, self.foreground], z[0, self.foreground])

    def __call__(self, sim) -> bool:
        phase = self.phases(sim)
        if self.previous is not None:
            shift = np.abs(np.angle(np.exp(1j * (phase - self.previous))))
            change = float(shift.mean()) * self.D / (2 * np.pi)
            self.changes.append(change)
            if change < (1 - self.margin) * self.best:
                self.best, self.since = change, 0
            else:
                self.since += 1
        self.previous = phase
        self.quiet.append(self.since)
        return sim.t // self.D >= self.min_cycles and self.since >= self.stable_cycles


#: Files of a result folder that a run with ``overwrite`` removes when it does not write them
#: again (e.g. an old ``result.nix`` after ``nix=False``, ``attention.png`` of a run without
#: attention): no file of the old result survives beside the new one.
RESULT_FILES = ("result.npz", "result.nix", "groups.png", "raster.png", "attention.png", "labels")


def run_bind(
    model: str | Path | ModelSpec = "bars",
    n_images: int = 16,
    seed: int = 0,
    out: str | Path | None = None,
    batch_size: int | None = None,
    cycles: int | None = None,
    progress: bool = False,
    nix: bool = True,
    overwrite: bool = False,
    input: str | Path | None = None,
    objects=None,
    truth: str | Path | None = None,
) -> BindingResult:
    """Generate the spec's data set (or read the user's images), bind, score, and optionally
    write the outputs.

    With ``input`` (a ``.npy`` (B, H, W), a PNG or a folder of PNGs, see
    :mod:`hnnbio.data.user_images`) the images are the user's, of the model's image size;
    ``objects`` gives K for the readout (default: from ``truth`` if given, else estimated from
    the spikes) and ``truth`` (labels of the same shape) scores the result. ``n_images`` is
    ignored then.

    With ``out``, writes ``result.npz`` (:meth:`BindingResult.save`), PNG figures
    (:mod:`hnnbio.binding.figures`) and ``result.nix`` (Neo/NIX) into the folder ``out``.
    Everything is checked before the simulation starts: the arguments, the memory the run needs
    (:func:`check_memory`) and ``out`` (:func:`claim_out`: a folder that is new, empty, or
    replaced with ``overwrite``, beside which a hidden temporary folder can be made). The outputs
    are written into that temporary folder and moved into place at the end, so an error, Ctrl+C
    or SIGTERM (the CLI turns it into an exception) leaves no partial files and no temporary
    folder; one left by a SIGKILL is removed by the next run. ``nix=False`` skips the NIX file.
    """
    from hnnbio.data import datasets
    from hnnbio.hnn.engine import check_seed

    spec = load_spec(model)
    check_seed(seed)
    for name, value in (("batch_size", batch_size), ("cycles", cycles)):
        if value is not None:
            _positive(name, value)
    if input is not None:
        images, labels, counts, note = read_user_images(spec, input, objects, truth)
        n_images = len(images)
    else:
        if objects is not None or truth is not None:
            raise ParameterError("objects/truth: given without input (the user's images)")
        n_images = _positive("n_images", n_images)
        counts = None
    check_memory(spec, n_images)
    folder = None if out is None else claim_out(out, overwrite)
    try:
        if input is None:
            images, labels = datasets.generate(spec.dataset, n_images, seed)
        result = bind(
            images,
            spec,
            seed=seed,
            batch_size=batch_size,
            truth=labels,
            cycles=cycles,
            progress=progress,
            n_objects=counts,
        )
        if input is not None:
            result.info["input"] = {"file": str(input), "values": note}
        if folder is not None:
            write_outputs(result, folder, nix=nix)
    finally:
        if folder is not None:
            folder.close()
    return result


def read_user_images(spec: ModelSpec, input, objects, truth):
    """The user's images, truth and object counts for ``run_bind``, checked against the model:
    (images, truth or None, counts: an int array or None (from the truth) or "auto" (neither
    given), a note on how the values were read)."""
    from hnnbio.data.datasets import IMAGE_SIZE
    from hnnbio.data.user_images import read_images, read_truth

    images, note = read_images(input)
    height = width = IMAGE_SIZE[spec.dataset]
    if images.shape[1:] != (height, width):
        raise DataError(f"input: {input}: images of {images.shape[2]}x{images.shape[1]} pixels; "
                        f"model {spec.name} binds {width}x{height} images (its autoencoder is "
                        "fully connected: resize or pad them)")
    labels = read_truth(truth, images.shape) if truth is not None else None
    if objects is not None:
        counts = check_objects(objects, images)
    elif labels is not None:
        counts = None  # from the truth
    else:
        counts = "auto"
    return images, labels, counts, note


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def bytes_per_image(spec: ModelSpec) -> int:
    """A lower bound of the memory one image of a run holds until the end (see
    :func:`image_bytes`)."""
    return image_bytes(int(spec.autoencoder["layers"][0]), spec.steps_per_cycle)


def image_bytes(n_pixels: int, steps_per_cycle: int) -> int:
    """A lower bound of the memory one image of a run holds until the end: the image (uint8),
    its ground truth (int16) and predicted groups (int64) per pixel, and the last cycle's
    attention (float32, D maps); spikes come on top."""
    return n_pixels * (1 + 2 + 8 + 4 * steps_per_cycle)


#: Bytes a batched image can take per pixel and step at most while it runs: a spike in every
#: step, held by Brian2's monitor (int32 index, float64 time) and then the engine's result
#: (three int64 arrays).
SPIKE_BYTES = 4 + 8 + 3 * 8


def batch_fit(spec: ModelSpec, cycles: int, available: int | None = None) -> int:
    """The most images a batch can hold in half the available memory, each at the worst case of
    :data:`SPIKE_BYTES` per pixel and step (per ``refractory_steps + 1`` steps for a ping sheet,
    whose units cannot fire faster; at least 1; unbounded when memory is unknown): the
    default batch of :func:`bind` is the spec's ``batch_size`` or this, whichever is smaller."""
    available = available_memory() if available is None else available
    if available is None:
        return 2**62
    each = int(spec.autoencoder["layers"][0]) * cycles * spec.steps_per_cycle * SPIKE_BYTES
    if spec.measured_cycle:  # a ping unit fires at most once in refractory_steps + 1 steps
        each //= spec.ping.refractory_steps + 1
    return max(1, available // 2 // max(each, 1))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(spec: ModelSpec, n_images: int, available: int | None = None) -> None:
    """Refuse at once a run whose images cannot fit in memory, with what it needs and what fits.

    ``available`` defaults to :func:`available_memory` (no check when it is unknown)."""
    check_images_fit(n_images, bytes_per_image(spec), spec.name, available)


def check_images_fit(n_images: int, each: int, name: str, available: int | None = None) -> None:
    """Refuse ``n_images`` of ``each`` bytes (a lower bound) when they exceed the memory
    available (:func:`available_memory` by default), naming what they need and how many fit."""
    available = available_memory() if available is None else available
    if available is not None and n_images * each > available:
        raise ParameterError(
            f"n_images: {n_images} images of {name} need at least "
            f"{_size(n_images * each)} of memory ({_size(each)} each), {_size(available)} are "
            f"available: at most {available // each} fit; run fewer, or split them with "
            "`hnnbio sweep` (shard_images)"
        )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def claim_out(out, overwrite: bool = False) -> OutputFolder:
    """Claim the result folder ``out`` before a run (:class:`hnnbio.outputs.OutputFolder`: new,
    empty, or replaced with ``overwrite``; its hidden temporary folder made beside it, stale ones
    of killed runs removed); the caller closes it."""
    return OutputFolder(out, overwrite, what="out", kind="bind", owned=RESULT_FILES)


def write_outputs(result: BindingResult, out, nix: bool = True,
                  overwrite: bool = False) -> list[Path]:
    """Write result.npz, figures, the predicted groups of each image as PNGs (``labels/``) and
    result.nix into ``out`` atomically; returns the paths.

    ``out`` is a folder path (claimed here with :func:`claim_out`) or an :class:`OutputFolder`
    already claimed. Everything is written into the hidden temporary folder and moved into place
    at the end. ``result.nix`` (:func:`hnnbio.analysis.files.write_result_file`) holds every image
    in the compact population layout (one train per image with a per-spike pixel annotation; read
    back as one train per neuron): a train per neuron costs NixIO ~50 ms each, ~20 s per Bars
    image.
    """
    from hnnbio.analysis.files import write_result_file
    from hnnbio.binding.figures import write_figures, write_label_images

    folder = out if isinstance(out, OutputFolder) else claim_out(out, overwrite)
    try:
        result.save(folder.path / "result.npz")
        write_figures(result, folder.path)
        write_label_images(result, folder.path)
        if nix:
            write_result_file(result, folder.path / "result.nix", layout="population")
        return folder.commit()
    finally:
        if folder is not out:
            folder.close()
