"""Model specs: one TOML file per experiment (models/*.toml, or a user's own file).

A spec says which data set, which sheet (``reference`` stochastic gated units or ``column`` cortical
columns), the loop's timing, the two hybrid units and the autoencoder with its weights. Every
sectionand key is checked: an unknown key is an error that names it, never silently ignored.

Example (``models/bars.toml``)::

    name = "bars"
    dataset = "bars"
    sheet = "reference"
    [loop]
    steps_per_cycle = 54
    cycles = 50
    readout_cycles = 10
    [sheet_params]
    refractory_steps = 6
    [bottom_up]
    keep = [1.0, 0.5, 0.25]
    [top_down]
    target = "drive"
    [autoencoder]
    layers = [400, 256, 400]
    hidden = ["sigmoid"]
    weights = "bars.pt"
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hnnbio.errors import ModelSpecError

SHEETS = ("reference", "column")

#: Allowed keys per section, with defaults (``None``: required).
SCHEMA: dict[str, dict] = {
    "": {"name": None, "dataset": None, "sheet": "reference", "description": ""},
    "loop": {
        "steps_per_cycle": None,
        "cycles": 50,
        "readout_cycles": 10,
        "dt_ms": 1.0,
        "batch_size": 256,
    },
    # Sheet parameters: the reference sheet reads refractory_steps; the column sheet reads the
    # rest (see hnnbio.circuits.column.ColumnParams, which validates its own keys).
    "sheet_params": {"refractory_steps": None},
    "bottom_up": {"kind": "coincidence_window", "keep": [1.0, 0.5, 0.25]},
    "top_down": {"kind": "delay_modulation", "delay_steps": None, "target": "drive"},
    "autoencoder": {"layers": None, "hidden": None, "latent": "deterministic", "weights": None},
    "training": {
        "seed": 0,
        "n_images": 60000,
        "epochs": 300,
        "batch_size": 1024,
        "lr": 0.01,
        "noise": [0.6, 0.8],
        "validation": 0.1,
        "patience": 10,
        "lr_step": 100,
        "lr_gamma": 0.5,
    },
    "readout": {"method": "kmeans", "smoothing": [1.0, 0.5]},
}
#: Sections whose keys are checked by another module (left open here).
OPEN_SECTIONS = {"sheet_params"}


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A validated model spec.

    Attributes mirror the TOML sections; ``path`` is the file it came from, so weights are found
    beside it.
    """

    name: str
    dataset: str
    sheet: str
    loop: dict
    sheet_params: dict
    bottom_up: dict
    top_down: dict
    autoencoder: dict
    training: dict
    readout: dict
    description: str = ""
    path: Path | None = field(default=None)

    @property
    def steps_per_cycle(self) -> int:
        return int(self.loop["steps_per_cycle"])

    @property
    def delay_steps(self) -> int:
        return int(self.top_down["delay_steps"] or self.loop["steps_per_cycle"])

    @property
    def weights_path(self) -> Path:
        """Where the autoencoder weights are: relative to the spec's own folder."""
        w = Path(self.autoencoder["weights"])
        if not w.is_absolute() and self.path is not None:
            w = self.path.parent / w
        return w

    def replace(self, **sections) -> ModelSpec:
        """A copy with sections (or top-level keys) updated: ``replace(loop={"cycles": 5})``."""
        raw = self.to_dict()
        for key, value in sections.items():
            if isinstance(value, dict):
                raw.setdefault(key, {}).update(value)
            else:
                raw[key] = value
        return _from_dict(raw, self.path)

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "dataset": self.dataset,
            "sheet": self.sheet,
            "description": self.description,
        }
        for section in SCHEMA:
            if section:
                out[section] = copy.deepcopy(getattr(self, section))
        return out

    def __repr__(self) -> str:
        return (
            f"ModelSpec(name={self.name!r}, dataset={self.dataset!r}, sheet={self.sheet!r}, "
            f"D={self.steps_per_cycle}, cycles={self.loop['cycles']}, "
            f"autoencoder={self.autoencoder['layers']})"
        )


def model_dir() -> Path:
    """The folder of the shipped model specs and weights (``hnnbio.shipped_models``)."""
    try:
        path = Path(str(resources.files("hnnbio.shipped_models")))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "models"


def available_models() -> list[str]:
    """Names of the shipped model specs."""
    return sorted(p.stem for p in model_dir().glob("*.toml"))


def load_spec(model: str | Path | ModelSpec) -> ModelSpec:
    """Load and validate a model spec by shipped name (``"bars"``) or by path to a TOML file."""
    if isinstance(model, ModelSpec):
        return model
    path = Path(model)
    if path.suffix != ".toml":
        candidate = model_dir() / f"{model}.toml"
        if not candidate.exists():
            known = ", ".join(available_models())
            raise ModelSpecError(
                f"unknown model {str(model)!r}: choose one of {known} or give a .toml path"
            )
        path = candidate
    if not path.exists():
        raise ModelSpecError(f"model spec file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ModelSpecError(f"{path}: not valid TOML ({exc})") from None
    return _from_dict(raw, path.resolve())


def _from_dict(raw: dict, path: Path | None) -> ModelSpec:
    where = path.name if path else "spec"
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    out = _fill(where, "", top, SCHEMA[""])
    for name in sections:
        if name not in SCHEMA or name == "":
            raise ModelSpecError(
                f"{where}: unknown section [{name}]; known: {', '.join(s for s in SCHEMA if s)}"
            )
    for name, schema in SCHEMA.items():
        if name:
            out[name] = _fill(
                where, name, sections.get(name, {}), schema, open_keys=name in OPEN_SECTIONS
            )
    if out["sheet"] not in SHEETS:
        raise ModelSpecError(f"{where}: sheet = {out['sheet']!r} is not one of {', '.join(SHEETS)}")
    loop = out["loop"]
    for key in ("steps_per_cycle", "cycles", "readout_cycles"):
        if not isinstance(loop[key], int) or loop[key] < 1:
            raise ModelSpecError(
                f"{where}: loop.{key} must be a positive integer, got {loop[key]!r}"
            )
    if loop["readout_cycles"] > loop["cycles"]:
        raise ModelSpecError(
            f"{where}: loop.readout_cycles ({loop['readout_cycles']}) exceeds "
            f"loop.cycles ({loop['cycles']})"
        )
    if out["top_down"]["target"] not in ("drive", "distal", "threshold"):
        raise ModelSpecError(f"{where}: top_down.target must be drive, distal or threshold")
    return ModelSpec(path=path, **out)


def _fill(where: str, section: str, given: dict, schema: dict, open_keys: bool = False) -> dict:
    label = f"[{section}]" if section else "top level"
    unknown = [k for k in given if k not in schema]
    if unknown and not open_keys:
        raise ModelSpecError(
            f"{where}: unknown key {unknown[0]!r} in {label}; known: {', '.join(schema)}"
        )
    out = copy.deepcopy(schema)
    out.update(copy.deepcopy(given))
    missing = [k for k, v in out.items() if v is None and k not in ("delay_steps",)]
    if missing and (given or not section or section in ("loop", "autoencoder")):
        raise ModelSpecError(f"{where}: missing key {missing[0]!r} in {label}")
    return out
