"""Binding models: HNN files (``models/*.toml``) with an ``[experiment]`` of ``kind = "binding"``.

A binding model is an HNN graph (:mod:`hnnbio.hnn.files`: a sheet population, an autoencoder
network, an SNN -> ANN window unit and a delayed ANN -> SNN attention unit) plus the experiment's
settings, which this module reads and checks (:data:`EXPERIMENT_SCHEMA`; an unknown key is an
error naming it). :class:`ModelSpec` is the binding's view of such a file: the graph's settings
that binding, training, the no-spike baseline and the chip read (cycle length, refractoriness,
keep probabilities, delay, architecture), each taken from its one place in the file, and
:meth:`ModelSpec.graph` builds the graph the engine runs.

Example (``models/bars.toml``, abridged)::

    name = "bars"
    [inputs.image]
    size = 400
    [populations.sheet]      # stochastic gated units, P(spike) = x * c, r silent steps
    ...
    [networks.autoencoder]
    weights = "bars.pt"
    inputs = ["window"]
    [units.window]           # SNN -> ANN coincidence window
    ...
    [units.attention]        # ANN -> SNN, delay D
    ...
    [experiment]
    kind = "binding"
    dataset = "bars"
    sheet = "sheet"
    attention = "attention"
    steps_per_cycle = 54
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hnnbio.errors import HnnbioError, ModelSpecError

#: Keys of a binding ``[experiment]``: key -> (what it takes, default, meaning); None: required.
EXPERIMENT_SCHEMA: dict[str, tuple] = {
    "kind": ("binding", None, "this experiment"),
    "dataset": ("bars, shapes, corners, multi_mnist, mnist_shape", None, "the data set"),
    "sheet": ("population name", None, "the population whose spikes are read out"),
    "attention": ("unit name", None, "the ANN -> SNN unit whose last cycle is kept"),
    "steps_per_cycle": ("integer >= 1", None, "D, the cycle length in steps (not given for a "
                        "ping sheet: measured, slots x the rhythm's period)"),
    "cycles": ("integer >= 1", 50, "cycles simulated"),
    "readout_cycles": ("integer >= 1, <= cycles", 10, "last cycles the readout uses"),
    "stop": ("none or stable", "none", "stable: end a batch once its phase assignment is "
             "stable (after at least readout_cycles cycles)"),
    "stable_cycles": ("integer >= 1", 5, "cycles without progress that count as stable"),
    "readout": ("table", {}, "method (kmeans) and smoothing (causal kernel)"),
    "autoencoder": ("table", None, "layers, hidden, latent: the architecture `hnnbio train` "
                    "trains (checked against the weights file)"),
    "training": ("table", {}, "settings of `hnnbio train` (hnnbio.ann.train.TrainingSettings)"),
}
READOUT = {"method": "kmeans", "smoothing": [1.0, 0.5]}
AUTOENCODER = {"layers": None, "hidden": None, "latent": "deterministic"}
SHEETS = ("reference", "column", "ping")


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A binding model: the file's parsed TOML (``raw``) and the binding's view of it.

    ``loop`` (steps_per_cycle, cycles, readout_cycles, stop, stable_cycles, dt_ms, batch_size),
    ``sheet``
    ("reference" or "column", from the sheet population), ``sheet_params``, ``bottom_up``
    (keep, nested), ``top_down`` (delay_steps, target), ``autoencoder`` (layers, hidden, latent,
    weights), ``training`` and ``readout`` are derived from the file on loading.
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
    raw: dict = field(repr=False)
    description: str = ""
    path: Path | None = None

    @property
    def steps_per_cycle(self) -> int:
        """D; for a ping sheet (whose D is measured) the longest it may be, ``slots *
        max_period_steps``: the step budget and the memory bound of a run."""
        return int(self.loop["steps_per_cycle"])

    @property
    def measured_cycle(self) -> bool:
        """True for a ping sheet: the cycle is the network's (K gamma cycles), not given."""
        return self.sheet == "ping"

    @property
    def ping(self):
        """The ping sheet's :class:`~hnnbio.circuits.ping.PingParams` (defaults filled in), or
        None for another sheet."""
        if self.sheet != "ping":
            return None
        from hnnbio.circuits.ping import PingParams

        return PingParams.from_dict(self.sheet_params)

    @property
    def delay_steps(self) -> int:
        return int(self.top_down["delay_steps"])

    @property
    def weights_path(self) -> Path:
        """Where the autoencoder weights are: relative to the file's own folder."""
        w = Path(self.autoencoder["weights"])
        if not w.is_absolute() and self.path is not None:
            w = self.path.parent / w
        return w

    @property
    def sheet_name(self) -> str:
        return self.raw["experiment"]["sheet"]

    @property
    def attention_name(self) -> str:
        return self.raw["experiment"]["attention"]

    @property
    def window_name(self) -> str:
        return _window_unit(self.raw, self.sheet_name)

    @property
    def network_name(self) -> str:
        return self.raw["units"][self.attention_name]["source"]

    def graph(self, autoencoder=None):
        """The HNN graph of the file (:func:`hnnbio.hnn.files.from_dict`), with ``autoencoder``
        used for the network instead of loading the weights file when given."""
        from hnnbio.hnn.files import from_dict

        networks = {} if autoencoder is None else {self.network_name: autoencoder}
        try:
            return from_dict(self.raw, self.path, networks)
        except HnnbioError as exc:
            raise type(exc)(f"{self.path.name if self.path else self.name}: {exc}") from None

    def replace(self, **sections) -> ModelSpec:
        """A copy with view keys changed, each written to its place in the file:
        ``replace(loop={"cycles": 5})``, ``replace(sheet_params={"refractory_steps": 4})``."""
        raw = copy.deepcopy(self.raw)
        for section, values in sections.items():
            if not isinstance(values, dict):
                values = {None: values}
            for key, value in values.items():
                _set(raw, section, key, value, self)
        return _from_raw(raw, self.path)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.raw)

    def __repr__(self) -> str:
        return (f"ModelSpec(name={self.name!r}, dataset={self.dataset!r}, sheet={self.sheet!r}, "
                f"D={self.steps_per_cycle}, cycles={self.loop['cycles']}, "
                f"autoencoder={self.autoencoder['layers']})")


