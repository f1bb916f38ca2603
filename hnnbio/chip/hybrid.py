r"""Compile non-binding hybrid graphs (SNN + rate window + torch MLP + modulation) to ISA v2.

What compiles (anything else is refused by a named rule of :mod:`hnnbio.chip.snn_rules`):

- populations of one of three equation forms, ``threshold = "v > TH"``, ``reset = "v = VR"``
  (names of the namespace or params), no refractoriness. ``tau``, ``TH`` and the drive's
  factors may differ between neurons (params declared ``NAME : second (constant)`` or
  ``NAME : volt (constant)``): the lif op then takes per-neuron ``alpha`` and ``v_threshold``
  arrays where a core's neurons differ, and a driven population's LSB is per neuron; the reset
  and the initial ``v`` stay one code per population (rule ``heterogeneous_parameters``: with
  per-neuron LSBs they must be 0):
  *driven* ``dv/dt = (K * X [* M] - v) / tau : volt`` (``X`` the input variable, values in
  [0, 1]; ``M`` a variable that a modulation unit multiplies, or a constant);
  *leaky* ``dv/dt = -v / tau : volt`` (reset 0 V); *integrator* ``v : volt`` (no threshold,
  initial ``v`` per neuron: the readout);
- synapses ``v_post += w * mV`` (or ``* volt``) onto leaky or integrator populations, with a
  delay (uniform, or per connection: one group of axons per distinct delay); ``v_post += w *
  M_post * mV`` with ``M`` a constant of the target, or (gated jumps) the variable ``M : 1`` of
  a leaky target that a modulation unit multiplies (then every synapse onto it is gated);
- SNN -> ANN units with ``kernel = "rate"`` (or none: the sum) over ``window`` steps, read by a
  torch network whose leaf modules are ``Linear [ReLU|Sigmoid]`` repeated (checked against the
  module's own forward on random inputs); or a network reading one graph input (values in
  [0, 1], held), which runs before the SNN in each step;
- ANN -> SNN units ``kind = "modulation"``, ``operation = "multiply"``, sigmoid (the unit's or
  the network's last module), ``delay_steps`` 1 .. ``delay_slots`` (0 .. ``delay_slots`` from a
  network that reads graph inputs only), initial a constant in [0, 1]; gated jumps only from a
  network that reads graph inputs only.

- outputs: ANN -> SNN units ``operation = "set"`` onto a *passive* population (declarations
  only, ``b : 1``: no dynamics, no threshold, no synapses) are the network's value read by the
  host, an output port (no chip state): the last layer's ``acc`` when it is linear (decoded
  ``acc 2**-(e_in + e_w_j)``, times the unit's gain), else its ``y`` (``y 2**-e_out``); the host
  applies the value made at step t at t + ``delay_steps`` and ``initial`` before
  (:func:`_applied`, the engine's delay line). ``set`` onto anything else is refused by name;
- per-step graph inputs (``sequences``: (B, T, n)): ``steps`` input ports written at the start
  of each of the first T steps (the engine writes step t's values before step t); without a
  modulation a driven population's input code has 8 bits (X up to 255/16, e.g. event counts);
- ``every = k`` on a network that reads a graph input: the chip computes it every step on its
  input latched by the host at the steps ``k floor(t / k)``, which is the engine's call at the
  multiples of k with its output held between (same values, bit for bit on the chip); refused
  (rule ``network_layers``) on a network fed by a window unit;
- a first layer of a network reading a graph input beyond a core's axons: partial-sum tiles
  (slices of the input port, int32 partial sums with delay 0 to the layer's core, exact: no
  tile sum of 8-bit codes and int8 weights reaches 2**23);
- concatenation: a network whose inputs are one window unit (first) and networks that read
  graph inputs only (compiled first, their value of step t ready before the SNN's phases) reads
  their 8-bit output codes ``c`` as bit planes: 8 copies of the provider's last layer, copy b
  with the table ``(table >> b) & 1``, send bit b of every output to a tile of 0/1 axons
  (bit-major, ``b n_p + j``) whose int8 weights are ``W 2**(b - e_out)`` on the window layer's
  per-neuron scale (:func:`_bit_planes`; a code scale ``W 2**-e_out`` would round the
  provider's weights to a few levels). A linear provider's codes use a ReLU table (values below
  0 clip to 0; its own set output reads ``acc``, unclipped).

Integer form and step order (Brian2: state update, thresholds, synapses, resets, units):

- input codes ``x = round(16 X)``; the modulation value is ``a = round(255 sigmoid(z))`` from a
  LUT; a driven core computes ``m = (x a) >> 4`` (hadamard, so ``m ~ 255 X sigmoid``, 0..255;
  without M, ``m = x``), then ``drive = g m`` (a diagonal int8 matvec, ``g = 127``; with M the
  LIF's ``v_leak = g // 2`` centres the floor of m) and a LIF of
  ``alpha = round(256 exp(-dt / tau))`` whose LSB is ``(1 - alpha/256) K' / (S g)``
  (``S = 255`` or 16, ``K'`` = K times the unit's base and gain);
- a leaky population takes the jumps of step n at step n + 1 after its leak (send delay d + 1,
  weight ``round(a_q J / LSB)``, split into int8 parts over spare axons as in
  :mod:`hnnbio.chip.snn`); a refractory count of 1 drops, at step n + 1, the jumps that arrived in
  the step n it fired, as Brian2's reset after the synapses does (exact because it resets to 0);
- an integrator accumulates ``tot += W s`` in the step of the spikes and reads out
  ``tot + round(v0 / LSB)``;
- the window: spikes go with delays 0 .. w-1 to tile cores (one per delay and source core), each
  ``matvec`` with the first layer's int8 weights (``W / w`` for the rate kernel, per-neuron
  exponents as :func:`hnnbio.chip.quantize.quantize_layer`), partial sums summed with the bias
  by the reducing core, then a LUT (ReLU bins of one width covering the worst case
  ``max_j b_j + sum_i max(W_ji, 0) x_max``; sigmoid bins 1/16 over [-8, 8)); further layers one
  core each; the last sends ``a`` to the driven cores' ``att`` with ``delay = delay_steps``; the
  host writes the initial value into it for the first ``delay_steps`` steps (a ``steps`` port).

- gated jumps: a core of a gated population holds ``n = axons // fan_in`` neurons, each with its
  own copy of the presynaptic spikes (``pre``, copy j at ``j * fan_in``) and of its gate code
  (``att``: the network's last layer is emitted once per such core, its rows repeated in that
  layout); ``m = hadamard(pre, att)`` (exact: spikes are 0/1), then a block-diagonal matvec
  gives ``a_j sum_i W_ij s_i``, so the membrane LSB is the weight LSB / 255;
- a network reading a graph input: codes ``round(128 X)`` (8 bits) into its first layer's core;
  layer k runs ``matvec`` in phase 2k and ``accumulate + lut + send`` in 2k + 1; all other
  phases below follow (shifted by twice the deepest such network's layers), so a delay-0 send
  of its last layer reaches the SNN's phase 0 in the same step (Brian2: the value for step t
  computed from the input of step t).

Phases (after that shift): 0 hadamard, partial-sum matvecs of leaky targets; 1 drive matvec /
synaptic matvec (or partial-sum accumulate) + lif + sends; 2 integrator and partial-sum matvecs,
tile matvecs; 3 integrator sum, reducer accumulate + lut + send; then 2 phases per further layer.

Fan-in beyond a core (partial sums). A leaky or integrator population whose axons (fan-in times
the int8 parts per weight) exceed ``axons_per_core`` gets them cut, in order, into blocks of at
most ``axons_per_core`` (slices of the source cores' spikes): block 0 stays on the population's
core; each further block k goes, per target core, to a partial-sum core of its own, which holds
the block's int8 rows, receives the block's spikes by the same routes (same delays), runs
``matvec`` in the phase the target would (0 for a leaky target, 2 for an integrator) and sends the
partial sums with delay 0 as signed ``b_k``-bit values to the buffer ``p_k`` of the target core;
in the next phase the target's ``accumulate`` adds its own matvec and ``p_1, p_2, ...`` (leaky:
the LIF's input; integrator: ``tot = tot + syn + p_1 + ...``). Bit widths and exactness: spikes
are 0/1 and weight parts int8, so ``|p_kj| <= S_kj = sum_{i in block k} |w_ij| <= 127 * 256 <
2**15``; ``b_k = max_j S_kj .bit_length() + 1 <= 16`` bits hold every value, so the send's clamp is
the identity. The int32 accumulate saturates after each add, but every prefix of the sum is
bounded by ``S_j = sum_k S_kj`` (leaky) or, for an integrator after t steps, by ``t S_j`` (plus
``|v0|`` codes for the readout ``v``); so nothing saturates while ``S_j <= 2**31 - 1`` (leaky;
otherwise refused, rule ``fan_in``) and ``T max_j S_j + max |v0| <= 2**31 - 1`` (integrator over
T steps: refused at compile time for the graph's steps, rule ``fan_in`` naming the bound, and by
:func:`run_hybrid` for longer runs). Then the sum is the exact integer ``sum_i w_ij s_i``, which
is what one core holding all the axons would compute (its matvec does not saturate either), so
the results are identical to that core's (tests/chip/test_fan_in.py). A leaky population also
gets more int8 parts per weight than one core's axons hold (up to 16, see :func:`_copies`) when
its threshold would otherwise be under ``MEMBRANE_CODES`` codes: the leak's floor loses up to
one code per step, a bias that a coarse membrane turns into missing spikes (the attention
model's hidden layer, 40 evaluation images: 144 codes, 14 % fewer spikes than Brian2; with 16
parts 575 codes, 1 % more).
Gated populations and a network's layers after the first still need their fan-in within a core.

ReLU ranges. Without calibration a ReLU layer's LUT covers the worst case over all inputs (every
window count at its maximum): for 2048 hidden rates that is bins of width 2 where the
pre-activations seen lie below 6. With calibration samples (:func:`calibration_samples`, e.g.
the chip's own window rates on training images, :func:`classification_calibration`) the LUT
covers their largest pre-activation (at most a power of two above it); larger values saturate.

Quantisation bound (per-neuron spike counts; tests/chip/test_hybrid_compile.py). For a driven
population the errors per step, in membrane codes, are: the input code's rounding (none for
inputs in sixteenths, as the digits' grey levels), the floor of ``m`` centred by ``v_leak`` and the
rounding of ``a`` (together less than ``g`` codes, i.e. 1/255 of the full drive), one code of the
leak's floor, and the leak ``alpha / 256`` instead of ``exp(-dt / tau)``. Under a held input and a
constant modulation value both the chip's and Brian2's membranes (from the reset 0) lie between
``L' = max(0, a_lo L + b - e)`` and ``H' = a_hi H + b + e``; so every interval lies between their
first threshold crossings ``n_lo, n_hi`` and each neuron's count over T steps, on either back
end, in ``[floor(T / n_hi), floor(T / n_lo)]`` (:func:`driven_count_bounds`; the network's
LUT error, which sets the modulation value, is separate). Leaky and integrator populations are
exact up to the weight rounding (half an LSB per weight; ``rel_rms_error`` in the manifest's
quantisation rows is the largest weight error relative to the largest weight) and the spikes
they receive.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from hnnbio.chip import snn_rules as R
from hnnbio.chip.isa import CoreProgram, Instruction, routes_of
from hnnbio.chip.partial import axon_blocks, partial_bits, partial_sum_ops, route_block
from hnnbio.chip.program import Program
from hnnbio.chip.quantize import quantize_layer
from hnnbio.chip.snn import MAX_COPIES, _b, _register, _split, _summary, alpha_codes, leak_codes
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import DataError, DesignRuleError, ParameterError

INPUT_SCALE = 16  # input codes round(16 X), 5 bits
NET_INPUT_EXP = 7  # a network's graph input: codes round(128 X), 8 bits (exponent 7)
ATT_SCALE = 255  # modulation codes round(255 sigmoid)
HADAMARD_SHIFT = 4
MEMBRANE_CODES = 512  # a leaky population's threshold in membrane codes, at least (see _copies)
DRIVE_GAIN = 127
JUMPS = {"v_post+=w*mV": 1e-3, "v_post+=w*volt": 1.0}
_DRIVEN = re.compile(r"dv/dt=\((\w+)\*(\w+)(?:\*(\w+))?-v\)/(\w+):volt\Z")
_LEAKY = re.compile(r"dv/dt=-v/(\w+):volt\Z")
_DECL = re.compile(r"(\w+):1(?:\(constant\))?\Z")
#: a per-neuron parameter with the unit of a time constant or a voltage (tau, threshold, gain)
_PARAM_DECL = re.compile(r"(\w+):(second|volt)(?:\(constant\))?\Z")
_GATED = re.compile(r"v_post\+=w\*(\w+)_post\*(mV|volt)\Z")  # a jump times a target variable


@dataclass
class HPop:
    """A lowered population."""

    name: str
    size: int
    form: str  # driven, leaky, integrator
    tau: float = 0.0
    k: float = 0.0  # driven: volt per unit of X (times base and gain of M)
    input: str | None = None
    mod: str | None = None  # the modulation unit multiplying the drive
    threshold: float = 0.0
    reset: float = 0.0
    init: np.ndarray | None = None
    alpha: int = 256
    lsb: float = 1.0
    codes: dict = field(default_factory=dict)
    incoming: list = field(default_factory=list)  # (source, chip delay, W volt (n_src, n))
    copies: int = 1
    refractory: int = 0
    cores: list = field(default_factory=list)
    gated: bool = False  # leaky: a modulation unit multiplies every jump it receives
    mod_var: str | None = None  # the variable that unit writes
    factors: dict = field(default_factory=dict)  # declared constants (name -> value)
    per_core: int = 0  # gated: neurons per core (each has its own copy of the axons)
    wlsb: float = 1.0  # volt per weight code (the membrane LSB, or ATT_SCALE of it when gated)
    partial_cores: list = field(default_factory=list)  # fan-in beyond a core: partial-sum cores
    max_steps: int | None = None  # split integrator: steps its running sum stays exact


@dataclass
class Layer:
    name: str
    function: str
    q: object  # QLayer
    weight: np.ndarray  # float (n_out, n_in), as quantised
    cores: list = field(default_factory=list)


@dataclass
class HybridCompiled:
    """A program and what the host needs: input gains, populations, the modulation's initial."""

    program: Program
    pops: dict
    layers: dict  # network -> [Layer]
    windows: dict  # unit -> (source population, network, length)
    mods: dict  # unit -> (network, target population, delay, initial code)
    dt_ms: float
    feeds: dict = field(default_factory=dict)  # network -> (graph input, size) it reads
    kernels: dict = field(default_factory=dict)  # window unit -> its kernel (rate or None: sum)
    # set unit -> (network, passive target, delay, initial, decode scale (n,), buffer read)
    outs: dict = field(default_factory=dict)
    every: dict = field(default_factory=dict)  # graph-input network -> every
    sequences: dict = field(default_factory=dict)  # per-step graph input -> T

    def encode(self, inputs: dict) -> dict:
        """Input values -> port codes: ``round(16 X)`` for a population (X in [0, 1] under a
        modulation, else [0, 255/16]), ``round(128 X)`` for a network (X in [0, 1]); the
        modulations' initial rows (delay >= 1). A per-step input (``sequences``) is (B, T, n);
        a network with ``every = k`` gets the values of steps ``k floor(t / k)``."""
        out, batch = {}, None

        def values_of(name, size, top=1.0):
            values = np.asarray(inputs[name], dtype=float)
            shape = f"(B, {size})"
            ndim = 2
            if name in self.sequences:
                shape, ndim = f"(B, {self.sequences[name]}, {size})", 3
            if values.ndim != ndim or values.shape[-1] != size or (
                    ndim == 3 and values.shape[1] != self.sequences[name]):
                raise DataError(f"inputs: {name!r} must have shape {shape}, got "
                                f"{values.shape}")
            if not np.isfinite(values).all() or values.min(initial=0) < 0 or \
                    values.max(initial=0) > top:
                raise DataError(f"inputs: {name!r} must be {shape} values in [0, {top:g}] "
                                "(the range of the chip's input codes)")
            if batch is not None and values.shape[0] != batch:
                raise DataError(f"inputs: {name!r} has {values.shape[0]} rows, the other "
                                f"inputs {batch}")
            return values

        for pop in self.pops.values():
            if pop.input is None:
                continue
            values = values_of(pop.input, pop.size, 1.0 if pop.mod else 255 / INPUT_SCALE)
            out[f"{pop.input}.{pop.name}"] = np.rint(values * INPUT_SCALE).astype(np.int64)
            batch = values.shape[0]
        for net, (name, size) in self.feeds.items():
            values = values_of(name, size)
            k = self.every.get(net, 1)
            if values.ndim == 3 and k > 1:  # latched at the steps that are multiples of k
                values = values[:, (np.arange(values.shape[1]) // k) * k]
            out[f"{name}.{net}"] = np.rint(values * 2 ** NET_INPUT_EXP).astype(np.int64)
            batch = values.shape[0]
        for unit, (_, target, delay, code) in self.mods.items():
            if not delay:
                continue  # the network's value of the same step
            size = self.pops[target].size
            out[f"{unit}.initial"] = np.full((batch or 1, delay, size), code, dtype=np.int64)
        return out

    def decode_readout(self, name: str, codes: np.ndarray) -> np.ndarray:
        """An integrator's codes -> volt."""
        return codes * self.pops[name].lsb


def _lines(text: str) -> list[str]:
    return [ln for ln in ("".join(x.split("#", 1)[0].split()) for x in text.splitlines()) if ln]


def _value(p, name: str, node: str):
    if name in p.params:
        v = p.params[name]
    elif name in p.namespace:
        v = p.namespace[name]
    else:
        R.refuse("hybrid_population", node, f"{name!r} is neither a parameter nor in the "
                 "namespace")
    arr = np.asarray(v, dtype=float)
    return arr


def _scalar(p, name: str, node: str) -> float:
    arr = _value(p, name, node)
    if arr.size != 1 and np.ptp(arr) > 0:
        R.refuse("heterogeneous_parameters", node, f"{name} differs between neurons")
    return float(arr.reshape(-1)[0])


def _param(p, name: str, node: str):
    """A parameter that may differ between neurons (tau, threshold, gain): a float where the
    neurons agree, else an (n,) array (a copy: the graph's own values are never changed)."""
    value = _uniform(_value(p, name, node))
    if np.ndim(value) and value.size != p.size:
        R.refuse("hybrid_population", node, f"{name} has {value.size} values for {p.size} "
                 "neurons")
    return value.copy() if np.ndim(value) else value


def _uniform(values):
    """A float where every element agrees (the register case), else the array."""
    arr = np.asarray(values, dtype=float).reshape(-1)
    return float(arr[0]) if arr.size == 1 or np.ptp(arr) == 0 else arr


def _population(p, graph) -> HPop:
    if p.model or p.circuit or not p.equations or p.refractory:
        R.refuse("hybrid_population", p.name, "only the driven, leaky and integrator equation "
                 "forms (no model, circuit or refractoriness) compile in hybrid graphs")
    lines = _lines(p.equations)
    mods = {u.variable: u for u in graph.units if u.target == p.name}
    pop = HPop(p.name, p.size, "")
    decls = []
    for ln in lines:
        m_d, m_l, m_c = _DRIVEN.match(ln), _LEAKY.match(ln), _DECL.match(ln)
        if m_d and not pop.form:
            pop.form = "driven"
            k, *factors, tau = m_d.groups()
            factors = [f for f in factors if f]
            if p.input is None or p.input_variable not in factors:
                R.refuse("hybrid_population", p.name, "a driven population's drive must "
                         "multiply the variable its input writes")
            pop.input = p.input
            pop.tau = _param(p, tau, p.name)
            gain = _param(p, k, p.name)
            for f in factors:
                if f == p.input_variable:
                    continue
                if f in mods:
                    pop.mod = mods[f].name
                    gain = gain * _param(p, f, p.name) * mods[f].gain  # base * gain
                else:
                    gain = gain * _param(p, f, p.name)
            pop.k = _uniform(gain)
        elif m_l and not pop.form:
            pop.form, pop.tau = "leaky", _param(p, m_l.group(1), p.name)
        elif ln == "v:volt" and not pop.form:
            pop.form = "integrator"
        elif m_c:
            decls.append(m_c.group(1))
        elif _PARAM_DECL.match(ln):
            pass  # its values (params) are read where the equations use it
        else:
            R.refuse("hybrid_population", p.name, f"equation {ln!r} is not of the driven, leaky "
                     "or integrator form")
    if not pop.form:
        if not decls or p.threshold or p.reset or p.input is not None:
            R.refuse("hybrid_population", p.name, "no equation for v")
        # passive: declarations only, written by ANN -> SNN units with operation set (outputs)
        pop.form, pop.factors = "passive", {name: 0.0 for name in decls}
        for name, unit in mods.items():
            if unit.operation != "set" or name not in decls:
                R.refuse("modulation_unit", unit.name, f"operation {unit.operation!r} onto "
                         f"{name!r} of the passive population {p.name}: a passive population "
                         "(declarations only) is written by operation set onto a declared "
                         "variable")
        return pop
    for name in decls:
        if name in p.params or name in p.namespace:
            pop.factors[name] = _scalar(p, name, p.name)
    for name, unit in mods.items():
        if unit.operation == "set":
            R.refuse("modulation_unit", unit.name, f"operation 'set' onto {p.name}: set writes "
                     "only passive populations (declarations, no dynamics: the network's "
                     "output read by the host)")
        if pop.form == "leaky" and name in decls and pop.mod is None:
            # gated jumps: v_post += w * name_post; the unit writes base * gain * y into name
            pop.mod, pop.mod_var, pop.gated = unit.name, name, True
            pop.k = pop.factors.get(name, 0.0) * unit.gain
            continue
        if unit.name != pop.mod:
            R.refuse("modulation_unit", unit.name, f"variable {name!r} is not a factor of "
                     f"{p.name}'s drive")
    init = np.broadcast_to(_value(p, "v", p.name) if "v" in p.params else np.zeros(1),
                           (p.size,)).astype(float)
    if pop.form == "integrator":
        if p.threshold or p.reset:
            R.refuse("hybrid_population", p.name, "an integrator (v : volt) has no threshold")
        pop.init = init
        return pop
    th = (p.threshold or "").replace(" ", "")
    rs = (p.reset or "").replace(" ", "")
    if not th.startswith("v>") or not rs.startswith("v="):
        R.refuse("hybrid_population", p.name, "threshold must be v > NAME, reset v = NAME")
    pop.threshold = _param(p, th[2:], p.name)
    pop.reset = _scalar(p, rs[2:], p.name)
    if np.ptp(init) > 0:
        R.refuse("heterogeneous_parameters", p.name, "initial v differs between neurons")
    pop.init = init
    if pop.form == "leaky" and pop.reset != 0:
        R.refuse("hybrid_population", p.name, "a leaky population must reset to 0 V")
    return pop


def _synapse(s, pops, dt_s, chip) -> None:
    from hnnbio.hnn.brian import local_pattern

    statement = "".join((s.on_pre if isinstance(s.on_pre, str) else "?").split())
    gated = _GATED.match(statement)
    if s.on_post or (statement not in JUMPS and gated is None):
        R.refuse("synapse_form", s.name, f"on_pre {s.on_pre!r} is not v_post += w * mV "
                 "(or * volt, or w * NAME_post * mV)")
    if s.source not in pops or s.target not in pops:
        R.refuse("synapse_form", s.name, "connects nodes other than populations")
    src, tgt = pops[s.source], pops[s.target]
    if "passive" in (src.form, tgt.form):
        R.refuse("synapse_form", s.name, "a passive population (declarations only) has no v "
                 "and no spikes")
    factor = 1.0
    if gated is not None:
        name, unit = gated.groups()
        statement = f"v_post+=w*{unit}"
        if tgt.gated and name == tgt.mod_var:
            factor = tgt.k  # base * gain; the gate (0..1) multiplies on the chip
        elif name in tgt.factors:
            factor = tgt.factors[name]  # a constant of the target
        else:
            R.refuse("synapse_form", s.name, f"{name}_post is neither a constant of "
                     f"{tgt.name} nor the variable its modulation unit writes")
    elif tgt.gated:
        R.refuse("synapse_form", s.name, f"every jump onto {tgt.name} must be gated by "
                 f"{tgt.mod_var} (v_post += w * {tgt.mod_var}_post * mV)")
    if src.form == "integrator" or tgt.form == "driven":
        R.refuse("synapse_form", s.name, "synapses go from spiking to leaky or integrator "
                 "populations")
    if isinstance(s.connect, dict) and "p" in s.connect:
        R.refuse("random_connectivity", s.name, "connect = {p} (give i and j)")
    i, j = local_pattern(s, src.size, tgt.size, None)
    w = np.asarray(s.values.get("w", 0.0), dtype=float)
    w = np.broadcast_to(w, i.shape) * JUMPS[statement] * factor
    if "delay" in s.values:  # per connection: one group of axons per distinct delay
        delay = np.broadcast_to(np.asarray(s.values["delay"], dtype=float), i.shape)
    else:
        delay = np.full(i.shape, 0.0 if s.delay is None else float(s.delay))
    steps = {float(d): R.check_delay(s.name, float(d) / dt_s, chip) for d in np.unique(delay)}
    chip_delay = np.array([steps[float(d)] for d in delay], dtype=int)
    for d in np.unique(chip_delay):
        m = chip_delay == d
        W = np.zeros((src.size, tgt.size))
        np.add.at(W, (i[m], j[m]), w[m])
        # leaky: the jump leaks once before it counts (delay d + 1); integrator: in the step
        tgt.incoming.append((src.name, int(d) if tgt.form == "leaky" else int(d) - 1, W))


def _quantise_pop(pop: HPop, dt_s: float, chip, tolerance: float) -> None:
    if pop.form != "integrator":
        alpha, _ = leak_codes(pop.name, pop.tau, dt_s, tolerance)
        pop.alpha = int(alpha[0]) if np.all(alpha == alpha[0]) else alpha
    aq = pop.alpha / 256
    if pop.form == "driven":
        scale = ATT_SCALE if pop.mod else INPUT_SCALE
        # per neuron where tau or the gain differ
        pop.lsb = _uniform((1 - aq) * pop.k / (scale * DRIVE_GAIN))
    else:
        wmax = max([float(np.max(np.abs(W) * aq)) for _, _, W in pop.incoming] + [0.0])
        if wmax == 0:
            R.refuse("weight_range", pop.name, "no non-zero incoming weight")
        pop.lsb = wmax / (127 * pop.copies)
        if pop.gated:  # a jump is the weight code times the gate code a (255: gate 1)
            pop.lsb /= ATT_SCALE
    pop.wlsb = pop.lsb * (ATT_SCALE if pop.gated else 1)
    pop.incoming = [(s, d, np.rint(W * aq / pop.wlsb), W * aq) for s, d, W in pop.incoming]
    if pop.form == "integrator":
        pop.codes = {"init": np.rint(pop.init / pop.lsb).astype(np.int64)}
    else:
        pop.codes = {k: _codes(v, pop.lsb) for k, v in (("threshold", pop.threshold),
                                                        ("reset", pop.reset),
                                                        ("init", float(pop.init[0])))}
        for key, what in (("reset", "v_reset"), ("init", "initial v")):
            if np.ndim(pop.codes[key]):  # one register (reset), one buffer init per core
                R.refuse("heterogeneous_parameters", pop.name, f"{what} / LSB differs between "
                         "neurons (their LSBs differ with tau or the gain): a reset and an "
                         "initial v of 0 compile")
        low, high = chip.membrane_range
        if any(not (low <= np.min(c) and np.max(c) <= high) for c in pop.codes.values()):
            R.refuse("weight_range", pop.name, f"membrane codes {pop.codes} leave the "
                     f"{chip.membrane_bits}-bit membrane")
        pop.refractory = 1 if pop.incoming else 0  # the jumps of a firing step are lost


def _codes(value, lsb):
    """``round(value / lsb)``: an int where it is one value, else the per-neuron int64 array."""
    if np.ndim(value) == 0 and np.ndim(lsb) == 0:
        return round(value / lsb)
    codes = np.rint(np.asarray(value) / np.asarray(lsb)).astype(np.int64)
    return int(codes[0]) if np.all(codes == codes[0]) else codes


def _network_layers(net, unit_nl: str | None, modulated: bool,
                    output: bool = False) -> list[tuple]:
    """[(W (n_out, n_in), b, function)] of a Linear/ReLU/Sigmoid chain; refused otherwise.
    ``output``: the network's value is read by the host (set units): its last layer may be
    linear (function ``"linear"``) or end in any of the chain's functions."""
    import torch
    from torch import nn

    leaves = [m for m in net.module.modules() if not list(m.children())]
    layers, k = [], 0
    while k < len(leaves):
        m = leaves[k]
        if not isinstance(m, nn.Linear):
            R.refuse("network_layers", net.name, f"{type(m).__name__} where a Linear layer "
                     "was expected (Linear [ReLU|Sigmoid] chains compile)")
        fn = None
        if k + 1 < len(leaves) and isinstance(leaves[k + 1], (nn.ReLU, nn.Sigmoid)):
            fn = "relu" if isinstance(leaves[k + 1], nn.ReLU) else "sigmoid"
            k += 1
        w = m.weight.detach().double().numpy()
        b = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(w.shape[0])
        layers.append([w, b, fn])
        k += 1
    if not layers:
        R.refuse("network_layers", net.name, "no layers")
    last = layers[-1]
    linear = output and last[2] is None and unit_nl is None
    if last[2] is not None and unit_nl is not None or (
            (last[2] is None) == (unit_nl is None) and not (output and unit_nl is None)):
        R.refuse("network_layers", net.name, "the output needs exactly one sigmoid (the "
                 "network's last module or the unit's nonlinearity)")
    if unit_nl not in (None, "sigmoid") or (modulated and (last[2] or unit_nl) != "sigmoid"):
        R.refuse("modulation_unit", net.name, f"nonlinearity {unit_nl!r}: the modulation LUT "
                 "is a sigmoid")
    last[2] = last[2] or unit_nl or ("linear" if linear else None)
    if any(f is None for _, _, f in layers):
        R.refuse("network_layers", net.name, "a Linear layer without ReLU or Sigmoid inside")
    # the chain must be what the module computes
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, layers[0][0].shape[1], generator=gen, dtype=torch.float32)
    with torch.no_grad():
        try:
            y = net.module.eval()(x).double().numpy()
        except Exception as exc:  # the module does not take (B, n_in)
            R.refuse("network_layers", net.name, f"forward fails ({type(exc).__name__})")
    z = x.double().numpy()
    for w, b, f in layers[:-1] if last[2] in (unit_nl, "linear") else layers:
        z = z @ w.T + b
        z = np.maximum(z, 0) if f == "relu" else 1 / (1 + np.exp(-z))
    if last[2] in (unit_nl, "linear"):
        w, b, _ = layers[-1]
        z = z @ w.T + b
    if z.shape != y.shape or not np.allclose(z, y, atol=1e-4):
        R.refuse("network_layers", net.name, "the module's forward is not its chain of leaf "
                 "modules")
    return [tuple(layer) for layer in layers]


def compile_hybrid(model, chip: ChipSpec = TIANJIC_LIKE, *, tolerance: float = 0.03,
                   calibration: dict | None = None,
                   membrane_codes: int = MEMBRANE_CODES,
                   sequences: dict | None = None) -> HybridCompiled:
    """Compile a hybrid graph (module docstring) to a program; DesignRuleError naming the rule and
    the node for what does not fit.

    ``calibration``: network name -> (N, n_in) sample inputs of that network, in its own units
    (window rates, graph input values), e.g. from :func:`calibration_samples`; a ReLU layer's
    LUT then covers the largest pre-activation of the samples instead of the worst case over all
    inputs (larger values saturate in the LUT's last bin). Without it, the graph's
    ``experiment["chip_calibration"]`` (set in memory by a model's ``chip_graph``), else none.

    ``membrane_codes``: a leaky population gets up to ``MAX_COPIES`` int8 parts per weight
    (partial-sum cores where they exceed a core's axons) until its threshold is at least this
    many membrane codes (0: only the parts that fit one core); when the mesh or a core's memory
    is then too small, it compiles again without them.

    ``sequences``: graph input name -> T for the inputs given per step, (B, T, n) (their ports
    write each of the first T steps; a network with ``every = k`` reading one gets the values of
    the steps that are multiples of k, held); the others are held, (B, n). Without it, the
    graph's ``experiment["chip_sequences"]``, else none.
    """
    from hnnbio.chip.lower import load_graph

    graph = load_graph(model)
    if calibration is None:
        calibration = getattr(graph, "experiment", {}).get("chip_calibration")
    if sequences is None:
        sequences = getattr(graph, "experiment", {}).get("chip_sequences")
    sequences = dict(sequences or {})
    for name, steps in sequences.items():
        if name not in {i.name for i in graph.inputs} or isinstance(steps, bool) or \
                not isinstance(steps, int) or steps < 1:
            raise ParameterError(f"sequences: {name!r}: needs a graph input and a number of "
                                 f"steps >= 1, got {steps!r}")
    try:
        return _compile(graph, chip, tolerance, calibration, membrane_codes, sequences)
    except DesignRuleError as exc:
        if not membrane_codes or exc.rule not in ("mesh", "core_memory"):
            raise
        return _compile(graph, chip, tolerance, calibration, 0, sequences)


def _copies(pop: HPop, fan_in: int, dt_s: float, chip, membrane_codes: int) -> int:
    """int8 parts per weight of a leaky or integrator population: as many as fit one core's
    axons; for a leaky one, more (up to MAX_COPIES, filling whole partial-sum blocks) until
    ``threshold / LSB >= membrane_codes``, so the leak's floor (< 1 code a step) stays below
    ``1 / membrane_codes`` of the threshold per step."""
    fit = max(1, min(MAX_COPIES, chip.axons_per_core // fan_in))
    wmax = max([float(np.max(np.abs(W))) for _, _, W in pop.incoming] + [0.0])
    if pop.form != "leaky" or not membrane_codes or wmax == 0 or np.min(pop.threshold) <= 0:
        return fit
    aq = alpha_codes(pop.tau, dt_s) / 256
    # threshold codes with one part per weight (the lowest of the neurons)
    per_copy = float(np.min(pop.threshold / (wmax * aq / 127)))
    need = min(MAX_COPIES, math.ceil(membrane_codes / per_copy))
    if need <= fit:
        return fit
    blocks = math.ceil(fan_in * need / chip.axons_per_core)
    return max(need, min(MAX_COPIES, blocks * chip.axons_per_core // fan_in))


def _compile(graph, chip, tolerance, calibration, membrane_codes, sequences) -> HybridCompiled:
    from hnnbio.hnn.nodes import HybridUnit, Input

    dt_s = graph.dt_ms * 1e-3

    def reads_inputs(name):  # a network that reads graph inputs only runs before the SNN
        net = graph.nodes.get(name)
        return bool(getattr(net, "inputs", ())) and all(
            isinstance(graph.nodes.get(i), Input) for i in net.inputs)
    for u in graph.units:
        direction = graph.unit_direction(u)
        if direction == "snn_to_ann":
            if u.kernel not in ("rate", None) or u.nonlinearity or u.quantiser:
                R.refuse("window_unit", u.name, f"kernel {u.kernel!r}, nonlinearity "
                         f"{u.nonlinearity!r}, quantiser {u.quantiser!r}: only the rate (or "
                         "sum) window compiles")
            if u.window > chip.delay_slots + 1:
                R.refuse("window_unit", u.name, f"window {u.window} exceeds the "
                         f"{chip.delay_slots} delay slots + 1")
        elif direction == "ann_to_snn":
            if u.kind != "modulation" or u.operation not in ("multiply", "set"):
                R.refuse("modulation_unit", u.name, f"kind {u.kind!r}, operation "
                         f"{u.operation!r}: only modulation by multiply (or set onto a passive "
                         "population: an output) compiles")
            if u.operation == "set" and u.nonlinearity not in (None, "sigmoid"):
                R.refuse("modulation_unit", u.name, f"nonlinearity {u.nonlinearity!r}: a set "
                         "unit's value is the network's output (or its sigmoid)")
            low = 0 if reads_inputs(u.source) else 1
            if u.quantiser or not low <= u.delay_steps <= chip.delay_slots:
                why = " (delay 0 only from a network that reads graph inputs only)" if low else ""
                R.refuse("modulation_unit", u.name, f"quantiser {u.quantiser!r}, delay "
                         f"{u.delay_steps}: needs no quantiser and {low}..{chip.delay_slots} "
                         f"steps{why}")
        else:
            R.refuse("window_unit", u.name, f"{direction} units are not compiled")
    pops = {p.name: _population(p, graph) for p in graph.populations}
    for s in graph.synapses:
        _synapse(s, pops, dt_s, chip)
    for pop in pops.values():
        fan_in = sum(pops[src].size for src, _, _ in pop.incoming)
        if fan_in and pop.gated:  # every neuron of a core gets its own copy of the axons
            R.check_fan_in(pop.name, fan_in, chip)
            pop.per_core = min(chip.neurons_per_core, chip.axons_per_core // fan_in)
        elif fan_in:
            pop.copies = _copies(pop, fan_in, dt_s, chip, membrane_codes)
        if pop.form != "passive":
            _quantise_pop(pop, dt_s, chip, tolerance)
    windows, mods, layers, feeds, outs, every = {}, {}, {}, {}, {}, {}
    concats = {}  # network -> [(provider network, its first column, its size)]
    # networks that read graph inputs first: their outputs may be concatenated into another's
    for net in sorted(graph.networks, key=lambda n: not reads_inputs(n.name)):
        node = graph.nodes[net.inputs[0]] if len(net.inputs) == 1 else None
        if len(net.inputs) > 1:
            wins = [i for i in net.inputs if isinstance(graph.nodes[i], HybridUnit)]
            provs = [i for i in net.inputs if i not in wins]
            if len(wins) != 1 or net.inputs[0] != wins[0] or not all(
                    i in layers and reads_inputs(i) for i in provs):
                R.refuse("network_layers", net.name, f"inputs {', '.join(net.inputs)}: "
                         "concatenated inputs compile as one window unit (first) and networks "
                         "that read graph inputs only")
            node = graph.nodes[wins[0]]
            at, concats[net.name] = graph.nodes[node.source].size, []
            for i in provs:
                concats[net.name].append((i, at, layers[i][-1].q.weight.shape[1]))
                at += concats[net.name][-1][2]
        if not isinstance(node, (HybridUnit, Input)):
            R.refuse("network_layers", net.name, "a network compiles with one window unit or "
                     "one graph input as its input")
        if net.every != 1 and not isinstance(node, Input):
            R.refuse("network_layers", net.name, f"every = {net.every}: only a network that "
                     "reads a graph input runs every k steps (its input latched at the steps "
                     "that are multiples of k)")
        sets = [u for u in graph.units if u.source == net.name and u.operation == "set"]
        units = [u for u in graph.units if u.source == net.name and u.operation != "set"]
        if len(units) > 1 or (units and sets):
            R.refuse("modulation_unit", net.name, "one modulation unit per network (or only "
                     "set units)")
        unit = units[0] if units else None
        if sets and len({u.nonlinearity for u in sets}) > 1:
            R.refuse("modulation_unit", net.name, "its set units differ in nonlinearity")
        out_nl = unit.nonlinearity if unit else (sets[0].nonlinearity if sets else None)
        chain = _network_layers(net, out_nl, unit is not None, output=bool(sets))
        if isinstance(node, Input):  # values 0 .. 1 as codes round(128 X)
            scale, n_in, e_in = 1.0, node.size, NET_INPUT_EXP
            x_in = np.ones(node.size)
            if n_in > chip.axons_per_core and unit is not None and pops[unit.target].gated \
                    and len(chain) == 1:
                R.refuse("fan_in", f"{net.name}.0", f"{n_in} inputs exceed the "
                         f"{chip.axons_per_core} axons of a core (a gating layer is not split)")
        else:
            win = node
            scale = 1.0 / win.window if win.kernel == "rate" else 1.0
            src = pops[win.source]
            if src.form == "integrator":
                R.refuse("window_unit", win.name, "reads a population without spikes")
            n_in, e_in = src.size, 0
            x_in = np.full(src.size, float(win.window))  # counts 0 .. w
            n_in += sum(n for _, _, n in concats.get(net.name, ()))
            if unit is not None and pops[unit.target].gated:
                R.refuse("modulation_unit", unit.name, "gated jumps are compiled from networks "
                         "that read graph inputs only")
        if chain[0][0].shape[1] != n_in:
            R.refuse("network_layers", net.name, f"input size {chain[0][0].shape[1]} != "
                     f"{n_in}")
        qs = []
        seen = _calibration_samples(calibration, net.name, n_in)
        for k, (w, b, fn) in enumerate(chain):
            z_seen = None
            if seen is not None:  # the float chain on the samples (the network's own units)
                z_seen = seen @ w.T + b
                seen = np.maximum(z_seen, 0) if fn == "relu" else 1 / (1 + np.exp(-z_seen))
            w = w * (scale if k == 0 else 1.0)
            if k == 0 and net.name in concats:  # a provider's codes c = sum_b 2^b bit_b
                w, x_in = _bit_planes(chain[0][0], scale, concats[net.name], layers, src.size,
                                      x_in)
            if w.shape[0] > chip.neurons_per_core:
                R.refuse("fan_out", f"{net.name}.{k}", f"{w.shape[0]} outputs exceed the "
                         f"{chip.neurons_per_core} neurons of a core")
            if k and w.shape[1] > chip.axons_per_core:
                R.refuse("fan_in", f"{net.name}.{k}", f"{w.shape[1]} inputs exceed the "
                         f"{chip.axons_per_core} axons of a core")
            z_max = float(np.max(b + np.clip(w, 0, None) @ x_in))  # worst case over inputs
            if z_seen is not None and fn in ("relu", "linear"):  # calibrated: larger z saturate
                z_max = min(z_max, float(np.max(z_seen)))
            # a linear output layer is read from its accumulator (the table, a ReLU's, unused)
            q = quantize_layer(f"{net.name}.{k}", "relu" if fn == "linear" else fn, w, b, e_in,
                               max(z_max, 1e-3), chip.accumulator_bits)
            if fn == "sigmoid" and k == len(chain) - 1 and unit is not None:
                kz = np.arange(-128, 128)
                z = (kz + 0.5) * 2.0 ** (int(q.shift[0]) - e_in - int(q.e_w[0]))
                q.table = np.clip(np.rint(ATT_SCALE / (1 + np.exp(-z))), 0, 255).astype(np.uint8)
            qs.append(Layer(q.name, fn, q, w))
            e_in = q.e_out
            x_in = np.full(w.shape[0], float(q.table.max()) * 2.0 ** -q.e_out)
        layers[net.name] = qs
        if isinstance(node, Input):
            feeds[net.name] = (node.name, node.size)
            every[net.name] = int(net.every)
        else:
            windows[win.name] = (win.source, net.name, int(win.window))
        if unit is not None:
            target = pops[unit.target]
            if target.mod != unit.name:
                R.refuse("modulation_unit", unit.name, f"{unit.variable!r} is not a factor of "
                         f"{target.name}'s drive")
            init = {"ones": 1.0, "zeros": 0.0}.get(unit.initial, unit.initial)
            if isinstance(init, str) or not 0 <= float(init) <= 1:
                R.refuse("modulation_unit", unit.name, f"initial {unit.initial!r} is not a "
                         "constant in [0, 1]")
            mods[unit.name] = (net.name, target.name, int(unit.delay_steps),
                               int(round(ATT_SCALE * float(init))))
        last = qs[-1]
        for u in sets:  # the host reads the last layer: acc (linear) or y, decoded per neuron
            n_out = last.q.weight.shape[1]
            if pops[u.target].size != n_out:
                R.refuse("modulation_unit", u.name, f"{net.name} gives {n_out} values, "
                         f"{u.target} has {pops[u.target].size}")
            init = {"ones": 1.0, "zeros": 0.0}.get(u.initial, u.initial)
            if isinstance(init, str) or not math.isfinite(float(init)):
                R.refuse("modulation_unit", u.name, f"initial {u.initial!r} is not a constant")
            if last.function == "linear":
                scale = 2.0 ** -(last.q.e_in + last.q.e_w.astype(float))
            else:
                scale = np.full(n_out, 2.0 ** -last.q.e_out)
            outs[u.name] = (net.name, u.target, int(u.delay_steps), float(init),
                            scale * float(u.gain), "acc" if last.function == "linear" else "y")
    for pop in pops.values():
        if pop.mod is not None and pop.mod not in mods:
            R.refuse("modulation_unit", pop.mod, "its network is not compiled")
    compiled = _emit(graph, pops, layers, windows, mods, chip, feeds, outs, sequences, concats)
    compiled.kernels = {u.name: u.kernel for u in graph.units if u.name in windows}
    compiled.outs, compiled.every, compiled.sequences = outs, every, dict(sequences)
    return compiled


def _bit_planes(w, scale, providers, layers, n_window, x_in):
    """A first layer reading a window (columns ``0 .. n_window - 1``, times ``scale``) and the
    8-bit codes ``c`` (value ``c 2**-e``) of networks that read graph inputs: each provider's
    columns become 8 columns of 0/1 inputs, the bits ``b`` of ``c``, weighted ``W 2**(b - e)``,
    so one int8 scale per neuron serves both (a provider's ``W 2**-e`` per code would round to
    a few levels); returns the expanded (n_out, n_window + 8 sum n_p) weights and worst-case
    inputs."""
    cols, worst = [w[:, :n_window] * scale], [x_in]
    for name, at, n in providers:
        e = int(layers[name][-1].q.e_out)
        for b in range(8):
            cols.append(w[:, at:at + n] * 2.0 ** (b - e))
            worst.append(np.ones(n))
    return np.concatenate(cols, axis=1), np.concatenate(worst)


def _calibration_samples(calibration, name: str, n_in: int):
    """The calibration samples of network ``name`` as (N, n_in) float64, or None."""
    if not calibration or name not in calibration:
        return None
    x = np.asarray(calibration[name], dtype=float)
    if x.ndim != 2 or x.shape[1] != n_in or len(x) == 0 or not np.isfinite(x).all():
        raise DataError(f"calibration: {name!r} needs (N, {n_in}) finite samples, got "
                        f"{x.shape}")
    return x


def calibration_samples(compiled: HybridCompiled, inputs: dict, steps: int,
                        batch: int = 256) -> dict:
    """Sample inputs of every network as the chip would feed them, for
    ``compile_hybrid(..., calibration=...)``: each window network's window rates (or sums) of
    every step >= window - 1, from the spikes of ``compiled`` run on ``inputs`` (values in
    [0, 1]); each graph-input network's input values."""
    res = run_hybrid(compiled, inputs, steps, batch=batch)
    out = {}
    for src, net, length in compiled.windows.values():
        total = np.cumsum(res["spikes"][src].astype(np.float32), axis=1)
        counts = total.copy()
        counts[:, length:] = total[:, length:] - total[:, :-length]  # the last `length` steps
        rows = counts[:, length - 1:].reshape(-1, total.shape[-1])
        unit = next(u for u, (_, n, _) in compiled.windows.items() if n == net)
        out[net] = rows / (length if compiled.kernels.get(unit) == "rate" else 1)
    for net, (name, _) in compiled.feeds.items():
        out[net] = np.asarray(inputs[name], dtype=float)
    return out


def _emit(graph, pops, layers, windows, mods, chip, feeds, outs, sequences,
          concats) -> HybridCompiled:
    acc = chip.accumulator_bits
    cores: list[CoreProgram] = []
    arrays, inputs, outputs, summary = {}, [], [], []
    cid = 0

    def new_core(layer, role, n, n_axons, buffers, phases):
        nonlocal cid
        x, y = chip.core_xy(cid)
        core = CoreProgram(cid, x, y, layer, role, (0, n), (0, n_axons), phases, buffers)
        cores.append(core)
        cid += 1
        return core

    for pop in pops.values():
        if pop.form == "passive":
            continue  # no state on the chip: the set units' values are output ports
        per_core = pop.per_core or chip.neurons_per_core
        for lo in range(0, pop.size, per_core):
            pop.cores.append((cid + len(pop.cores), lo, min(pop.size, lo + per_core)))
        cid_base = cid
        for k, (c, lo, hi) in enumerate(pop.cores):
            assert c == cid_base + k
            n = hi - lo
            new_core(pop.name, pop.form, n, 0, {}, {})
    sends: dict[int, dict[int, list]] = {}  # core -> delay -> destinations (spikes)
    bit_targets: dict = {}  # provider network -> [(bit tile core, first element, size)]
    by_id = {c.core: c for c in cores}
    for pop in pops.values():
        if pop.form == "passive":
            continue
        for c, lo, hi in pop.cores:
            core, n = by_id[c], hi - lo
            buf, ph = core.buffers, core.phases
            segments = []  # (source core, delay, lo, hi, weight rows): one slice of the axons
            for jj in range(n if pop.gated else 1):  # gated: one copy of the axons per neuron
                for src, delay, codes, _ in pop.incoming:
                    for sc, slo, shi in pops[src].cores:
                        block = codes[slo:shi, lo:hi]
                        if pop.gated:  # block-diagonal: copy jj feeds neuron jj only
                            block = np.zeros(block.shape)
                            block[:, jj] = codes[slo:shi, lo + jj]
                        for part in _split(block, pop.copies):
                            segments.append((sc, delay, 0, shi - slo, part))
            at = sum(s[3] - s[2] for s in segments)
            if pop.gated or at <= chip.axons_per_core:
                blocks = [segments] if segments else []
            else:  # partial-sum cores: block 0 on the core itself, the others on cores of their own
                blocks = axon_blocks(segments, chip.axons_per_core)
                _check_partial_sums(pop, blocks, chip, graph.steps)
            if blocks:
                at = route_block(blocks[0], c, "pre", sends)
                R.check_fan_in(pop.name, at, chip)
                buf.update(pre=_b(at, 1), syn=_b(n, acc, True))
                arrays[f"c{c}.weight"] = np.concatenate([s[4] for s in blocks[0]]).astype(np.int8)
            core.axons = (0, at or n)  # a driven core's axons: its inputs
            # partial sums: matvec in phase 0 (leaky) or 2 (integrator), sent with delay 0 as
            # bits-wide signed values to p1, p2, ... of the target core, read in the next phase
            partials = []
            for k, blk in enumerate(blocks[1:], start=1):
                size = sum(s[3] - s[2] for s in blk)
                rows = np.concatenate([s[4] for s in blk]).astype(np.int8)
                part = new_core(pop.name, "partial", n, size, {"pre": _b(size, 1),
                                                              "part": _b(n, acc, True)}, {})
                route_block(blk, part.core, "pre", sends)
                arrays[f"c{part.core}.weight"] = rows
                bits = partial_bits(rows)
                buf[f"p{k}"] = _b(n, bits, True)
                part.phases[2 if pop.form == "integrator" else 0] = partial_sum_ops(
                    part.core, c, f"p{k}", n, bits)
                partials.append(f"p{k}")
                pop.partial_cores.append(part.core)
            if pop.form == "integrator":
                buf.update(tot=_b(n, acc, True), v=_b(n, acc, True))
                arrays[f"c{c}.bias"] = np.clip(pop.codes["init"][lo:hi],
                                               *chip.accumulator_range).astype(np.int32)
                ph[2] = [Instruction("axon", "matvec", {"x": "pre", "weights": f"c{c}.weight",
                                                        "out": "syn"})]
                ph[3] = [Instruction("axon", "accumulate", {"sources": ["tot", "syn", *partials],
                                                            "bias": None, "out": "tot"})]
                ph[4] = [Instruction("axon", "accumulate", {"sources": ["tot"],
                                                            "bias": f"c{c}.bias", "out": "v"})]
                continue
            buf.update(v=_b(n, chip.membrane_bits, True, pop.codes["init"]),
                       ref=_b(n, chip.refractory_bits), spikes=_b(n, 1))
            lif = {"v": "v", "refractory": "ref", "spikes": "spikes", "rand": None,
                   "alpha": _per_core(arrays, f"c{c}.alpha", pop.alpha, lo, hi), "v_leak": 0,
                   "v_threshold": _per_core(arrays, f"c{c}.threshold", pop.codes["threshold"],
                                            lo, hi),
                   "noise_mask": 0, "reset_mode": "value", "v_reset": pop.codes["reset"],
                   "refractory_steps": pop.refractory}
            if pop.form == "driven":
                # x: 5 bits under a modulation (m = (x a) >> 4 <= 255 for x <= 16), else 8
                buf.update(x=_b(n, 5 if pop.mod else 8), drive=_b(n, acc, True))
                arrays[f"c{c}.gain.weight"] = (np.eye(n) * DRIVE_GAIN).astype(np.int8)
                source = "x"
                if pop.mod is not None:
                    buf.update(att=_b(n, 8), m=_b(n, 8))
                    ph[0] = [Instruction("axon", "hadamard", {"a": "x", "b": "att", "out": "m",
                                                              "shift": HADAMARD_SHIFT})]
                    source = "m"
                    lif["v_leak"] = DRIVE_GAIN // 2  # centres the floor of m (half a code)
                ph[1] = [Instruction("axon", "matvec", {"x": source,
                                                        "weights": f"c{c}.gain.weight",
                                                        "out": "drive"}),
                         Instruction("soma1", "lif", {"input": "drive", **lif})]
            elif pop.gated:  # m = pre * att (exact: pre is 0/1), then the block-diagonal matvec
                buf.update(att=_b(at, 8), m=_b(at, 8))
                ph[0] = [Instruction("axon", "hadamard", {"a": "pre", "b": "att", "out": "m",
                                                          "shift": 0})]
                ph[1] = [Instruction("axon", "matvec", {"x": "m", "weights": f"c{c}.weight",
                                                        "out": "syn"}),
                         Instruction("soma1", "lif", {"input": "syn", **lif})]
            else:
                if not blocks:
                    buf["syn"] = _b(n, acc, True)
                    ph[1] = [Instruction("soma1", "lif", {"input": "syn", **lif})]
                elif partials:  # own block in phase 0 with the partial-sum cores, then their sum
                    buf["acc"] = _b(n, acc, True)
                    ph[0] = [Instruction("axon", "matvec", {"x": "pre",
                                                            "weights": f"c{c}.weight",
                                                            "out": "syn"})]
                    ph[1] = [Instruction("axon", "accumulate", {"sources": ["syn", *partials],
                                                                "bias": None, "out": "acc"}),
                             Instruction("soma1", "lif", {"input": "acc", **lif})]
                else:
                    ph[1] = [Instruction("axon", "matvec", {"x": "pre",
                                                            "weights": f"c{c}.weight",
                                                            "out": "syn"}),
                             Instruction("soma1", "lif", {"input": "syn", **lif})]
        kind = "v" if pop.form == "integrator" else "spikes"
        outputs.append({"name": pop.name, "size": pop.size,
                        "parts": [{"core": c, "buffer": kind, "lo": lo, "hi": hi, "at": 0}
                                  for c, lo, hi in pop.cores]})
        if pop.input is not None:
            inputs.append({"name": f"{pop.input}.{pop.name}", "size": pop.size,
                           **_port_mode(pop.input, sequences),
                           "parts": [{"core": c, "buffer": "x", "lo": lo, "hi": hi, "at": 0}
                                     for c, lo, hi in pop.cores]})
        summary.append({"name": pop.name, "kind": pop.form,
                        "cores": [c for c, _, _ in pop.cores] + pop.partial_cores})
    n_phases = 5
    # windows and networks
    for src_name, net, length in windows.values():
        qs = layers[net]
        first = qs[0].q
        n_out = first.weight.shape[1]
        reducer_sources = []
        tiles = []
        for d in range(length):
            for sc, slo, shi in pops[src_name].cores:
                tile = new_core(f"{net}.0", "tile", n_out, shi - slo,
                                {"win": _b(shi - slo, 1), "part": _b(n_out, acc, True)}, {})
                arrays[f"c{tile.core}.weight"] = first.weight[slo:shi].astype(np.int8)
                sends.setdefault(sc, {}).setdefault(d, []).append(
                    {"core": tile.core, "buffer": "win", "lo": 0, "hi": shi - slo, "at": 0})
                tiles.append(tile)
        extra = concats.get(net, [])
        if extra:  # the providers' code bits: one tile of 0/1 inputs (see _bit_planes)
            lo_r, size = pops[src_name].size, 8 * sum(n for _, _, n in extra)
            tile = new_core(f"{net}.0", "tile", n_out, size,
                            {"win": _b(size, 1), "part": _b(n_out, acc, True)}, {})
            arrays[f"c{tile.core}.weight"] = first.weight[lo_r:lo_r + size].astype(np.int8)
            at = 0
            for prov, _, n in extra:
                bit_targets.setdefault(prov, []).append((tile.core, at, n))
                at += 8 * n
            tiles.append(tile)
        red = new_core(f"{net}.0", "reduce", n_out, n_out, {}, {})
        for k, tile in enumerate(tiles):
            red.buffers[f"p{k}"] = _b(n_out, acc, True)
            reducer_sources.append(f"p{k}")
            tile.phases[2] = [
                Instruction("axon", "matvec", {"x": "win", "weights": f"c{tile.core}.weight",
                                               "out": "part"}),
                Instruction("router", "send", {"what": "part", "to": [
                    {"core": red.core, "buffer": f"p{k}", "lo": 0, "hi": n_out, "at": 0}],
                    "bits": acc, "delay": 0})]
        chain = [red]
        phase = 3
        for k, layer in enumerate(qs):
            q = layer.q
            core = chain[-1]
            n = q.weight.shape[1]
            if k:
                core.buffers.update(syn=_b(n, acc, True))
                arrays[f"c{core.core}.weight"] = q.weight.astype(np.int8)
                core.phases[phase] = [Instruction("axon", "matvec", {
                    "x": "x", "weights": f"c{core.core}.weight", "out": "syn"})]
                phase += 1
                sources = ["syn"]
            else:
                sources = reducer_sources
            core.buffers.update(acc=_b(n, acc, True), y=_b(n, 8))
            arrays[f"c{core.core}.bias"] = q.bias.astype(np.int32)
            arrays[f"c{core.core}.shift"] = q.shift.astype(np.uint8)
            arrays[f"c{core.core}.table"] = q.table.astype(np.uint8)
            layer.cores = [core.core]
            core.phases[phase] = [
                Instruction("axon", "accumulate", {"sources": sources,
                                                   "bias": f"c{core.core}.bias", "out": "acc"}),
                Instruction("soma1", "lut", {"x": "acc", "out": "y",
                                             "shift": f"c{core.core}.shift",
                                             "table": f"c{core.core}.table"})]
            outputs.append({"name": layer.name, "size": n, "parts": [
                {"core": core.core, "buffer": "y", "lo": 0, "hi": n, "at": 0}]})
            summary.append({"name": layer.name, "kind": f"dense+{layer.function}",
                            "cores": [t.core for t in tiles] * (k == 0) + [core.core]})
            if k + 1 < len(qs):
                nxt = new_core(qs[k + 1].name, "dense", qs[k + 1].q.weight.shape[1], n,
                               {"x": _b(n, 8)}, {})
                core.phases[phase].append(Instruction("router", "send", {
                    "what": "y", "to": [{"core": nxt.core, "buffer": "x", "lo": 0, "hi": n,
                                         "at": 0}], "bits": 8, "delay": 0}))
                chain.append(nxt)
                phase += 1
        _set_outputs(outs, net, chain[-1].core, outputs)
        for unit_name, (mnet, target, delay, _) in mods.items():
            if mnet != net:
                continue
            last, n = chain[-1], qs[-1].q.weight.shape[1]
            to = [{"core": c, "buffer": "att", "lo": lo, "hi": hi, "at": 0}
                  for c, lo, hi in pops[target].cores]
            last.phases[phase].append(Instruction("router", "send", {
                "what": "y", "to": to, "bits": 8, "delay": delay}))
            inputs.append({"name": f"{unit_name}.initial", "size": n, "mode": "steps",
                           "steps": delay, "parts": [dict(t, lo=t["lo"], hi=t["hi"])
                                                     for t in to]})
            outputs.append({"name": unit_name, "size": n, "parts": [dict(t) for t in to]})
        n_phases = max(n_phases, phase + 1)
    # networks reading graph inputs: layer k in phases 2k, 2k + 1, before the SNN's phases
    pre_cores, offset = [], 0
    for net, (name, n_in) in feeds.items():
        qs = layers[net]
        unit = next((u for u, m in mods.items() if m[0] == net), None)
        target = pops[mods[unit][1]] if unit else None
        previous = None
        for k, layer in enumerate(qs):
            q, function = layer.q, layer.function
            n_in, n_out = q.weight.shape
            if k == len(qs) - 1 and target is not None and target.gated:
                # one core per target core, its outputs laid out as that core's axons (copy jj
                # of the sources holds the gate of neuron jj): the gates reach the hadamard
                fan = sum(pops[src].size for src, _, _, _ in target.incoming)
                groups = [(tc, np.repeat(np.arange(lo, hi), fan)) for tc, lo, hi in target.cores]
            else:
                if n_out > chip.neurons_per_core:
                    R.refuse("fan_out", layer.name, f"{n_out} outputs exceed the "
                             f"{chip.neurons_per_core} neurons of a core")
                groups = [(None, np.arange(n_out))]
            made, feeds_to = [], []
            # the first layer's inputs beyond a core's axons: partial-sum tiles (slices of the
            # input port; exact: |partial| <= 256 * 255 * 128 < 2**23, no saturation)
            cuts = list(range(0, n_in, chip.axons_per_core)) + [n_in]
            for tc, idx in groups:
                m = len(idx)
                hi0 = cuts[1]
                core = new_core(layer.name, "dense", m, hi0, {
                    "x": _b(hi0, 8), "syn": _b(m, acc, True), "acc": _b(m, acc, True),
                    "y": _b(m, 8)}, {})
                c = core.core
                arrays[f"c{c}.weight"] = q.weight[:hi0, idx].astype(np.int8)
                arrays[f"c{c}.bias"] = q.bias[idx].astype(np.int32)
                arrays[f"c{c}.shift"] = q.shift[idx].astype(np.uint8)
                arrays[f"c{c}.table"] = q.table.astype(np.uint8)
                core.phases[2 * k] = [Instruction("axon", "matvec", {
                    "x": "x", "weights": f"c{c}.weight", "out": "syn"})]
                feeds_to.append({"core": c, "buffer": "x", "lo": 0, "hi": hi0, "at": 0})
                sources = ["syn"]
                for t, (lo_t, hi_t) in enumerate(zip(cuts[1:-1], cuts[2:], strict=True), start=1):
                    tile = new_core(layer.name, "tile", m, hi_t - lo_t, {
                        "x": _b(hi_t - lo_t, 8), "part": _b(m, acc, True)}, {})
                    arrays[f"c{tile.core}.weight"] = q.weight[lo_t:hi_t, idx].astype(np.int8)
                    core.buffers[f"p{t}"] = _b(m, acc, True)
                    tile.phases[2 * k] = [
                        Instruction("axon", "matvec", {"x": "x",
                                                       "weights": f"c{tile.core}.weight",
                                                       "out": "part"}),
                        Instruction("router", "send", {"what": "part", "to": [
                            {"core": c, "buffer": f"p{t}", "lo": 0, "hi": m, "at": 0}],
                            "bits": acc, "delay": 0})]
                    feeds_to.append({"core": tile.core, "buffer": "x", "lo": lo_t, "hi": hi_t,
                                     "at": 0})
                    sources.append(f"p{t}")
                    pre_cores.append(tile)
                core.phases[2 * k + 1] = [
                    Instruction("axon", "accumulate", {"sources": sources,
                                                       "bias": f"c{c}.bias", "out": "acc"}),
                    Instruction("soma1", "lut", {"x": "acc", "out": "y", "shift": f"c{c}.shift",
                                                 "table": f"c{c}.table"})]
                made.append((core, tc, idx))
                pre_cores.append(core)
            bit_cores = []
            if k == len(qs) - 1 and net in bit_targets:  # bit b of the codes, to concatenations
                if k == 0 and n_in > chip.axons_per_core:
                    R.refuse("fan_in", layer.name, f"{n_in} inputs exceed the "
                             f"{chip.axons_per_core} axons of a core (a one-layer network read "
                             "by another is not split)")
                for bit in range(8):
                    core = new_core(layer.name, "bits", n_out, n_in, {
                        "x": _b(n_in, 8), "syn": _b(n_out, acc, True),
                        "acc": _b(n_out, acc, True), "y": _b(n_out, 8)}, {})
                    c = core.core
                    arrays[f"c{c}.weight"] = q.weight.astype(np.int8)
                    arrays[f"c{c}.bias"] = q.bias.astype(np.int32)
                    arrays[f"c{c}.shift"] = q.shift.astype(np.uint8)
                    arrays[f"c{c}.table"] = ((q.table.astype(np.int64) >> bit) & 1).astype(
                        np.uint8)
                    core.phases[2 * k] = [Instruction("axon", "matvec", {
                        "x": "x", "weights": f"c{c}.weight", "out": "syn"})]
                    core.phases[2 * k + 1] = [
                        Instruction("axon", "accumulate", {"sources": ["syn"],
                                                           "bias": f"c{c}.bias", "out": "acc"}),
                        Instruction("soma1", "lut", {"x": "acc", "out": "y",
                                                     "shift": f"c{c}.shift",
                                                     "table": f"c{c}.table"}),
                        Instruction("router", "send", {"what": "y", "to": [
                            {"core": tc, "buffer": "win", "lo": 0, "hi": n, "at": at + bit * n}
                            for tc, at, n in bit_targets[net]], "bits": 1, "delay": 0})]
                    bit_cores.append(core)
                    pre_cores.append(core)
            if previous is None:
                feeds_to += [{"core": core.core, "buffer": "x", "lo": 0, "hi": n_in, "at": 0}
                             for core in bit_cores]
                inputs.append({"name": f"{name}.{net}", "size": n_in,
                               **_port_mode(name, sequences), "parts": feeds_to})
            else:
                feeds_to = [{"core": core.core, "buffer": "x", "lo": 0, "hi": n_in, "at": 0}
                            for core in [m[0] for m in made] + bit_cores]
                previous.phases[2 * k - 1].append(Instruction("router", "send", {
                    "what": "y", "to": feeds_to, "bits": 8, "delay": 0}))
            previous = made[0][0]
            layer.cores = [core.core for core, _, _ in made]
            first = {}  # output j -> (core, element) of its first copy
            for core, _, idx in made:
                for e, j in enumerate(idx):
                    first.setdefault(int(j), (core.core, e))
            outputs.append({"name": layer.name, "size": n_out, "parts": [
                {"core": first[j][0], "buffer": "y", "lo": j, "hi": j + 1, "at": first[j][1]}
                for j in range(n_out)]})
            summary.append({"name": layer.name, "kind": f"dense+{function}",
                            "cores": layer.cores})
        offset = max(offset, 2 * len(qs))
        _set_outputs(outs, net, made[0][0].core, outputs)
        if unit is None:
            continue
        delay = mods[unit][2]
        if target.gated:
            for core, tc, idx in made:
                core.phases[2 * len(qs) - 1].append(Instruction("router", "send", {
                    "what": "y", "to": [{"core": tc, "buffer": "att", "lo": 0, "hi": len(idx),
                                         "at": 0}], "bits": 8, "delay": delay}))
            # the port's element j: every copy of neuron j's gate (initial) / its first (output)
            copies = [{"core": tc, "buffer": "att", "lo": int(j), "hi": int(j) + 1, "at": e}
                      for _, tc, idx in made for e, j in enumerate(idx)]
            firsts = [{"core": tc, "buffer": "att", "lo": j, "hi": j + 1, "at": first[j][1]}
                      for (_, tc, idx) in made for j in sorted(set(idx.tolist()))]
        else:
            copies = [{"core": c, "buffer": "att", "lo": lo, "hi": hi, "at": 0}
                      for c, lo, hi in target.cores]
            made[0][0].phases[2 * len(qs) - 1].append(Instruction("router", "send", {
                "what": "y", "to": copies, "bits": 8, "delay": delay}))
            firsts = [dict(t) for t in copies]
        if delay:
            inputs.append({"name": f"{unit}.initial", "size": target.size, "mode": "steps",
                           "steps": delay, "parts": copies})
        outputs.append({"name": unit, "size": target.size, "parts": firsts})
    for c, by_delay in sends.items():
        core = by_id[c]  # sends of spikes leave population cores only
        for delay, to in sorted(by_delay.items()):
            core.phases.setdefault(1, []).append(Instruction("router", "send", {
                "what": "spikes", "to": to, "bits": 1, "delay": delay}))
    # a core's phase may hold one instruction per block, in block order: split repeated sends
    for core in cores:
        _spread_sends(core)
    pre = {core.core for core in pre_cores}
    n_phases += offset
    for core in cores:  # the SNN's (and the window networks') phases follow the input networks'
        if core.core not in pre and offset:
            core.phases = {p + offset: v for p, v in core.phases.items()}
        n_phases = max(n_phases, max(core.phases, default=0) + 1)
    R.check_mesh(graph.name, cid, chip)
    n_neurons = sum(p.size for p in pops.values())
    manifest = {
        "model": {"name": graph.name, "dataset": "none", "image_shape": [1, n_neurons],
                  "nodes": {f"population.{p}": p for p in pops}},
        "chip": chip.to_dict(),
        "loop": {"steps_per_cycle": 1, "cycles": 1, "readout_cycles": 1,
                 "dt_ms": float(graph.dt_ms)},
        "sheet": {"n_pixels": n_neurons, "refractory_steps": 0, "keep": [256],
                  "delay_steps": 1},
        "layers": summary,
        "cores": [c.to_dict() for c in cores],
        "routes": routes_of(cores, chip.packet_bytes),
        "n_phases": n_phases,
        "ports": {"inputs": inputs, "outputs": outputs},
        "lfsr_shifts_per_step": 1,
        "lfsr_streams": 1,
        "quantization": {
            # populations: e_w the weight error, shift log2 of the LSB (volt), e_out the
            # threshold code (0 for an integrator)
            **{p.name: {"rel_rms_error": _weight_error(p), "e_w": _weight_error(p),
                        "shift": float(np.max(np.log2(p.lsb))),
                        "e_out": int(np.max(p.codes.get("threshold", 0))),
                        "lsb_volt": _summary(p.lsb, float), "alpha": _summary(p.alpha)}
               for p in pops.values()},
            # dense layers: e_w the smallest per-neuron weight exponent, shift the largest
            **{ly.name: {"rel_rms_error": _layer_error(ly), "e_w": int(ly.q.e_w.min()),
                         "shift": int(ly.q.shift.max()), "e_out": int(ly.q.e_out)}
               for qs in layers.values() for ly in qs}},
    }
    from hnnbio.chip.validate import core_memory_bytes

    program = Program(manifest, arrays)
    memory = {}
    for core in manifest["cores"]:
        memory[str(core["core"])] = need = core_memory_bytes(manifest, arrays, core)
        if need > chip.memory_bytes_per_core:
            R.refuse("core_memory", core["layer"], f"core {core['core']} holds {need} bytes, "
                     f"a core has {chip.memory_bytes_per_core}")
    manifest["memory"] = memory
    return HybridCompiled(program, pops, layers, windows, mods, float(graph.dt_ms), feeds)


def _port_mode(name: str, sequences: dict) -> dict:
    """An input port's mode: ``steps`` (written in each of the first T steps) for a per-step
    graph input, else ``hold``."""
    if name in sequences:
        return {"mode": "steps", "steps": int(sequences[name])}
    return {"mode": "hold"}


def _set_outputs(outs: dict, net: str, core: int, outputs: list) -> None:
    """Output ports of the set units of ``net``: its last layer's ``acc`` (linear) or ``y``."""
    for unit, (mnet, _, _, _, scale, buffer) in outs.items():
        if mnet == net:
            outputs.append({"name": unit, "size": len(scale), "parts": [
                {"core": core, "buffer": buffer, "lo": 0, "hi": len(scale), "at": 0}]})


def _check_partial_sums(pop: HPop, blocks: list, chip, steps) -> None:
    """The sum of the partial sums is the one-core integer result when nothing saturates
    (module docstring, "Fan-in beyond a core"): refuse (rule ``fan_in``) otherwise."""
    top = (1 << (chip.accumulator_bits - 1)) - 1
    total = sum(np.abs(np.concatenate([s[4] for s in blk]).astype(np.int64)).sum(axis=0)
                for blk in blocks)
    s_max = int(total.max(initial=0))
    fan = sum(s[3] - s[2] for blk in blocks for s in blk)
    if pop.form != "integrator":
        if s_max > top:
            R.refuse("fan_in", pop.name, f"{fan} axons over {len(blocks)} cores: a step's sum "
                     f"may reach {s_max} codes, beyond the {chip.accumulator_bits}-bit "
                     "accumulator")
        return
    init = int(np.max(np.abs(pop.codes["init"]), initial=0))
    exact = (top - init) // max(s_max, 1)
    pop.max_steps = exact if pop.max_steps is None else min(pop.max_steps, exact)
    if steps is not None and int(steps) > exact:
        R.refuse("fan_in", pop.name, f"{fan} axons over {len(blocks)} cores: {steps} steps of "
                 f"up to {s_max} codes (+ {init}) leave the {chip.accumulator_bits}-bit "
                 f"accumulator (exact for at most {exact} steps)")


def _per_core(arrays: dict, key: str, value, lo: int, hi: int):
    """A lif register of the core holding neurons lo:hi: the int, or (per-neuron values) the
    register or array :func:`hnnbio.chip.snn._register` makes of the core's slice."""
    if np.ndim(value) == 0:
        return int(value)
    return _register(arrays, key, np.asarray(value)[lo:hi])


def _spread_sends(core: CoreProgram) -> None:
    """Phase 1 may hold several sends (one per delay); a phase holds one router op, so the
    further ones go to phases 5, 6, ... (after everything that reads them in phase 1 .. 4)."""
    sends = [i for i in core.phases.get(1, []) if i.op == "send"]
    if len(sends) <= 1:
        return
    core.phases[1] = [i for i in core.phases[1] if i.op != "send"] + sends[:1]
    free = max(core.phases) + 1
    for k, ins in enumerate(sends[1:]):
        # a delay-0 send after phase 1 lands in the same step, too late for phase 2 readers
        if ins.args["delay"] == 0:
            raise AssertionError("only the first send of a core may have delay 0")
        core.phases[max(free, 5) + k] = [ins]


def _layer_error(layer: Layer) -> float:
    """Largest weight rounding error relative to the largest weight of the layer."""
    decoded = layer.q.weight.T * 2.0 ** -layer.q.e_w[:, None]
    return float(np.max(np.abs(decoded - layer.weight)) / max(np.max(np.abs(layer.weight)),
                                                                1e-300))


def _weight_error(pop: HPop) -> float:
    worst = 0.0
    for _, _, codes, W in pop.incoming:
        top = np.max(np.abs(W))
        if top > 0:
            worst = max(worst, float(np.max(np.abs(codes * pop.wlsb - W)) / top))
    return worst


def run_hybrid_graph(graph, steps: int, values=None, seed: int = 0) -> tuple[dict, dict]:
    """``hnnbio run FILE --backend emulator`` for a hybrid graph of no experiment kind: compiled
    by :func:`compile_hybrid` and run on the interpreter. ``values``: what ``--input`` gave, as
    the Brian2 back end takes it ((B, size) held or (B, T, size) per step; a dict by input name
    where the graph has several). The rows: ``cores``, ``spike_counts`` (per spiking
    population, all samples and neurons together, as the Brian2 back end prints them) and
    ``input_rounding`` (:func:`input_rounding`), and the spikes (population -> (B, steps, size)
    0/1)."""
    names = [i.name for i in graph.inputs]
    if values is None or isinstance(values, dict):
        inputs = dict(values or {})
    elif len(names) != 1:
        raise DataError(f"inputs: the graph has {len(names)} inputs: give a dict by name")
    else:
        inputs = {names[0]: values}
    sequences = {k: int(np.shape(v)[1]) for k, v in inputs.items() if np.ndim(v) == 3}
    compiled = compile_hybrid(graph, sequences=sequences)
    result = run_hybrid(compiled, inputs, steps, seed)
    rows = {"cores": len(compiled.program.cores),
            "spike_counts": {k: int(v.sum()) for k, v in result["spikes"].items()},
            "input_rounding": input_rounding(compiled, inputs)}
    return rows, result["spikes"]


def input_rounding(compiled: HybridCompiled, inputs: dict) -> float:
    """The largest change of an input value by its code: ``|X - round(16 X) / 16|`` for a
    population's input, ``|X - round(128 X) / 128|`` for a network's. 0 for values on the grid
    (the digits' grey levels / 16); beyond it, the drive of a neuron moves by up to 1/32 of the
    input's full scale and its rate with it."""
    worst = 0.0
    scales = [(p.input, INPUT_SCALE) for p in compiled.pops.values() if p.input]
    scales += [(name, 2 ** NET_INPUT_EXP) for name, _ in compiled.feeds.values()]
    for name, scale in scales:
        x = np.asarray(inputs[name], dtype=float)
        worst = max(worst, float(np.max(np.abs(x - np.rint(x * scale) / scale), initial=0.0)))
    return worst


def run_hybrid(compiled: HybridCompiled, inputs: dict, steps: int, seed: int = 0,
               batch: int = 256) -> dict:
    """Run a compiled hybrid program on the interpreter in batches.

    ``inputs``: input name -> (B, size) values in [0, 1] (held). Returns ``spikes`` (population ->
    (B, steps, size) 0/1), ``readout`` (integrator -> (B, size) volt after the last step),
    ``modulation`` (unit -> (B, steps, size) codes / 255 applied in each step), ``counters``.
    """
    from hnnbio.chip.interpreter import Machine

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
    for pop in compiled.pops.values():
        if pop.max_steps is not None and steps > pop.max_steps:
            raise ParameterError(f"steps: {pop.name}'s partial sums stay exact for at most "
                                 f"{pop.max_steps} steps, got {steps}")
    names = {p.input for p in compiled.pops.values() if p.input} | {
        name for name, _ in compiled.feeds.values()}
    missing = [n for n in names if n not in inputs]
    if missing:
        raise DataError(f"inputs: no values given for input {missing[0]!r}")
    total = np.shape(next(iter(inputs.values())))[0] if inputs else 1
    if total < 1:
        raise DataError("inputs: no samples (0 rows): give at least one")
    spiking = [p.name for p in compiled.pops.values() if p.form in ("driven", "leaky")]
    readouts = [p.name for p in compiled.pops.values() if p.form == "integrator"]
    parts = {k: [] for k in ("spikes", "readout", "modulation", "outputs")}
    counters: dict = {}
    machine = Machine(compiled.program)
    for start in range(0, total, batch):
        chunk = {k: np.asarray(v)[start:start + batch] for k, v in inputs.items()}
        b = next(iter(chunk.values())).shape[0] if chunk else 1
        machine.reset(b, seed, compiled.encode(chunk), first_sample=start)
        out = machine.run(steps, ports=spiking + readouts + list(compiled.mods)
                          + list(compiled.outs))
        parts["spikes"].append({k: out[k].astype(np.int8) for k in spiking})
        parts["readout"].append({k: compiled.decode_readout(k, out[k][:, -1]) for k in readouts})
        parts["modulation"].append({k: out[k] / ATT_SCALE for k in compiled.mods})
        parts["outputs"].append({k: _applied(out[k], *compiled.outs[k][2:5])
                                 for k in compiled.outs})
        for k, v in machine.counters.items():
            counters[k] = counters.get(k, 0) + v
    result = {key: {k: np.concatenate([p[k] for p in rows]) for k in rows[0]}
              for key, rows in parts.items()}
    result["counters"] = counters
    return result


def _applied(codes: np.ndarray, delay: int, initial: float, scale: np.ndarray) -> np.ndarray:
    """A set unit's values applied in each step, (B, steps, n) float: the network's value made
    at step t (decoded codes times ``scale``) applies at t + delay, the initial before."""
    value = codes * scale
    out = np.full(value.shape, initial, dtype=float)
    if delay < value.shape[1]:
        out[:, delay:] = value[:, :value.shape[1] - delay]
    return out


def driven_count_bounds(compiled: HybridCompiled, name: str, x: np.ndarray, att: float | None,
                        steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (lo, hi) on the spike count over ``steps`` steps of each neuron of the driven
    population ``name`` under the held input ``x`` (B, n) in [0, 1] and a constant modulation
    value ``att`` (None without modulation), for both the chip and Brian2's exact integration
    ``v' = a v + (1 - a) K x att`` (the network's own LUT error is not part of it: give the
    modulation value the chip applies).

    In membrane codes the exact drive is ``b = g 16 x c`` (``c = 255 att / 16`` codes of m per
    input code with M, 1 without). The chip's drive differs by less than ``e``: the rounding of
    the input code ``dx = |round(16 x) - 16 x|`` (``g c dx``; 0 for x in sixteenths, as the
    digits' grey levels); with M, the floor of ``m`` centred by ``v_leak`` (``g / 2``) and the
    rounding of ``a`` (``g / 2``); plus one code of the leak's floor. Both membranes start at the
    reset 0 and stay >= 0, so they lie between ``L' = max(0, a_lo L + b - e)`` and
    ``H' = a_hi H + b + e`` (``a_lo, a_hi`` = min and max of ``a`` and ``alpha / 256``); every
    interval lies between the first crossings ``n_lo`` (of H over the lower of the two
    thresholds, chip code and exact) and ``n_hi`` (of L over the higher), so the count lies in
    ``[floor(steps / n_hi), floor(steps / n_lo)]``."""
    pop = compiled.pops[name]
    if pop.form != "driven" or pop.codes["reset"] != 0 or pop.codes["init"] != 0:
        raise ParameterError(f"{name}: bounds need a driven population reset to and started "
                             "at 0")
    a = np.exp(-compiled.dt_ms / 1e3 / np.asarray(pop.tau, dtype=float))  # per neuron or one
    a_lo, a_hi = np.minimum(a, pop.alpha / 256), np.maximum(a, pop.alpha / 256)
    x = np.asarray(x, dtype=float)
    dx = np.abs(np.rint(x * INPUT_SCALE) - x * INPUT_SCALE)  # the input code's rounding
    if pop.mod is None:
        b, e = DRIVE_GAIN * INPUT_SCALE * x, DRIVE_GAIN * dx + 1
    else:
        per_code = att * ATT_SCALE / INPUT_SCALE  # codes of m per input code
        b = DRIVE_GAIN * INPUT_SCALE * x * per_code
        e = DRIVE_GAIN * (dx * per_code + 1) + 1.0
    th_exact = np.asarray(pop.threshold / pop.lsb, dtype=float)
    th_code = np.asarray(pop.codes["threshold"], dtype=float)
    th_lo, th_hi = np.minimum(th_exact, th_code), np.maximum(th_exact, th_code)

    def first(alpha, drive, threshold, floor_zero):
        u = np.zeros(drive.shape)
        out = np.full(drive.shape, np.inf)
        for n in range(1, steps + 1):
            u = alpha * u + drive
            if floor_zero:
                u = np.maximum(u, 0.0)
            out[np.isinf(out) & (u > threshold)] = n
        return out

    n_lo = first(a_hi, b + e, th_lo, False)
    n_hi = first(a_lo, b - e, th_hi, True)
    lo = np.where(np.isinf(n_hi), 0, np.floor(steps / n_hi))
    hi = np.where(np.isinf(n_lo), 0, np.floor(steps / n_lo))
    return lo.astype(np.int64), hi.astype(np.int64)


#: Training images (index < 1400, the first ones) a classification model's ReLU ranges are
#: calibrated on (:func:`classification_calibration`).
CALIBRATION_IMAGES = 128


def classification_calibration(graph, settings: dict, images: int = CALIBRATION_IMAGES,
                               grey_max: float = 16.0) -> dict:
    """Calibration samples (:func:`calibration_samples`) of a classification model's networks:
    its program compiled without calibration, run on the first ``images`` training digits
    (index < 1400; never the evaluation split); ``{}`` for a graph without networks, or the
    graph's own ``experiment["chip_calibration"]``."""
    own = getattr(graph, "experiment", {}).get("chip_calibration")
    if own is not None:
        return own
    if not graph.networks:
        return {}
    from hnnbio.data.digits import load_digits

    compiled = compile_hybrid(graph, calibration={})
    grey, _ = load_digits("train")
    grey = np.asarray(grey[:images], dtype=float).reshape(min(images, len(grey)), -1)
    enc = compiled.pops[settings["encoding"]]
    return calibration_samples(compiled, {enc.input: grey / grey_max}, graph.steps)


def run_classification_on_chip(graph, settings: dict, grey: np.ndarray, labels=None,
                               steps: int | None = None, grey_max: float = 16.0,
                               batch: int = 256, seed: int = 0) -> dict:
    """A classification model (``[experiment] kind = "classification"``, its trained weights in
    ``graph``, as :func:`hnnbio.experiments.classification.model_graphs` returns it) on the
    interpreter: the rows :func:`hnnbio.experiments.classification.evaluate` returns
    (``predictions``, ``counts`` per population (B, n), ``samples``, ``steps``,
    ``spikes_per_sample``, ``spikes_per_population``, ``accuracy`` with labels, ``attention``:
    the modulation applied at each step, (B * steps, n)) plus ``cores`` and ``counters``.

    ``grey``: (B, n_pixels) grey levels 0 .. grey_max; the class is the readout integrator with
    the largest v after the last step.
    """
    steps = steps if steps is not None else graph.steps
    compiled = compile_hybrid(graph, calibration=classification_calibration(graph, settings))
    enc = compiled.pops[settings["encoding"]]
    readout = settings["readout"]
    if readout not in compiled.pops or compiled.pops[readout].form != "integrator":
        R.refuse("hybrid_population", readout, "the readout must be an integrator (v : volt)")
    grey = np.asarray(grey, dtype=float)
    result = run_hybrid(compiled, {enc.input: grey / grey_max}, steps, seed, batch)
    pred = np.argmax(result["readout"][readout], axis=1)
    recorded = {p.name for p in graph.populations if p.record}
    counts = {k: v.sum(axis=1).astype(np.int64) for k, v in result["spikes"].items()
              if k in recorded}
    total = sum(int(c.sum()) for c in counts.values())
    out = dict(predictions=pred, counts=counts, samples=len(grey), steps=steps,
               spikes_per_sample=total / len(grey),
               spikes_per_population={k: float(c.sum() / len(grey)) for k, c in counts.items()},
               cores=len(compiled.program.cores), counters=result["counters"])
    if result["modulation"]:
        att = next(iter(result["modulation"].values()))
        out["attention"] = att.reshape(-1, att.shape[-1]).astype(np.float32)
    if labels is not None:
        out["accuracy"] = float(np.mean(pred == np.asarray(labels)))
    return out


def run_continual_on_chip(graph, settings: dict, images: np.ndarray, tasks: np.ndarray,
                          labels=None, steps: int | None = None, grey_max: float = 16.0,
                          batch: int = 256, seed: int = 0) -> dict:
    """A continual model's graph (``[experiment] kind = "continual"``, trained weights in place,
    its task encoder a plain Linear chain as
    :func:`hnnbio.experiments.continual.chip_graph` gives it; or the baseline graph without
    encoder) on the interpreter: the rows :func:`hnnbio.experiments.continual.evaluate` returns
    (``predictions``, ``counts`` per recorded population (N, n), ``samples``, ``steps``,
    ``spikes_per_sample``, ``spikes_per_population``; with labels ``per_task_accuracy`` and
    ``mean_accuracy``) plus ``cores``, ``counters`` and ``gates`` (the modulation the hidden
    population received at step 0, (N, n), when the graph has the encoder).

    ``images``: (N, n_pixels) permuted grey levels 0 .. grey_max; ``tasks``: (N,) task indices
    (the one-hot task input of the encoder); the class is the readout integrator with the largest
    v after the last step.
    """
    steps = steps if steps is not None else graph.steps
    compiled = compile_hybrid(graph)
    enc = compiled.pops[settings["encoding"]]
    readout = settings["readout"]
    if readout not in compiled.pops or compiled.pops[readout].form != "integrator":
        R.refuse("hybrid_population", readout, "the readout must be an integrator (v : volt)")
    images = np.asarray(images, dtype=float)
    tasks = np.asarray(tasks)
    n_tasks = int(settings["tasks"])
    if tasks.shape != (len(images),) or not np.issubdtype(tasks.dtype, np.integer) \
            or tasks.min(initial=0) < 0 or tasks.max(initial=0) >= n_tasks:
        raise DataError(f"tasks: must be {len(images)} task indices in 0..{n_tasks - 1}")
    inputs = {enc.input: images / grey_max}
    if any(name == settings["task_input"] for name, _ in compiled.feeds.values()):
        inputs[settings["task_input"]] = np.eye(n_tasks)[tasks]
    result = run_hybrid(compiled, inputs, steps, seed, batch)
    pred = np.argmax(result["readout"][readout], axis=1)
    recorded = {p.name for p in graph.populations if p.record}
    counts = {k: v.sum(axis=1).astype(np.int64) for k, v in result["spikes"].items()
              if k in recorded}
    total = sum(int(c.sum()) for c in counts.values())
    out = dict(predictions=pred, counts=counts, samples=len(images), steps=steps,
               spikes_per_sample=total / len(images),
               spikes_per_population={k: float(c.sum() / len(images)) for k, c in counts.items()},
               cores=len(compiled.program.cores), counters=result["counters"])
    if result["modulation"]:
        out["gates"] = next(iter(result["modulation"].values()))[:, 0].astype(np.float32)
    if labels is not None:
        hit = pred == np.asarray(labels)
        out["per_task_accuracy"] = [float(hit[tasks == k].mean()) for k in range(n_tasks)]
        out["mean_accuracy"] = float(np.mean(out["per_task_accuracy"]))
    return out



def run_tracking_on_chip(graph, settings: dict, inputs: dict, boxes=None, batch: int = 16,
                         seed: int = 0, calibration: dict | None = None) -> dict:
    """A tracking model (``[experiment] kind = "tracking"``, trained weights in ``graph``, as
    :func:`hnnbio.experiments.tracking.model_graph` returns it) on the interpreter: the rows
    :func:`hnnbio.experiments.tracking.evaluate` returns (``fused`` and ``framed`` boxes
    (B, T, 4) in pixels, ``streams``, ``steps``, ``spikes_per_stream``,
    ``spikes_per_population``, with true ``boxes`` the IoUs ``iou``, ``iou_baseline``) plus
    ``cores`` and ``counters``.

    ``inputs``: ``events`` (B, T, 2 P) counts and ``frames`` (B, T, P) intensities in [0, 1],
    both per step (the frame network, ``every = k``, reads the frames of steps k floor(t / k)).
    """
    from hnnbio.data.events import iou

    events = np.asarray(inputs["events"], dtype=float)
    frames = np.asarray(inputs["frames"], dtype=float)
    B, T = events.shape[:2]
    names = {settings["events"]: events, settings["frames"]: frames}
    compiled = compile_hybrid(graph, calibration=calibration, sequences={k: T for k in names})
    result = run_hybrid(compiled, names, T, seed, batch)
    side = settings["side"]
    fused = result["outputs"][settings["box"]] * side
    framed = result["outputs"][settings["frame_box"]] * side
    recorded = {p.name for p in graph.populations if p.record}
    counts = {k: v.sum(axis=1).astype(np.int64) for k, v in result["spikes"].items()
              if k in recorded}
    out = dict(fused=fused, framed=framed, streams=B, steps=T,
               spikes_per_stream=float(sum(c.sum() for c in counts.values()) / B),
               spikes_per_population={k: float(c.sum() / B) for k, c in counts.items()},
               cores=len(compiled.program.cores), counters=result["counters"])
    if boxes is not None:
        out["iou"] = iou(fused[:, 1:], boxes[:, 1:])  # step 0: no fused box yet
        out["iou_baseline"] = iou(framed[:, 1:], boxes[:, 1:])
    return out
