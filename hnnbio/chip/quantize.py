"""Quantisation: float IR -> integer layers with power-of-two scales, and a report of the error.

Every value ``v`` of the chip is an integer code ``q`` with a power-of-two scale:
``v = q * 2**-e``. For a dense layer with input exponent ``e_in`` (binary window: 0; sigmoid
output: 8, i.e. ``q / 256``):

.. math::

    e_{w,j} = \\lfloor \\log_2(127 / \\max_i|W_{ji}|) \\rfloor, \\quad
    W_q = \\mathrm{clamp}(\\mathrm{round}(W 2^{e_w}), -128, 127), \\quad
    b_q = \\mathrm{clamp}(\\mathrm{round}(b\\, 2^{e_{in} + e_w}), \\mathrm{int32})

with one exponent per output neuron j (per-channel scaling: a row of small weights keeps its
precision), so the int32 accumulator ``acc_j = x_q W_q + b_q`` is ``z_j * 2**(e_in + e_w,j)``.
The look-up table reads ``k = clamp(acc_j >> s_j, -128, 127)`` with a per-neuron shift
``s_j = e_in + e_w,j + log2(dz)``, i.e. ``z`` in bins of one width ``dz`` for all neurons
(sigmoid: ``dz = 1/16``, a range of +-8; relu: the smallest power of two with
``127 dz >= max z`` on sample inputs; coarser if a shift would be negative), and one table stores
``round(f((k + 1/2) dz) * 2**e_out)`` clamped to [0, 255] (sigmoid: ``e_out = 8``; relu:
``e_out = floor(log2(255 / max f))``).

The stochastic unit ``u = x c + xi > 1`` becomes ``m = x * c_q`` (``c_q = round(256 c)``, 8 bits)
and a spike when ``m > r`` with ``r`` 8 uniform random bits: probability ``m / 256``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hnnbio.chip import primitives as P
from hnnbio.chip.lower import Graph

SIGMOID_BIN_EXPONENT = -4  # dz = 1/16: the LUT covers z in [-8, 8)


@dataclass
class QLayer:
    """A quantised dense layer and its look-up table.

    weight : ndarray, shape (n_in, n_out), int8 (transposed: ``acc = x @ weight``)
    bias : ndarray, shape (n_out,), int32
    table : ndarray, shape (256,), uint8
    e_w, shift : ndarray, shape (n_out,), int (per output neuron)
    """

    name: str
    function: str
    weight: np.ndarray
    bias: np.ndarray
    table: np.ndarray
    e_in: int
    e_w: np.ndarray
    shift: np.ndarray
    e_out: int

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[1])


@dataclass
class QGraph:
    """The quantised model: the float graph's settings plus integer layers and sheet registers.

    ``keep`` holds the window's coin thresholds (:func:`window_codes`), ``nested`` its coin mode.
    """

    graph: Graph
    layers: list[QLayer]
    refractory_steps: int
    keep: list[int]
    delay_steps: int
    report: dict = field(default_factory=dict)
    nested: bool = False


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _function(name: str, gate=None):
    """The float non-linearity; ``gate = (g, a)`` composes a column's spike probability
    :func:`hnnbio.chip.rules.column_gate` after it (column-as-stochastic, output layer)."""
    f = _sigmoid if name == "sigmoid" else (lambda z: np.maximum(z, 0.0))
    if gate is None:
        return f
    from hnnbio.chip.rules import column_gate

    return lambda z: column_gate(f(z), *gate)


def quantize_layer(name: str, function: str, weight: np.ndarray, bias: np.ndarray, e_in: int,
                   z_max: float = 8.0, acc_bits: int = 32, gate=None) -> QLayer:
    """Quantise one dense layer + non-linearity (see the module docstring).

    Parameters
    ----------
    weight : ndarray, shape (n_out, n_in), float
    bias : ndarray, shape (n_out,), float
    e_in : int
        Exponent of the input codes (value = code * 2**-e_in).
    z_max : float
        Largest pre-activation to cover (relu only; sigmoid covers [-8, 8)).
    """
    w_max = np.max(np.abs(weight), axis=1) if weight.size else np.zeros(weight.shape[0])
    with np.errstate(divide="ignore"):
        e_w = np.where(w_max > 0, np.floor(np.log2(127.0 / np.where(w_max > 0, w_max, 1.0))), 0)
    e_w = e_w.astype(np.int64)  # one exponent per output neuron (per-channel scaling)
    wq = np.clip(np.rint(weight * 2.0 ** e_w[:, None]), -128, 127).astype(np.int8).T.copy()
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    bq = np.clip(np.rint(bias * 2.0 ** (e_in + e_w)), lo, hi).astype(np.int32)
    if function == "sigmoid":
        # a column gate p(sigmoid(z)) ~ g e^z is still ~g/3000 at z = -8: twice the range
        dz_exp = SIGMOID_BIN_EXPONENT + (gate is not None)
    else:
        dz_exp = int(math.ceil(math.log2(max(z_max, 1e-6) / 127.0)))
    # one bin width for all neurons (one table): no neuron's shift may be negative
    dz_exp = max(dz_exp, -(e_in + int(e_w.min()))) if e_w.size else dz_exp
    shift = e_in + e_w + dz_exp
    dz = 2.0 ** dz_exp
    k = np.arange(-128, 128)
    y = _function(function, gate)((k + 0.5) * dz)
    if function == "sigmoid":
        e_out = 8
    else:
        e_out = int(math.floor(math.log2(255.0 / max(float(y.max()), 1e-6))))
    table = np.clip(np.rint(y * 2.0 ** e_out), 0, 255).astype(np.uint8)
    label = function if gate is None else f"{function}+column_gate"  # what the table holds
    return QLayer(name, label, wq, bq, table, e_in, e_w, shift, e_out)


def forward_int(layers: list[QLayer], x: np.ndarray, acc_bits: int = 32) -> list[np.ndarray]:
    """Integer forward pass (whole layers, no tiling): the codes of every layer's output.

    x : ndarray, shape (batch, n_in), int codes of the first layer's input.
    """
    outs = []
    for layer in layers:
        acc = P.add_sat(P.matvec(x, layer.weight, acc_bits), layer.bias, acc_bits)
        x = P.lut(acc, layer.shift, layer.table)
        outs.append(x)
    return outs


def forward_float(weights: list[np.ndarray], biases: list[np.ndarray], functions: list[str],
                  x: np.ndarray, gates=None) -> list[np.ndarray]:
    """Float forward pass: every layer's output, x of shape (batch, n_in); ``gates[i]`` (or
    None) composes a column gate after layer i's function."""
    outs = []
    gates = gates or [None] * len(functions)
    for w, b, f, g in zip(weights, biases, functions, gates, strict=True):
        x = _function(f, g)(x @ w.T + b)
        outs.append(x)
    return outs