def model_dir() -> Path:
    """The folder of the shipped model files and weights (``hnnbio.shipped_models``)."""
    try:
        path = Path(str(resources.files("hnnbio.shipped_models")))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "models"


def available_models() -> list[str]:
    """Names of the shipped binding models."""
    return sorted(p.stem for p in model_dir().glob("*.toml")
                  if "kind = \"binding\"" in p.read_text())


def load_spec(model: str | Path | ModelSpec) -> ModelSpec:
    """Load and check a binding model by shipped name (``"bars"``) or by path to a TOML file."""
    if isinstance(model, ModelSpec):
        return model
    path = Path(model)
    if path.suffix != ".toml":
        candidate = model_dir() / f"{model}.toml"
        if not candidate.exists():
            known = ", ".join(available_models())
            raise ModelSpecError(f"unknown model {str(model)!r}: choose one of {known} or give "
                                 f"a .toml path")
        path = candidate
    if not path.is_file():
        raise ModelSpecError(f"model file not found: {path}")
    from hnnbio.hnn.files import read_toml

    raw = read_toml(path)
    try:
        return _from_raw(raw, path.resolve())
    except HnnbioError as exc:
        message = str(exc)
        raise ModelSpecError(message if message.startswith(path.name)
                             else f"{path.name}: {message}") from None


