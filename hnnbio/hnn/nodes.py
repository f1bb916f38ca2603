"""The nodes of a hybrid neural network: what each node *is*, not how a back end runs it.

An HNN is the tuple (ANNs, SNNs, HUs, graph) of the HNN review. Its nodes:

- :class:`Input`: data entering the graph, ``size`` values per sample (constant or per step);
- :class:`Population`: Brian2 equation-level neurons, ``size`` per sample: a named model of
  :mod:`hnnbio.neurons`, the user's own equations, a circuit (a reusable sub-graph of
  :mod:`hnnbio.circuits`, resolved by the caller) or, in Python, the user's own ``NeuronGroup``
  factory;
- :class:`Synapse`: Brian2 ``Synapses`` between two populations (model and ``on_pre`` strings,
  values, delay, a connection pattern shared by all samples);
- :class:`Network`: any ``torch.nn.Module`` (given in Python, by a weights file of hnnbio's
  autoencoder, or by an import path ``package.module:factory``);
- :class:`HybridUnit`: a bridge ``Y = Q(F(H(W(X))))`` between a population and a network, in
  either direction, with a delay.

Every node is a frozen dataclass checked on construction (a wrong value raises
:class:`~hnnbio.errors.ModelSpecError` naming the node and the field); the checks that need more
than one node are in :mod:`hnnbio.hnn.graph`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hnnbio.errors import ModelSpecError

KERNELS = ("rate", "exponential", "coincidence", "learnable")
NONLINEARITIES = ("sigmoid", "relu", "tanh")
QUANTISERS = ("bernoulli", "threshold", "fixed_point")
KINDS = ("transmission", "modulation")
#: What an ANN -> SNN unit does to its target variable each step, per kind.
OPERATIONS = {"transmission": ("add", "spikes"), "modulation": ("set", "multiply", "shift")}
INITIAL = ("zeros", "ones", "soft_assignment")
CONNECT = ("one_to_one", "all_to_all")


def _fail(node: str, key: str, message: str):
    raise ModelSpecError(f"{node}: {key} {message}")


def check_int(node: str, key: str, value, low: int) -> int:
    """``value`` as an int >= ``low``; booleans, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        _fail(node, key, f"must be an integer >= {low}, got {value!r}")
    if value < low:
        _fail(node, key, f"must be >= {low}, got {value!r}")
    return int(value)


