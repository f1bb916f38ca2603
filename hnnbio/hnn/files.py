"""The HNN file format (TOML): every key is read by a back end or refused with one line.

A file has a ``name``, an optional ``description`` and the sections of :data:`SCHEMA`:
``[simulation]``, ``[inputs.NAME]``, ``[populations.NAME]``, ``[synapses.NAME]``,
``[networks.NAME]``, ``[units.NAME]``, ``[monitors.NAME]`` and ``[experiment]`` (read by the
experiment named by its ``kind``, e.g. binding, which checks its own keys). Quantities are strings
with Brian2 units (``"10 ms"``, ``"-50 mV"``, ``"0.5 nA"``, ``"2 mV/ms"``); lists of them give
per-neuron values. ``docs/model-spec.md`` is generated from :data:`SCHEMA`
(``python docs/make_model_spec.py``), and a test keeps it equal.

    name = "demo"
    [simulation]
    dt = "0.1 ms"
    steps = 1000
    [populations.exc]
    model = "lif"
    size = 10
    params = { tau_mem = "10 ms", i_bias = "0.25 nA" }
"""

from __future__ import annotations

import importlib
import re
import tomllib
import zlib
from pathlib import Path

import numpy as np

from hnnbio.errors import HnnbioError, ModelSpecError
from hnnbio.hnn.graph import HNN
from hnnbio.hnn.nodes import HybridUnit, Input, Network, Population, Synapse

