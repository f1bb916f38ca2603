"""``hnnbio run``: run any HNN file on its default input or the user's, print and write the result.

A file whose ``[experiment]`` has ``kind = "binding"`` runs the binding experiment (its data set by
default, its metrics); any other file runs the graph on the engine. ``--input X.npy`` gives the
input: shape (B, size) or (B, T, size) for a graph with one input (binding: (B, H, W) binary
images). Results go to ``--out DIR`` atomically (``result.npz`` and ``result.nix``, written to a
hidden temporary folder beside DIR and moved into place at the end, :mod:`hnnbio.outputs`); the
folder is checked before the simulation starts.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np

from hnnbio.errors import DataError, ModelSpecError, ParameterError
from hnnbio.outputs import OutputFolder

BACKENDS = ("brian2", "emulator")
#: ``[experiment] kind`` -> the function that runs it (``module:function``, imported when used),
#: called as ``f(path, steps, values, folder, seed, images, device)``; ``binding`` is run here.
EXPERIMENTS = {
    "binding": None,
    "classification": "hnnbio.experiments.classification:run_classification",  # issue 11.1
    "tracking": "hnnbio.experiments.tracking:run_tracking",  # issue 11.2
    "continual": "hnnbio.experiments.continual:run_continual",  # issue 11.3
    "neutnn": "hnnbio.experiments.neutnn:run_neutnn",  # issue 12.3
    "hifi": "hnnbio.experiments.hifi:run_hifi",  # issue 12.2
}
RESULT_FILES = ("result.npz", "result.nix")


def run_file(path, steps: int | None = None, input=None, backend: str = "brian2", out=None,
             seed: int = 0, device: str = "cpu", images: int = 16) -> dict:
    """Run an HNN file; return the rows ``hnnbio run`` prints (and writes with ``--json``)."""
    from hnnbio.hnn.engine import check_seed

    path = Path(path)
    if backend not in BACKENDS:
        raise ParameterError(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    check_seed(seed)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
    if not path.is_file():
        raise ModelSpecError(f"{path}: model file not found")
    from hnnbio.hnn.files import read_toml

    raw = read_toml(path)
    kind = raw.get("experiment", {}).get("kind") if isinstance(raw.get("experiment"), dict) \
        else None
    if kind is not None and kind not in EXPERIMENTS:
        raise ModelSpecError(f"{path.name}: [experiment] kind {kind!r} is not one of "
                             f"{', '.join(EXPERIMENTS)}")
    values = None if input is None else read_input(input)
    folder = None if out is None else OutputFolder(out, None, kind="run", owned=RESULT_FILES)
    try:
        if kind == "binding":
            return _run_binding(path, steps, values, folder, seed, images,
                                chip=backend == "emulator")
        if kind is not None:
            from importlib import import_module

            module, function = EXPERIMENTS[kind].split(":")
            run = getattr(import_module(module), function)
            if backend == "brian2":
                return run(path, steps, values, folder, seed, images, device)
            if "backend" not in inspect.signature(run).parameters:
                raise ParameterError(f"backend: {kind} models run on brian2 only (no {backend} "
                                     f"runner yet)")
            return run(path, steps, values, folder, seed, images, device, backend=backend)
        return _run_graph(path, steps, values, folder, seed, device, backend)
    finally:
        if folder is not None:
            folder.close()


#: ``[experiment] kind`` -> the function giving the graph the chip compiler reads, its trained
#: weights in place (``module:function``, called as ``f(path)``); kinds absent here export the
#: file's graph as written (and the compiler names what it cannot map).
CHIP_GRAPHS = {
    "classification": "hnnbio.experiments.classification:chip_graph",
    "neutnn": "hnnbio.experiments.neutnn:chip_graph",
    "hifi": "hnnbio.experiments.hifi:chip_graph",
    "continual": "hnnbio.experiments.continual:chip_graph",
    "tracking": "hnnbio.experiments.tracking:chip_graph",
}


def chip_model(model):
    """What ``hnnbio export`` compiles for ``model`` (a path or a shipped name): the trained
    graph of an experiment kind listed in :data:`CHIP_GRAPHS`, else ``model`` unchanged."""
    path = Path(model) if isinstance(model, (str, Path)) else None
    if path is None or not path.is_file():
        return model
    kind = _experiment_kind(path)
    if kind not in CHIP_GRAPHS:
        return model
    from importlib import import_module

    module, function = CHIP_GRAPHS[kind].split(":")
    return getattr(import_module(module), function)(path)


def _experiment_kind(path: Path):
    """``[experiment] kind`` of a readable model file, else None (runners name what is wrong)."""
    from hnnbio.errors import HnnbioError
    from hnnbio.hnn.files import read_toml

    try:
        raw = read_toml(path) if path.is_file() else {}
    except HnnbioError:
        return None
    experiment = raw.get("experiment")
    return experiment.get("kind") if isinstance(experiment, dict) else None


def _run_graph(path, steps, values, out, seed, device, backend="brian2") -> dict:
    """A graph of no experiment kind in Brian2 (with its torch networks) or, ``backend``
    "emulator", compiled and run on the chip's interpreter (:func:`hnnbio.chip.snn.
    emulate_graph`); with ``out``, its spikes in result.npz and result.nix either way."""
    from hnnbio.circuits import CIRCUITS
    from hnnbio.hnn.engine import simulate
    from hnnbio.hnn.files import load_hnn

    graph = load_hnn(path)
    steps = steps if steps is not None else graph.steps
    if steps is None:
        raise ParameterError(f"{path.name}: no run length: give --steps or [simulation] steps")
    if graph.inputs and values is None:
        names = ", ".join(i.name for i in graph.inputs)
        raise DataError(f"{path.name}: the graph has inputs ({names}): give --input X.npy")
    if backend == "emulator":
        from hnnbio.chip.snn import emulate_graph

        rows, result = emulate_graph(graph, steps, values, seed)
    else:
        result = simulate(graph, values, steps=steps, seed=seed, device=device,
                          circuits=CIRCUITS)
        rows = result.summary()
        # spikes per population, all samples and neurons together (per neuron: the npz's spikes)
        rows["spike_counts"] = {k: int(s.step.size) for k, s in result.spikes.items()}
    if out is not None:
        rows["written"] = [str(p) for p in _write(out, result)]
    return rows


def _run_binding(path, steps, values, out, seed, images, chip: bool = False) -> dict:
    """A binding model on its data set (``images`` generated) or on ``values``; ``chip``: the
    model compiled and emulated (``hnnbio export`` + ``hnnbio emulate`` in one command)."""
    from hnnbio.binding.bind import bind, check_images, run_bind, write_outputs
    from hnnbio.binding.spec import load_spec

    spec = load_spec(path)
    cycles = None if steps is None else max(1, math.ceil(steps / spec.steps_per_cycle))
    if cycles is not None:  # the readout needs whole cycles: steps rounded up to cycles of D
        spec = spec.replace(loop={"readout_cycles": min(spec.loop["readout_cycles"], cycles)})
    if values is not None:
        n_pixels = int(spec.autoencoder["layers"][0])
        side = int(round(math.sqrt(n_pixels)))
        if values.ndim == 2 and values.shape[1] == side * side:
            values = values.reshape(values.shape[0], side, side)
        elif values.ndim != 3:
            raise DataError(f"input: a binding model takes images of shape (B, {side}, {side}) "
                            f"or (B, {n_pixels}), got {values.shape}")
        values = check_images(values, n_pixels)
    if chip:
        result = _emulate_binding(spec, path, values, images, seed, cycles)
    elif values is None:
        result = run_bind(spec, n_images=images, seed=seed, cycles=cycles)
    else:
        result = bind(values, spec, seed=seed, cycles=cycles)
    rows = result.summary()
    rows["steps"] = int(result.n_steps)
    rows["spike_counts"] = {spec.sheet_name: int(result.spike_step.size)}
    if out is not None:
        rows["written"] = [str(p) for p in write_outputs(result, out)]
    return rows


def _emulate_binding(spec, path, values, images, seed, cycles):
    """The binding model compiled (as ``hnnbio export`` does) and emulated on the images of its
    data set (scored, as ``hnnbio emulate`` does) or on the user's ``values`` (not scored)."""
    from hnnbio.binding.bind import check_memory
    from hnnbio.binding.emulate import emulate, emulate_program
    from hnnbio.chip.compiler import compile_model

    program = compile_model(path)
    if values is not None:
        return emulate(program, values, seed=seed, cycles=cycles)
    if not isinstance(images, bool) and isinstance(images, int) and images >= 1:
        check_memory(spec, images)  # before the images are made (emulate_program checks n)
    return emulate_program(program, n_images=images, seed=seed, cycles=cycles)


def read_input(file) -> np.ndarray:
    """An ``.npy`` input array; one line naming the file when it cannot be used."""
    file = Path(file)
    if file.suffix != ".npy":
        raise DataError(f"{file}: --input must be an .npy file")
    from hnnbio.data.user_images import load_npy

    return load_npy(file, "input")


def _write(folder: OutputFolder, result) -> list[Path]:
    """result.npz and result.nix into the claimed folder (moved into place together)."""
    import neo

    result.save(folder.path / "result.npz")
    with neo.NixIO(str(folder.path / "result.nix"), mode="ow") as io:
        io.write_block(result.to_neo())
    return folder.commit()
