"""What the experiment kinds share about their files: the ``[experiment]`` table, the weights file
beside the model file, and (for kinds built from their ``[experiment]`` table alone, neutnn and
hifi) the model file itself. Every problem is one line naming the file and what is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hnnbio.errors import DataError, ModelSpecError


def weights_file(settings: dict, model_path) -> Path:
    """``[experiment] weights``, relative to the model file's folder unless absolute."""
    path = Path(settings["weights"])
    if not path.is_absolute() and model_path is not None:
        path = Path(model_path).parent / path
    return path


def read_weights(path: Path, trainer: str, model_path) -> dict:
    """The torch file at ``path`` (``trainer``: the module that writes it, named when missing)."""
    import torch

    if not path.is_file():
        raise DataError(f"{path.name}: weights file not found: the model is untrained (train it "
                        f"with python -m {trainer} {Path(model_path or '').name})")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:
        raise DataError(f"{path.name}: not a readable weights file ({type(exc).__name__})") \
            from None


def check_owner(data, name: str, where: str) -> None:
    """``data`` is a weights dict written for model ``name``, else one line naming its owner."""
    if not isinstance(data, dict) or data.get("model") != name:
        owner = data.get("model", "another kind of model") if isinstance(data, dict) else "?"
        raise DataError(f"{where}: weights of {owner!r}, not of model {name!r}")


def experiment_table(raw: dict, keys: dict, datasets: tuple) -> dict:
    """The ``[experiment]`` table of a raw model file with ``keys``' defaults; unknown keys, a
    missing ``weights`` and a data set not in ``datasets`` refused by name."""
    given = dict(raw.get("experiment", {}))
    for key in given:
        if key not in keys:
            raise ModelSpecError(f"[experiment]: unknown key {key!r}; known: {', '.join(keys)}")
    if "weights" not in given:
        raise ModelSpecError("[experiment]: missing key 'weights'")
    if given.get("dataset", "digits") not in datasets:
        raise ModelSpecError(f"[experiment]: dataset must be one of {', '.join(datasets)}, got "
                             f"{given['dataset']!r}")
    return {k: given.get(k, v) for k, v in keys.items()}


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """What a model file built from its ``[experiment]`` table says (its HNN sections checked by
    :func:`hnnbio.hnn.files.check_raw`)."""

    name: str
    path: Path
    steps: int | None


def read_experiment_file(path, kind: str, settings_of, design_of, n_pixels: int,
                         dt_reason: str, default_steps: int | None):
    """(model file, settings, design) of a model file of ``kind`` built from its
    ``[experiment]`` table alone; every key checked, no weights read.

    ``settings_of(raw)`` and ``design_of(settings)`` check the kind's table; the file must have
    ``dt = "1 ms"`` (``dt_reason`` says why), one input of ``n_pixels`` and no populations,
    synapses, networks, units or monitors. ``steps``: ``[simulation] steps``, else
    ``default_steps``.
    """
    from hnnbio.hnn.files import check_raw, parse_time_ms, read_toml

    path = Path(path)
    if not path.is_file():
        raise ModelSpecError(f"{path}: model file not found")
    raw = read_toml(path)
    try:
        check_raw(raw)
        settings = settings_of(raw)
        design = design_of(settings)
        sim = raw.get("simulation", {})
        if parse_time_ms(sim.get("dt", "1 ms"), "[simulation]: dt") != 1.0:
            raise ModelSpecError(f"[simulation]: dt must be \"1 ms\" ({dt_reason})")
        steps = sim.get("steps", default_steps)
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                                  or steps < 1):
            raise ModelSpecError(f"[simulation]: steps must be an integer >= 1, got {steps!r}")
        sizes = {k: v.get("size") for k, v in raw.get("inputs", {}).items()}
        if list(sizes.values()) != [n_pixels]:
            raise ModelSpecError(f"a {kind} model has one input of size {n_pixels} (8 x 8 "
                                 f"pixels), got {sizes}")
        for section in ("populations", "synapses", "networks", "units", "monitors"):
            if raw.get(section):
                raise ModelSpecError(f"[{section}]: a {kind} model is built from its "
                                     f"[experiment] table and has no {section}")
    except ModelSpecError as exc:
        raise ModelSpecError(f"{path.name}: {exc}") from None
    return ModelFile(raw["name"], path.resolve(), steps), settings, design