#: Per section: key -> (what it takes, default, meaning). ``None`` as default: required.
SCHEMA: dict[str, dict[str, tuple]] = {
    "": {
        "name": ("string", None, "name of the model"),
        "description": ("string", "", "one line on what it is"),
    },
    "simulation": {
        "dt": ("time", "1 ms", "simulation step"),
        "steps": ("integer >= 1", "none", "default run length in steps"),
        "batch_size": ("integer >= 1", "all", "samples simulated together as one group"),
        "n_samples": ("integer >= 1", 1, "samples when the graph has no input"),
    },
    "inputs": {
        "size": ("integer >= 1", None, "values per sample"),
    },
    "populations": {
        "size": ("integer >= 1", None, "neurons per sample"),
        "model": ("string", "", "a named model: lif, self_inhibiting, coincidence, pyramidal, "
                  "stochastic"),
        "equations": ("string", "", "the user's own Brian2 equations (units on every line)"),
        "threshold": ("string", "", "Brian2 threshold condition (with equations)"),
        "reset": ("string", "", "Brian2 reset statements (with equations)"),
        "refractory": ("time or condition", "", "Brian2 refractory period (with equations)"),
        "refractory_steps": ("integer >= 0", "", "silent steps after a spike (with equations)"),
        "method": ("string", "Brian2's choice", "integration method (with equations)"),
        "circuit": ("string", "", "a circuit of hnnbio.circuits, e.g. column"),
        "params": ("table", {}, "parameters of the model or circuit; initial values of the "
                   "user's variables"),
        "namespace": ("table", {}, "constants used in the equations"),
        "dtype": ("table", {}, "per-variable dtype (float32, float64)"),
        "input": ("string", "", "the input node written into input_variable"),
        "input_variable": ("string", "", "the variable that receives the input"),
        "drop_undriven": ("boolean", False, "build only neurons whose input is non-zero"),
        "record": ("boolean", True, "record the population's spikes"),
    },
    "synapses": {
        "source": ("string", None, "presynaptic population"),
        "target": ("string", None, "postsynaptic population"),
        "model": ("string", "", "Brian2 synapse equations"),
        "on_pre": ("string or table", "", "statements on a presynaptic spike (table: pathways)"),
        "on_post": ("string", "", "statements on a postsynaptic spike"),
        "connect": ("one_to_one, all_to_all, {p}, {i, j}", "one_to_one",
                    "connections within a sample"),
        "values": ("table", {}, "synaptic variables: a quantity or one per connection"),
        "delay": ("time", "none", "synaptic delay"),
        "method": ("string", "Brian2's choice", "integration method"),
        "namespace": ("table", {}, "constants used in the equations"),
    },
    "networks": {
        "weights": ("path", "", "hnnbio autoencoder weights file (beside the model file)"),
        "factory": ("package.module:function", "", "import path of a function returning a "
                    "torch.nn.Module (called with torch seeded from the network's name: the "
                    "same file, the same initial weights)"),
        "kwargs": ("table", {}, "keyword arguments of the factory"),
        "state": ("path", "", "a torch state-dict file loaded into the factory's module"),
        "inputs": ("list of names", None, "units, networks or inputs read, concatenated"),
        "every": ("integer >= 1", 1, "call the network every so many steps"),
    },
    "units": {
        "source": ("string", None, "population (SNN -> ANN) or network (ANN -> SNN)"),
        "target": ("string", None, "network (SNN -> ANN) or population (ANN -> SNN)"),
        "kind": ("transmission or modulation", "transmission", "what the unit does"),
        "window": ("integer >= 1", 1, "W: window length in steps"),
        "kernel": ("rate, exponential, coincidence or a list", "none", "H over the window"),
        "tau_steps": ("number > 0", 2.0, "time constant of the exponential kernel, in steps"),
        "keep": ("list of probabilities", [1.0, 0.5, 0.25], "coincidence: keep per age"),
        "nested": ("boolean", False, "coincidence: nested coins (reference binding code)"),
        "nonlinearity": ("sigmoid, relu, tanh", "none", "F"),
        "quantiser": ("bernoulli, threshold, fixed_point", "none", "Q"),
        "theta": ("number", 0.5, "threshold of the threshold quantiser"),
        "bits": ("integer >= 1", 8, "fraction bits of the fixed-point quantiser"),
        "variable": ("string", "", "ANN -> SNN: the target variable"),
        "operation": ("add, spikes, set, multiply, shift", "add / set", "ANN -> SNN: the write"),
        "gain": ("number", 1.0, "ANN -> SNN: scale of the unit's output"),
        "delay_steps": ("integer >= 0", 1, "ANN -> SNN: steps until the value applies"),
        "initial": ("zeros, ones, soft_assignment or a number", "zeros",
                    "ANN -> SNN: delay line content before the first value"),
        "record_steps": ("integer >= 0", 0, "ANN -> SNN: keep the values of the last steps"),
    },
    "monitors": {
        "kind": ("spikes, state or rate", None, "Brian2 SpikeMonitor, StateMonitor or "
                 "PopulationRateMonitor"),
        "population": ("string", None, "the population monitored"),
        "variables": ("list of strings", [], "state: the variables recorded"),
        "record": ("true or list of indices", True, "state: the neurons recorded"),
    },
    "experiment": {
        "kind": ("string", None, "the experiment that reads the rest of this section, e.g. "
                 "binding"),
    },
}
NAMED_SECTIONS = ("inputs", "populations", "synapses", "networks", "units", "monitors")
_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def parse_quantity(text, where: str):
    """A Brian2 quantity from ``"10 ms"``, ``"2.5 mV/ms"``, ``"-70 mV"`` or a plain number."""
    if isinstance(text, bool):
        raise ModelSpecError(f"{where}: expected a number or a quantity, got {text!r}")
    if isinstance(text, int):
        return text
    if isinstance(text, float):
        return text
    if isinstance(text, list):
        values = [parse_quantity(v, where) for v in text]
        return values[0].__class__(values) if values and hasattr(values[0], "dim") \
            else np.asarray(values, dtype=float)
    if not isinstance(text, str):
        raise ModelSpecError(f"{where}: expected a number or a quantity string, got {text!r}")
    from brian2.units.allunits import all_units

    match = _NUMBER_UNIT.match(text)
    if not match:
        raise ModelSpecError(f"{where}: {text!r} is not a number with a unit (e.g. '10 ms')")
    number, unit = float(match.group(1)), match.group(2)
    if not unit:
        return number
    namespace = {str(u): u for u in all_units}
    if not re.fullmatch(r"[A-Za-z_][\w]*(\s*(\*\*|[*/])\s*([A-Za-z_]\w*|\d+))*", unit):
        raise ModelSpecError(f"{where}: {unit!r} is not a unit expression")
    try:
        value = eval(unit, {"__builtins__": {}}, namespace)  # names are units only (checked)
    except Exception:
        raise ModelSpecError(f"{where}: unknown unit {unit!r} in {text!r}") from None
    return number * value