def sample_inputs(graph: Graph, n: int = 64, seed: int = 0) -> np.ndarray:
    """Binary window maps like those the loop feeds the autoencoder, shape (n, n_pixels).

    Multi-object images of the model's data set with each on-pixel kept with a probability drawn
    per image from U(0.05, 0.5) (a partial, noisy subset of pixels, as in one slot of a cycle).
    """
    from hnnbio.data.datasets import generate
    from hnnbio.errors import ParameterError

    if graph.dataset is None:
        raise ParameterError(f"samples: the graph {graph.name!r} names no [experiment] dataset "
                             f"to calibrate on; pass samples")
    images, _ = generate(graph.dataset, n, seed=seed)
    rng = np.random.default_rng(seed)
    flat = images.reshape(n, -1).astype(bool)
    p = rng.uniform(0.05, 0.5, size=(n, 1))
    return (flat & (rng.random(flat.shape) < p)).astype(np.int64)


def quantize(graph: Graph, samples: np.ndarray | None = None, acc_bits: int = 32,
             relu_percentile: float = 100.0) -> QGraph:
    """Quantise a lowered graph; ``report`` holds each layer's relative RMS output error.

    Parameters
    ----------
    graph : Graph
    samples : ndarray, shape (n, n_pixels), {0, 1}, optional
        Window maps to calibrate relu ranges and measure the error (default: :func:`sample_inputs`).
    relu_percentile : float
        Percentile of the sample pre-activations a relu table must cover (100: the maximum).

    Returns
    -------
    QGraph
        ``report[layer] = {"rel_rms_error": ..., "e_w": ..., "shift": ..., "e_out": ...}``: the
        error of the integer output (decoded) against the float output, both fed the samples
        through their own chain of earlier layers.
    """
    if samples is None:
        samples = sample_inputs(graph)
    dense = graph.of_kind("dense")
    luts = graph.of_kind("lut")
    weights = [d.arrays["weight"] for d in dense]
    biases = [d.arrays["bias"] for d in dense]
    functions = [lt.params["function"] for lt in luts]
    gates = [lt.params.get("gate") for lt in luts]
    floats = forward_float(weights, biases, functions, samples.astype(np.float64), gates)
    layers, e_in = [], 0
    x_float = samples.astype(np.float64)
    for d, f, g, y in zip(dense, functions, gates, floats, strict=True):
        z = x_float @ d.arrays["weight"].T + d.arrays["bias"]
        z_max = float(np.percentile(z, relu_percentile)) if relu_percentile < 100 else z.max()
        layer = quantize_layer(d.name, f, d.arrays["weight"], d.arrays["bias"], e_in,
                               float(z_max), acc_bits, gate=g)
        layers.append(layer)
        e_in, x_float = layer.e_out, y
    ints = forward_int(layers, samples, acc_bits)
    report = {}
    for layer, y_float, y_int in zip(layers, floats, ints, strict=True):
        decoded = y_int * 2.0 ** -layer.e_out
        rms = float(np.sqrt(np.mean(y_float ** 2)))
        err = float(np.sqrt(np.mean((decoded - y_float) ** 2))) / max(rms, 1e-12)
        report[layer.name] = {"rel_rms_error": err,
                              "e_w": [int(layer.e_w.min()), int(layer.e_w.max())],
                              "shift": [int(layer.shift.min()), int(layer.shift.max())],
                              "e_out": layer.e_out}
    sheet = graph.node("sheet")
    window = graph.node("window").params
    nested = bool(window.get("nested", False))
    return QGraph(graph=graph, layers=layers, refractory_steps=sheet.params["refractory_steps"],
                  keep=window_codes(window["keep"], nested), nested=nested,
                  delay_steps=graph.node("delay").params["delay_steps"], report=report)