def _from_raw(raw: dict, path: Path | None) -> ModelSpec:
    from hnnbio.hnn.files import check_raw, parse_time_ms
    from hnnbio.hnn.nodes import check_int

    check_raw(raw)
    exp = raw.get("experiment")
    if not exp or exp.get("kind") != "binding":
        raise ModelSpecError("not a binding model: [experiment] kind = \"binding\" is missing")
    pops = raw.get("populations", {})
    ping = isinstance(pops.get(exp.get("sheet")), dict) and \
        pops[exp["sheet"]].get("circuit") == "ping"
    _check_table("[experiment]", exp, EXPERIMENT_SCHEMA,
                 optional=("steps_per_cycle",) if ping else ())
    if ping and "steps_per_cycle" in exp:
        raise ModelSpecError("[experiment]: steps_per_cycle is not given for a ping sheet (the "
                             "cycle is measured: slots gamma cycles of the network's rhythm)")
    for key in ("steps_per_cycle", "cycles", "readout_cycles", "stable_cycles"):
        if ping and key == "steps_per_cycle":
            continue
        exp.setdefault(key, EXPERIMENT_SCHEMA[key][1])
        check_int("[experiment]", key, exp[key], 1)
    exp.setdefault("stop", "none")
    if exp["stop"] not in ("none", "stable"):
        raise ModelSpecError(f"[experiment]: stop must be none or stable, got {exp['stop']!r}")
    if exp["readout_cycles"] > exp["cycles"]:
        raise ModelSpecError(f"[experiment]: readout_cycles ({exp['readout_cycles']}) exceeds "
                             f"cycles ({exp['cycles']})")
    from hnnbio.data.datasets import DATASETS

    if exp["dataset"] not in DATASETS:
        raise ModelSpecError(f"[experiment]: dataset {exp['dataset']!r} is not one of "
                             f"{', '.join(DATASETS)}")
    readout = _fill("[experiment.readout]", exp.get("readout", {}), READOUT)
    if readout["method"] != "kmeans":
        raise ModelSpecError(f"[experiment.readout]: method must be kmeans, got "
                             f"{readout['method']!r}")
    autoencoder = _fill("[experiment.autoencoder]", exp["autoencoder"], AUTOENCODER)
    from hnnbio.ann.train import TrainingSettings

    try:
        training = TrainingSettings.from_dict(exp.get("training", {})).to_dict()
    except HnnbioError as exc:
        raise ModelSpecError(f"[experiment.training]: {exc}") from None
    pops, units, nets = (raw.get(k, {}) for k in ("populations", "units", "networks"))
    sheet = _named(pops, exp["sheet"], "sheet", "population")
    attention = _named(units, exp["attention"], "attention", "unit")
    window = units[_window_unit(raw, exp["sheet"])]
    if attention.get("target") != exp["sheet"]:
        raise ModelSpecError(f"[experiment]: attention unit {exp['attention']!r} must target "
                             f"the sheet {exp['sheet']!r}")
    net = _named(nets, attention.get("source"), "attention's source", "network")
    if "weights" not in net:
        raise ModelSpecError(f"[networks.{attention['source']}]: a binding model's autoencoder "
                             f"is given by weights")
    kind = sheet.get("circuit") if sheet.get("circuit") in ("column", "ping") else "reference"
    steps_per_cycle = exp.get("steps_per_cycle")
    if kind == "ping":
        from hnnbio.circuits.ping import PingParams
        from hnnbio.errors import ParameterError

        try:
            ping_params = PingParams.from_dict(dict(sheet.get("params", {})))
        except (ParameterError, TypeError) as exc:
            raise ModelSpecError(f"[populations.{exp['sheet']}]: params: {exc}") from None
        if attention.get("delay_steps", 1) != 1:
            raise ModelSpecError(f"[units.{exp['attention']}]: delay_steps must be 1 for a ping "
                                 f"sheet (each step's output goes to the sheet, which delays it "
                                 f"by its own gamma cycles)")
        if exp["stop"] != "none":
            raise ModelSpecError("[experiment]: stop must be none for a ping sheet")
        sheet_params = dict(sheet.get("params", {}))
        steps_per_cycle = ping_params.slots * ping_params.max_period_steps
    elif kind == "column":
        from hnnbio.circuits.column import ColumnParams
        from hnnbio.errors import ParameterError

        try:
            ColumnParams.from_dict(dict(sheet.get("params", {})))
        except (ParameterError, TypeError) as exc:
            raise ModelSpecError(f"[populations.{exp['sheet']}]: params: {exc}") from None
        sheet_params = dict(sheet.get("params", {}))
    elif sheet.get("model") == "stochastic":
        sheet_params = {"refractory_steps": sheet.get("params", {}).get("refractory_steps", 0)}
    else:
        raise ModelSpecError(f"[populations.{exp['sheet']}]: a binding sheet is model = "
                             f"\"stochastic\" (the reference sheet) or circuit = \"column\" "
                             f"or \"ping\"")
    sim = raw.get("simulation", {})
    return ModelSpec(
        name=raw["name"], dataset=exp["dataset"], sheet=kind,
        loop=dict(steps_per_cycle=steps_per_cycle, cycles=exp["cycles"],
                  readout_cycles=exp["readout_cycles"], stop=exp["stop"],
                  stable_cycles=exp["stable_cycles"],
                  dt_ms=parse_time_ms(sim.get("dt", "1 ms"), "[simulation]: dt"),
                  batch_size=sim.get("batch_size", 256)),
        sheet_params=sheet_params,
        bottom_up=dict(keep=list(window.get("keep", [1.0, 0.5, 0.25])),
                       nested=window.get("nested", False)),
        top_down=dict(delay_steps=attention.get("delay_steps", 1),
                      target={"column": "distal", "ping": "excitatory"}.get(kind, "drive")),
        autoencoder=dict(autoencoder, weights=net["weights"]),
        training=training, readout=readout, raw=raw, description=raw.get("description", ""),
        path=path)


def _window_unit(raw: dict, sheet: str) -> str:
    ups = [n for n, u in raw.get("units", {}).items() if u.get("source") == sheet]
    if len(ups) != 1:
        raise ModelSpecError(f"[experiment]: the sheet {sheet!r} must feed exactly one unit "
                             f"(the coincidence window), found {len(ups)}")
    return ups[0]


def _named(table: dict, name, key: str, what: str) -> dict:
    if not isinstance(name, str) or name not in table:
        raise ModelSpecError(f"[experiment]: {key} names no {what}: {name!r}")
    return table[name]