def parse_time_ms(text, where: str) -> float:
    """A time string in milliseconds (> 0, finite)."""
    from brian2 import ms, second
    from brian2.units.fundamentalunits import have_same_dimensions

    value = parse_quantity(text, where)
    if not have_same_dimensions(value, second):
        raise ModelSpecError(f"{where}: must be a time such as '1 ms', got {text!r}")
    out = float(value / ms)
    if not (np.isfinite(out) and out > 0):
        raise ModelSpecError(f"{where}: must be a finite time > 0, got {text!r}")
    return out


def _values(table, where: str) -> dict:
    if not isinstance(table, dict):
        raise ModelSpecError(f"{where}: must be a table, got {table!r}")
    out = {}
    for key, value in table.items():
        if isinstance(value, str) and not _NUMBER_UNIT.match(value):
            out[key] = value  # a Brian2 expression string, e.g. "rand() * mV"
        else:
            out[key] = parse_quantity(value, f"{where}.{key}")
    return out


def _check_keys(where: str, section: str, given: dict) -> None:
    schema = SCHEMA[section]
    for key in given:
        if key not in schema:
            raise ModelSpecError(f"{where}: unknown key {key!r}; known: {', '.join(schema)}")
    for key, (_, default, _) in schema.items():
        if default is None and key not in given:
            raise ModelSpecError(f"{where}: missing key {key!r}")