def window_codes(keep, nested: bool = False) -> list[int]:
    """The window primitive's 8-bit coin thresholds (a coin ``r`` in [0, 255] passes when
    ``r < code``; 256 always passes).

    Independent coins: ``code[a] = round(256 keep[a])``, the probability that a spike of age a is
    passed on. Nested coins: the conditional probabilities of
    :func:`hnnbio.hybrid.units.nested_coins`, ``code[0] = round(256 keep[0])`` and
    ``code[a] = round(256 keep[a] / keep[a - 1])`` (0 where ``keep[a - 1] = 0``), so the
    marginal of age a is ``prod_{b <= a} code[b] / 256``. Clamped to [0, 256].
    """
    if nested:
        from hnnbio.hybrid.units import nested_coins

        keep = nested_coins(keep).tolist()
    return [int(np.clip(round(k * 256), 0, 256)) for k in keep]


def lif_registers(tau_mem_ms: float, dt_ms: float, v_threshold: float = 1.0, v_reset: float = 0.0,
                  scale_bits: int = 20, membrane_bits: int = 28) -> dict:
    """Registers of the LIF primitive for a float LIF ``tau dv/dt = i - v`` (exact integration).

    The float update ``v <- v a + i (1 - a)``, ``a = exp(-dt / tau)``, becomes
    ``v_q <- (v_q * alpha) >> 8 + i_q`` with ``alpha = round(256 a)`` and codes
    ``v_q = round(v 2**scale_bits)``. ``alpha`` has 8 bits, so the time constant the chip runs is
    ``tau_effective = -dt / ln(alpha / 256)`` (returned; equal to ``tau_mem_ms`` only when
    ``256 exp(-dt / tau)`` is an integer).

    Returns
    -------
    dict with ``alpha``, ``v_threshold``, ``v_reset`` (codes), ``scale`` (codes per unit of v),
    ``input_gain`` (``i_q = round(i * input_gain)``) and ``tau_effective_ms``.
    """
    from hnnbio.errors import ParameterError

    if not tau_mem_ms > 0 or not dt_ms > 0:
        raise ParameterError(f"tau_mem_ms, dt_ms: must be > 0, got {tau_mem_ms}, {dt_ms}")
    alpha = int(round(256 * math.exp(-dt_ms / tau_mem_ms)))
    if not 1 <= alpha <= 255:
        raise ParameterError(f"tau_mem_ms: {tau_mem_ms} ms at dt {dt_ms} ms gives alpha {alpha}, "
                             f"outside the 8-bit leak register [1, 255]")
    scale = 2 ** scale_bits
    if max(abs(v_threshold), abs(v_reset)) * scale >= 2 ** (membrane_bits - 1):
        raise ParameterError(f"scale_bits: {scale_bits} puts the threshold outside the "
                             f"{membrane_bits}-bit membrane")
    a = alpha / 256
    return {"alpha": alpha, "v_threshold": int(round(v_threshold * scale)),
            "v_reset": int(round(v_reset * scale)), "scale": scale, "input_gain": (1 - a) * scale,
            "tau_effective_ms": -dt_ms / math.log(a)}