def check_number(node: str, key: str, value, low: float | None = None, strict=False) -> float:
    """``value`` as a finite float (>= or > ``low``); booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        _fail(node, key, f"must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        _fail(node, key, f"must be finite, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        _fail(node, key, f"must be {'>' if strict else '>='} {low}, got {value!r}")
    return value


def check_time(node: str, key: str, value) -> None:
    """``value`` a Brian2 time (scalar or array), finite and >= 0 (Brian2 itself takes NaN or
    negative delays silently)."""
    from brian2 import second
    from brian2.units.fundamentalunits import Quantity, have_same_dimensions

    if not isinstance(value, Quantity) or not have_same_dimensions(value, second):
        _fail(node, key, f"must be a Brian2 time such as 2 * ms, got {value!r}")
    arr = np.asarray(value)
    if not np.isfinite(arr).all() or (arr < 0).any():
        _fail(node, key, f"must be finite and >= 0, got {value!r}")


def check_finite_values(node: str, key: str, table: dict) -> None:
    """Numeric entries of ``table`` (numbers, arrays, quantities) must be finite; strings (Brian2
    expressions) and booleans pass."""
    if not isinstance(table, dict):
        _fail(node, key, f"must be a table, got {table!r}")
    for name, value in table.items():
        if isinstance(value, str):
            continue
        try:
            arr = np.asarray(value)
        except Exception:  # not array-like: left to Brian2
            continue
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            _fail(node, f"{key}.{name}", f"must be finite, got {value!r}")


def check_choice(node: str, key: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        _fail(node, key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_name(kind: str, name) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ModelSpecError(f"{kind} name {name!r} is not a valid identifier")
    return name


@dataclass(frozen=True, eq=False)
class Input:
    """Data entering the graph: ``size`` values per sample, constant or one row per step."""

    name: str
    size: int

    def __post_init__(self):
        check_name("input", self.name)
        check_int(self.name, "size", self.size, 1)


@dataclass(frozen=True, eq=False)
class Population:
    """Spiking neurons, ``size`` per sample; B samples are one Brian2 group of B * size.

    Exactly one of ``model`` (a named model of :mod:`hnnbio.neurons`: ``lif``,
    ``self_inhibiting``, ``coincidence``, ``pyramidal``, ``stochastic``), ``equations`` (the
    user's own Brian2 equations, with ``threshold``, ``reset``, ``refractory`` or
    ``refractory_steps``, ``method``), ``circuit`` (a circuit name the caller resolves) or
    ``group`` (Python only: a function ``n_neurons -> NeuronGroup``) says what the neurons are.

    Attributes
    ----------
    params : dict
        Parameters of the named model or circuit (Brian2 quantities), or initial values of the
        user's variables.
    namespace : dict
        Constants the user's equations refer to (Brian2 quantities).
    refractory_steps : int or None
        Steps a neuron stays silent after a spike (Brian2 ``refractory = (r + 1) * dt``: Brian2
        lets a neuron fire again once ``t - lastspike >= refractory``).
    dtype : dict of str to str
        Per-variable dtype, e.g. ``{"c": "float32"}``.
    input, input_variable : str or None
        The :class:`Input` node whose values are written into ``input_variable`` each step.
    drop_undriven : bool
        Build only the neurons whose input value is non-zero (valid where an undriven neuron can
        never fire); spikes are still reported by neuron index within the sample.
    record : bool
        Record the population's spikes in the result.
    """

    name: str
    size: int
    model: str | None = None
    equations: str | None = None
    threshold: str | None = None
    reset: str | None = None
    refractory: str | None = None
    refractory_steps: int | None = None
    method: str | None = None
    circuit: str | None = None
    group: Callable | None = None
    params: dict = field(default_factory=dict)
    namespace: dict = field(default_factory=dict)
    dtype: dict = field(default_factory=dict)
    input: str | None = None
    input_variable: str | None = None
    drop_undriven: bool = False
    record: bool = True

    def __post_init__(self):
        check_name("population", self.name)
        check_int(self.name, "size", self.size, 1)
        kinds = [k for k in ("model", "equations", "circuit", "group") if getattr(self, k)]
        if len(kinds) != 1:
            _fail(self.name, "model", "or equations, circuit or group: give exactly one, got "
                  f"{kinds or 'none'}")
        if self.equations is None and any(
                getattr(self, k) is not None for k in ("threshold", "reset", "refractory",
                                                       "method")):
            _fail(self.name, "threshold", "(and reset, refractory, method) go with equations")
        if self.refractory is not None and self.refractory_steps is not None:
            _fail(self.name, "refractory_steps", "and refractory: give one of them")
        if self.refractory_steps is not None:
            check_int(self.name, "refractory_steps", self.refractory_steps, 0)
        if (self.input is None) != (self.input_variable is None):
            _fail(self.name, "input", "and input_variable go together")
        if self.drop_undriven and self.input is None:
            _fail(self.name, "drop_undriven", "needs an input")
        for key in ("drop_undriven", "record"):
            if not isinstance(getattr(self, key), bool):
                _fail(self.name, key, f"must be true or false, got {getattr(self, key)!r}")
        check_finite_values(self.name, "params", self.params)
        check_finite_values(self.name, "namespace", self.namespace)
        for var, dt in self.dtype.items():
            check_choice(self.name, f"dtype.{var}", dt, ("float32", "float64"))


@dataclass(frozen=True, eq=False)
class Synapse:
    """Brian2 ``Synapses`` from ``source`` to ``target`` (populations), the same in every sample.

    ``connect``: ``"one_to_one"``, ``"all_to_all"``, ``{"p": 0.1}`` (drawn once from the seed) or
    ``{"i": [...], "j": [...]}`` (neuron indices within a sample). ``values`` sets synaptic
    variables (scalars or one value per connection). ``delay`` is a Brian2 quantity.
    """

    name: str
    source: str
    target: str
    model: str = ""
    on_pre: str | dict = ""
    on_post: str = ""
    connect: str | dict = "one_to_one"
    values: dict = field(default_factory=dict)
    delay: object = None
    method: str | None = None
    namespace: dict = field(default_factory=dict)

    def __post_init__(self):
        check_name("synapse", self.name)
        delays = self.delay.items() if isinstance(self.delay, dict) else [("", self.delay)]
        for path, delay in delays:
            if delay is not None:
                check_time(self.name, f"delay{'.' if path else ''}{path}", delay)
        check_finite_values(self.name, "values", self.values)
        if isinstance(self.connect, str):
            check_choice(self.name, "connect", self.connect, CONNECT)
        elif isinstance(self.connect, dict):
            keys = set(self.connect)
            if keys == {"p"}:
                check_number(self.name, "connect.p", self.connect["p"], 0)
                if self.connect["p"] > 1:
                    _fail(self.name, "connect.p", f"must be <= 1, got {self.connect['p']}")
            elif keys == {"i", "j"}:
                i, j = (np.asarray(self.connect[k]) for k in ("i", "j"))
                if i.ndim != 1 or i.shape != j.shape or (i.size and (  # [] is a float array
                        i.dtype.kind not in "iu" or j.dtype.kind not in "iu"
                        or min(i.min(), j.min()) < 0)):
                    _fail(self.name, "connect", "i and j must be equal-length lists of "
                          "non-negative integers")
            else:
                _fail(self.name, "connect", f"must have keys p, or i and j; got {sorted(keys)}")
        else:
            _fail(self.name, "connect", f"must be a string or a table, got {self.connect!r}")


@dataclass(frozen=True, eq=False)
class Network:
    """An artificial network: a ``torch.nn.Module`` of (batch, n_in) -> (batch, n_out).

    ``inputs`` lists the nodes it reads (SNN -> ANN units, other networks, inputs), concatenated
    along the feature axis in that order. It is called at the end of every ``every``-th step.
    """

    name: str
    module: object
    inputs: tuple = ()
    every: int = 1
    source: str = ""

    def __post_init__(self):
        check_name("network", self.name)
        import torch

        if not isinstance(self.module, torch.nn.Module):
            _fail(self.name, "module", f"must be a torch.nn.Module, got {type(self.module)}")
        check_int(self.name, "every", self.every, 1)
        if not self.inputs:
            _fail(self.name, "inputs", "must name at least one node")
        object.__setattr__(self, "inputs", tuple(self.inputs))


@dataclass(frozen=True, eq=False)
class HybridUnit:
    """A hybrid unit between a population and a network: ``Y = Q(F(H(W(X))))``.

    SNN -> ANN (``source`` a population, ``target`` a network): the spikes pass a window of
    ``window`` steps and a kernel: ``rate`` (mean), ``exponential`` (``tau_steps``), an explicit
    list of ``window`` weights (newest last), ``learnable`` (``module``: a trained
    :class:`hnnbio.hybrid.units.HybridUnit`), or ``coincidence``: the OR of the spikes of ages
    0 .. window - 1, a spike of age k kept with probability ``keep[k]``; ``nested`` coins (a
    spike kept at age k was kept at age k - 1, the reference binding code) or independent ones.
    Then F (``nonlinearity``) and Q (``quantiser``: bernoulli, threshold ``theta``,
    fixed_point ``bits``).

    ANN -> SNN (``source`` a network, ``target`` a population): F and Q on the network's output,
    a delay line of ``delay_steps`` (the value made at the end of step t applies at step
    t + delay_steps, initially ``initial``), then ``kind`` ``transmission`` (``operation``
    ``add``: ``variable += gain * y``; ``spikes``: ``variable += gain`` where a Bernoulli draw
    of y spikes) or ``modulation`` of a parameter (``set``: ``variable = gain * y``;
    ``multiply``: ``variable = base * gain * y``; ``shift``: ``variable = base - gain * y``, with
    ``base`` the variable's value when the run starts). ``record_steps`` keeps the values
    applied in the last so many steps.
    """

    name: str
    source: str
    target: str
    kind: str = "transmission"
    window: int = 1
    kernel: object = None
    tau_steps: float = 2.0
    keep: tuple = (1.0, 0.5, 0.25)
    nested: bool = False
    nonlinearity: str | None = None
    quantiser: str | None = None
    theta: float = 0.5
    bits: int = 8
    variable: str | None = None
    operation: str | None = None
    gain: float = 1.0
    delay_steps: int = 1
    initial: object = "zeros"
    record_steps: int = 0
    module: object = None

    def __post_init__(self):
        n = check_name("unit", self.name)
        check_choice(n, "kind", self.kind, KINDS)
        check_int(n, "window", self.window, 1)
        if isinstance(self.kernel, str):
            check_choice(n, "kernel", self.kernel, KERNELS)
        elif self.kernel is not None:
            k = np.asarray(self.kernel)
            if k.shape != (self.window,) or k.dtype.kind not in "iuf" or not np.isfinite(k).all():
                _fail(n, "kernel", f"must be {self.window} finite numbers (one per window step)")
            # a tuple of floats, so that ``kernel == "rate"`` never compares an array elementwise
            object.__setattr__(self, "kernel", tuple(float(v) for v in k))
        check_number(n, "tau_steps", self.tau_steps, 0, strict=True)
        keep = np.asarray(self.keep)
        if keep.ndim != 1 or keep.dtype.kind not in "iuf" or keep.size < 1 \
                or not np.all((keep >= 0) & (keep <= 1)):
            _fail(n, "keep", f"must be a list of probabilities in [0, 1], got {self.keep!r}")
        object.__setattr__(self, "keep", tuple(float(v) for v in keep))
        if self.kernel == "coincidence" and len(self.keep) != self.window:
            _fail(n, "keep", f"needs one probability per window step ({self.window})")
        if not isinstance(self.nested, bool):
            _fail(n, "nested", f"must be true or false, got {self.nested!r}")
        if self.nested and self.kernel == "coincidence" and np.any(np.diff(keep) > 0):
            _fail(n, "keep", "must be non-increasing with nested coins")
        if self.nonlinearity is not None:
            check_choice(n, "nonlinearity", self.nonlinearity, NONLINEARITIES)
        if self.quantiser is not None:
            check_choice(n, "quantiser", self.quantiser, QUANTISERS)
        check_number(n, "theta", self.theta)
        check_int(n, "bits", self.bits, 1)
        check_number(n, "gain", self.gain)
        check_int(n, "delay_steps", self.delay_steps, 0)
        check_int(n, "record_steps", self.record_steps, 0)
        if isinstance(self.initial, str):
            check_choice(n, "initial", self.initial, INITIAL)
        else:
            check_number(n, "initial", self.initial)
        if self.kernel == "learnable" and self.module is None:
            _fail(n, "module", "is needed by kernel = 'learnable' (a trained HybridUnit)")

    def check_direction(self, direction: str) -> None:
        """Checks that depend on the direction, which the graph knows from the end nodes."""
        n = self.name
        if direction == "snn_to_ann":
            if self.kind != "transmission":
                _fail(n, "kind", "of an SNN -> ANN unit must be transmission")
            for key in ("variable", "operation"):
                if getattr(self, key) is not None:
                    _fail(n, key, "belongs to ANN -> SNN units (the target is a network)")
        else:
            if self.variable is None:
                _fail(n, "variable", "is needed: the target population's variable to write")
            if self.operation is None:
                object.__setattr__(self, "operation", OPERATIONS[self.kind][0])
            check_choice(n, "operation", self.operation, OPERATIONS[self.kind])
            if self.kernel is not None or self.window != 1:
                _fail(n, "kernel", "(and window) belong to SNN -> ANN units")
