"""Lowering: a binding model spec -> a small graph of chip-level nodes (the compiler's IR).

The binding loop of a model spec (hnnbio/binding/spec.py, reference sheet) becomes a ring of nodes,
run once per time step in this order::

    modulation -> stochastic_unit -> window -> dense_1 -> lut_1 -> ... -> dense_L -> lut_L -> delay
        ^                                                                                   |
        +-------------------- attention c_t (the delay's output, D steps later) ------------+

- ``modulation``: ``m = x * c_t`` (Hadamard product of the binary image and the attention);
- ``stochastic_unit``: spike when not refractory and ``m + xi > 1``, ``xi ~ U(0, 1)``; then silent
  for ``refractory_steps`` steps;
- ``window``: the coincidence window, a spike of age ``k`` is passed on with probability
  ``keep[k]``;
- ``dense_i``: ``z = W_i h + b_i`` (``W_i`` of shape (n_out, n_in) as in ``nn.Linear``);
- ``lut_i``: ``h = f_i(z)``, ``f_i`` in {sigmoid, relu} (sigmoid for the output layer);
- ``delay``: a ring of D = steps_per_cycle slots; the output of step t is the attention of
  step t + D.

Weights are read from the spec's weights file (``torch.load(weights_only=True)``, keys ``layers``,
``hidden``, ``state_dict`` with ``linears.{i}.weight`` and ``linears.{i}.bias``, possibly float16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hnnbio.errors import ModelSpecError, WeightsError

KINDS = ("modulation", "stochastic_unit", "window", "dense", "lut", "delay")
FUNCTIONS = ("sigmoid", "relu")


@dataclass
class Node:
    """One node of the IR: a name, a kind, sizes, scalar parameters and float arrays."""

    name: str
    kind: str
    n_in: int
    n_out: int
    params: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ModelSpecError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")

    def __repr__(self) -> str:
        return f"Node({self.name}: {self.kind} {self.n_in}->{self.n_out}, {self.params})"


@dataclass
class Graph:
    """The lowered model: nodes in step order plus the loop's settings."""

    name: str
    dataset: str
    image_shape: tuple[int, int]
    steps_per_cycle: int
    cycles: int
    readout_cycles: int
    dt_ms: float
    nodes: list[Node]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]


def read_state_dict(path: str | Path) -> dict:
    """Read an autoencoder weights file into ``{"layers", "hidden", "weights", "biases"}``.

    Weights come back as float64 arrays of shape (n_out, n_in); WeightsError if the file is missing,
    corrupt or lacks a key.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found; train it with `hnnbio train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: corrupt weights file ({type(exc).__name__})") from None
    required = ("layers", "hidden", "state_dict")
    if not isinstance(payload, dict) or not all(k in payload for k in required):
        raise WeightsError(f"{path}: weights file lacks one of 'layers', 'hidden', 'state_dict'")
    layers = [int(n) for n in payload["layers"]]
    state = payload["state_dict"]
    weights, biases = [], []
    for i in range(len(layers) - 1):
        try:
            w = state[f"linears.{i}.weight"].to(torch.float64).numpy()
            b = state[f"linears.{i}.bias"].to(torch.float64).numpy()
        except KeyError as exc:
            raise WeightsError(f"{path}: state dict lacks {exc.args[0]!r}") from None
        if w.shape != (layers[i + 1], layers[i]) or b.shape != (layers[i + 1],):
            raise WeightsError(f"{path}: linears.{i} has shape {tuple(w.shape)}, expected "
                               f"({layers[i + 1]}, {layers[i]})")
        weights.append(w)
        biases.append(b)
    return {"layers": layers, "hidden": list(payload["hidden"]), "weights": weights,
            "biases": biases}


def lower(spec, weights: dict | str | Path | None = None) -> Graph:
    """Lower a binding model spec to the IR.

    Parameters
    ----------
    spec : ModelSpec or str or Path
        A model spec (name, path or object); only the ``reference`` sheet can be exported.
    weights : dict or path, optional
        A dict as returned by :func:`read_state_dict`, or a weights file; default: the spec's file.

    Returns
    -------
    Graph
    """
    from hnnbio.binding.spec import load_spec

    spec = load_spec(spec)
    if spec.sheet != "reference":
        raise ModelSpecError(f"sheet: only the 'reference' sheet can be exported, got "
                             f"{spec.sheet!r}")
    if spec.top_down["target"] != "drive":
        raise ModelSpecError(f"top_down.target: only 'drive' (modulation of the input) can be "
                             f"exported, got {spec.top_down['target']!r}")
    if weights is None or isinstance(weights, (str, Path)):
        weights = read_state_dict(weights or spec.weights_path)
    layers, hidden = list(spec.autoencoder["layers"]), list(spec.autoencoder["hidden"])
    if weights["layers"] != layers or list(weights["hidden"]) != hidden:
        raise WeightsError(f"weights: architecture {weights['layers']} {weights['hidden']} does "
                           f"not "
                           f"match the spec's {layers} {hidden}")
    n = layers[0]
    side = int(math.isqrt(n))
    if side * side != n:
        raise ModelSpecError(f"autoencoder.layers: first layer {n} is not a square image")
    keep = [float(k) for k in spec.bottom_up["keep"]]
    nodes = [
        Node("modulation", "modulation", n, n),
        Node("sheet", "stochastic_unit", n, n,
             params={"refractory_steps": int(spec.sheet_params["refractory_steps"])}),
        Node("window", "window", n, n, params={"keep": keep}),
    ]
    functions = hidden + ["sigmoid"]
    for i, (w, b) in enumerate(zip(weights["weights"], weights["biases"], strict=True)):
        nodes.append(Node(f"dense_{i + 1}", "dense", w.shape[1], w.shape[0],
                          arrays={"weight": np.asarray(w, dtype=np.float64),
                                  "bias": np.asarray(b, dtype=np.float64)}))
        if functions[i] not in FUNCTIONS:
            raise ModelSpecError(f"autoencoder.hidden: {functions[i]!r} is not one of "
                                 f"{', '.join(FUNCTIONS)}")
        nodes.append(Node(f"lut_{i + 1}", "lut", w.shape[0], w.shape[0],
                          params={"function": functions[i]}))
    nodes.append(Node("delay", "delay", n, n, params={"delay_steps": spec.delay_steps}))
    return Graph(name=spec.name, dataset=spec.dataset, image_shape=(side, side),
                 steps_per_cycle=spec.steps_per_cycle, cycles=int(spec.loop["cycles"]),
                 readout_cycles=int(spec.loop["readout_cycles"]), dt_ms=float(spec.loop["dt_ms"]),
                 nodes=nodes)