def _check_table(where: str, given: dict, schema: dict, optional=()) -> None:
    for key in given:
        if key not in schema:
            raise ModelSpecError(f"{where}: unknown key {key!r}; known: {', '.join(schema)}")
    for key, (_, default, _) in schema.items():
        if default is None and key not in given and key not in optional:
            raise ModelSpecError(f"{where}: missing key {key!r}")


def _fill(where: str, given, defaults: dict) -> dict:
    if not isinstance(given, dict):
        raise ModelSpecError(f"{where}: must be a table")
    _check_table(where, given, {k: (None, v, None) for k, v in defaults.items()})
    return dict(copy.deepcopy(defaults), **copy.deepcopy(given))


#: Where each key of the view lives in the file: (view section, key) -> path in the raw dict.
def _set(raw: dict, section: str, key, value, spec: ModelSpec) -> None:
    exp = raw["experiment"]
    sheet, attention = spec.sheet_name, spec.attention_name
    places = {
        ("loop", "steps_per_cycle"): ("experiment", "steps_per_cycle"),
        ("loop", "cycles"): ("experiment", "cycles"),
        ("loop", "readout_cycles"): ("experiment", "readout_cycles"),
        ("loop", "stop"): ("experiment", "stop"),
        ("loop", "stable_cycles"): ("experiment", "stable_cycles"),
        ("loop", "batch_size"): ("simulation", "batch_size"),
        ("bottom_up", "keep"): ("units", spec.window_name, "keep"),
        ("bottom_up", "nested"): ("units", spec.window_name, "nested"),
        ("top_down", "delay_steps"): ("units", attention, "delay_steps"),
        ("autoencoder", "weights"): ("networks", spec.network_name, "weights"),
    }
    if spec.sheet == "ping" and (section, key) in (("loop", "steps_per_cycle"),
                                                   ("top_down", "delay_steps")):
        raise ModelSpecError(f"replace: {section}.{key}: a ping sheet's cycle is measured, not set")
    if section == "loop" and key == "dt_ms":
        raw.setdefault("simulation", {})["dt"] = f"{value} ms"
    elif (section, key) in places:
        where = raw
        *path, last = places[(section, key)]
        for p in path:
            where = where.setdefault(p, {})
        where[last] = value
    elif section == "sheet_params":
        pop = raw["populations"][sheet]
        if spec.sheet in ("column", "ping") or key == "refractory_steps":
            pop.setdefault("params", {})[key] = value
        else:
            raise ModelSpecError(f"sheet_params.{key}: the reference sheet has only "
                                 f"refractory_steps")
    elif section in ("autoencoder", "training", "readout"):
        exp.setdefault(section, {})[key] = value
    elif section in ("dataset", "description", "name") and key is None:
        (raw if section != "dataset" else exp)[section] = value
    else:
        raise ModelSpecError(f"replace: {section}.{key} is not a setting of a binding model")


def binding_toml(name: str, dataset: str, layers, hidden, weights: str, steps_per_cycle: int,
                 refractory_steps: int, cycles: int = 50, readout_cycles: int = 10,
                 keep=(1.0, 0.5, 0.25), nested: bool = False, delay_steps: int | None = None,
                 batch_size: int = 256) -> str:
    """The text of a binding model file on the reference sheet (as ``models/bars.toml``), for a
    variant of a shipped model: another data set, cycle, refractoriness or autoencoder."""

    def toml_list(values):
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in values) + "]"

    n = int(layers[0])
    return f'''name = "{name}"

[simulation]
batch_size = {batch_size}

[inputs.image]
size = {n}

[populations.sheet]
size = {n}
model = "stochastic"
params = {{ refractory_steps = {refractory_steps} }}
input = "image"
input_variable = "drive"
drop_undriven = true

[networks.autoencoder]
weights = "{weights}"
inputs = ["window"]

[units.window]
source = "sheet"
target = "autoencoder"
window = {len(keep)}
kernel = "coincidence"
keep = {toml_list(keep)}
nested = {str(nested).lower()}

[units.attention]
source = "autoencoder"
target = "sheet"
kind = "modulation"
variable = "gain"
operation = "set"
delay_steps = {delay_steps or steps_per_cycle}
initial = "soft_assignment"
record_steps = {steps_per_cycle}

[experiment]
kind = "binding"
dataset = "{dataset}"
sheet = "sheet"
attention = "attention"
steps_per_cycle = {steps_per_cycle}
cycles = {cycles}
readout_cycles = {readout_cycles}

[experiment.autoencoder]
layers = {toml_list(layers)}
hidden = {toml_list(hidden)}
'''