def read_toml(path: Path) -> dict:
    """The parsed TOML of a model file; ModelSpecError naming the file when it does not parse."""
    try:
        return tomllib.loads(Path(path).read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelSpecError(f"{Path(path).name}: not valid TOML ({exc})") from None


def load_hnn(path, *, networks: dict | None = None) -> HNN:
    """Read and validate an HNN file.

    Parameters
    ----------
    path : str or Path
    networks : dict of str to torch.nn.Module, optional
        Modules to use for networks by name instead of loading them (a trained copy in memory).

    Raises
    ------
    ModelSpecError
        One line naming the file, the key and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelSpecError(f"{path}: model file not found")
    raw = read_toml(path)
    try:
        return from_dict(raw, path.resolve(), networks or {})
    except HnnbioError as exc:
        message = str(exc)
        if not message.startswith(path.name):
            message = f"{path.name}: {message}"
        raise ModelSpecError(message) from None


#: The Python type a value of the schema must have, by the start of what it takes (the rest of
#: what it takes, e.g. ranges, is checked where the value is used).
_TYPES = {"string": (str,), "table": (dict,), "boolean": (bool,), "integer": (int,),
          "list": (list,), "path": (str,), "package.module:function": (str,),
          "number": (int, float)}


def _check_types(where: str, section: str, given: dict) -> None:
    """A wrong type of a value is one line naming the key (not a TypeError where it is used)."""
    for key, value in given.items():
        what = SCHEMA[section][key][0]
        if what in _TYPES:
            types = _TYPES[what]
        else:
            first = what.split()[0]
            if first not in _TYPES or " or " in what:
                continue
            types = _TYPES[first]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            article = "an" if what[0] in "aeiou" else "a"
            raise ModelSpecError(f"{where}: {key} must be {article} {what}, got {value!r}")


def check_raw(raw: dict) -> None:
    """Check the keys and sections of a parsed HNN file without building anything (no weights
    are read): an unknown or missing key, or a value of a wrong type, raises ModelSpecError naming
    it."""
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    _check_keys("top level", "", top)
    for key in ("name", "description"):
        if not isinstance(top.get(key, ""), str):
            raise ModelSpecError(f"{key} must be a string, got {top[key]!r}")
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    for name in sections:
        if name not in SCHEMA or name == "":
            raise ModelSpecError(f"unknown section [{name}]; known: "
                                 f"{', '.join(s for s in SCHEMA if s)}")
    _check_keys("[simulation]", "simulation", sections.get("simulation", {}))
    for section in NAMED_SECTIONS:
        for name, table in sections.get(section, {}).items():
            where = f"[{section}.{name}]"
            if not isinstance(table, dict):
                raise ModelSpecError(f"{where}: must be a table")
            _check_keys(where, section, table)
            _check_types(where, section, table)
    _check_types("[simulation]", "simulation", sections.get("simulation", {}))
    experiment = sections.get("experiment", {})
    if experiment:
        if "kind" not in experiment:
            raise ModelSpecError("[experiment]: missing key 'kind'")
        if not isinstance(experiment["kind"], str):
            raise ModelSpecError(f"[experiment]: kind must be a string, got "
                                 f"{experiment['kind']!r}")


def from_dict(raw: dict, path: Path | None = None, networks: dict | None = None) -> HNN:
    """Build the graph of a parsed HNN file (see :func:`load_hnn`)."""
    check_raw(raw)
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    sim = sections.get("simulation", {})
    nodes = {}
    for section in NAMED_SECTIONS:
        nodes[section] = []
        for name, table in sections.get(section, {}).items():
            where = f"[{section}.{name}]"
            try:
                node = _NODE_READERS[section](name, dict(table), where, path, networks or {})
            except HnnbioError as exc:
                message = str(exc)
                raise ModelSpecError(message if message.startswith("[")
                                     else f"{where}: {message}") from None
            nodes[section].append(node)
    experiment = sections.get("experiment", {})
    steps = sim.get("steps")
    for key in ("steps", "batch_size", "n_samples"):
        if key in sim:
            from hnnbio.hnn.nodes import check_int

            check_int("[simulation]", key, sim[key], 1)
    return HNN(name=top["name"], description=top.get("description", ""),
               dt_ms=parse_time_ms(sim.get("dt", "1 ms"), "[simulation]: dt"),
               steps=steps, batch_size=sim.get("batch_size"),
               n_samples=sim.get("n_samples", 1), inputs=nodes["inputs"],
               populations=nodes["populations"], synapses=nodes["synapses"],
               networks=nodes["networks"], units=nodes["units"],
               monitors=[dict(name=n.pop("name"), **n) for n in nodes["monitors"]],
               experiment=dict(experiment), path=path)


def _input(name, t, where, path, networks):
    return Input(name, t["size"])


def _population(name, t, where, path, networks):
    params = _values(t.pop("params", {}), f"{where}: params")
    if "model" in t:
        _check_model_params(t["model"], params, where)
    if "equations" in t:
        _check_equations(t["equations"], where)
    refractory = t.get("refractory")
    if isinstance(refractory, str) and _NUMBER_UNIT.match(refractory):
        t["refractory"] = parse_quantity(refractory, f"{where}: refractory")
    return Population(name, params=params,
                      namespace=_values(t.pop("namespace", {}), f"{where}: namespace"), **t)


def _synapse(name, t, where, path, networks):
    if "delay" in t:
        from brian2 import ms

        t["delay"] = parse_time_ms(t["delay"], f"{where}: delay") * ms
    return Synapse(name, values=_values(t.pop("values", {}), f"{where}: values"),
                   namespace=_values(t.pop("namespace", {}), f"{where}: namespace"), **t)


def _network(name, t, where, path, networks):
    sources = [k for k in ("weights", "factory") if k in t]
    if len(sources) != 1 and name not in networks:
        raise ModelSpecError(f"{where}: give exactly one of weights or factory")
    if "weights" in t and ("kwargs" in t or "state" in t):
        raise ModelSpecError(f"{where}: kwargs and state go with factory, not weights")
    if name in networks:
        module = networks[name]
    elif "weights" in t:
        from hnnbio.ann.autoencoder import autoencoder_from_file

        module = autoencoder_from_file(_beside(path, t["weights"]))
    else:
        module = _factory(t["factory"], t.get("kwargs", {}), where, init_seed(name))
        if "state" in t:
            import torch

            try:
                module.load_state_dict(torch.load(_beside(path, t["state"]), weights_only=True))
            except Exception as exc:
                raise ModelSpecError(f"{where}: state {t['state']!r} does not load "
                                     f"({type(exc).__name__})") from None
    if not isinstance(t["inputs"], list) or not all(isinstance(i, str) for i in t["inputs"]):
        raise ModelSpecError(f"{where}: inputs must be a list of node names")
    return Network(name, module.eval(), inputs=tuple(t["inputs"]), every=t.get("every", 1),
                   source=str(t.get("weights") or t.get("factory")))


def _unit(name, t, where, path, networks):
    if "keep" in t:
        if not isinstance(t["keep"], list):
            raise ModelSpecError(f"{where}: keep must be a list of probabilities")
        t["keep"] = tuple(t["keep"])
    return HybridUnit(name, **t)


def _monitor(name, t, where, path, networks):
    return dict(name=name, **t)


_NODE_READERS = {"inputs": _input, "populations": _population, "synapses": _synapse,
                 "networks": _network, "units": _unit, "monitors": _monitor}


def _beside(path: Path | None, file: str) -> Path:
    if not isinstance(file, str) or not file:
        raise ModelSpecError(f"expected a file name, got {file!r}")
    f = Path(file)
    return f if f.is_absolute() or path is None else path.parent / f


def init_seed(name: str) -> int:
    """The torch seed a factory's module is made under: from the network's name, so the same
    file gives the same initial weights whatever ran before in the process (and two networks of
    one file differ)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def _factory(spec: str, kwargs: dict, where: str, seed: int = 0):
    import torch

    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ModelSpecError(f"{where}: factory must be 'package.module:function', got {spec!r}")
    if not isinstance(kwargs, dict):
        raise ModelSpecError(f"{where}: kwargs must be a table")
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSpecError(f"{where}: factory module {module_name!r} does not import "
                             f"({exc})") from None
    if not callable(getattr(module, func, None)):
        raise ModelSpecError(f"{where}: {module_name} has no function {func!r}")
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's generator is left as it was
            torch.manual_seed(seed)
            net = getattr(module, func)(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:  # e.g. torch: a negative dimension
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelSpecError(f"{where}: factory {spec} refused kwargs ({first})") from None
    if not isinstance(net, torch.nn.Module):
        raise ModelSpecError(f"{where}: factory {spec} returned {type(net).__name__}, not a "
                             f"torch.nn.Module")
    return net


def _check_model_params(model, params: dict, where: str) -> None:
    from hnnbio.hnn.brian import named_models

    models = named_models()
    if model not in models:
        raise ModelSpecError(f"{where}: model {model!r} is not one of {', '.join(models)}")
    try:
        models[model][1](**params)
    except TypeError as exc:
        raise ModelSpecError(f"{where}: params: {exc}") from None
    except HnnbioError as exc:
        raise ModelSpecError(f"{where}: params: {exc}") from None


def _check_equations(text, where: str) -> None:
    from brian2 import Equations

    if not isinstance(text, str):
        raise ModelSpecError(f"{where}: equations must be a string")
    try:
        Equations(text)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelSpecError(f"{where}: equations do not parse ({first})") from None
