r"""Compile spiking HNN graphs (inputs, LIF populations, synapses) to chip programs (ISA v2).

Supported: :class:`~hnnbio.hnn.nodes.Input` nodes, populations of ``model = "lif"``
(:mod:`hnnbio.neurons.lif`), ``model = "self_inhibiting"`` (its continuous form: the autapse
current ``i_self`` is a third state fed by the core's own spikes, delay 0) or of the LIF
equations :mod:`hnnbio.nir` writes (NIR's
``tau dv/dt = v_leak - v + r I``), synapses that jump ``v`` (``v_post += w * r / tau`` as
hnnbio.nir writes them, or ``v_post += w``) or jump ``i_syn`` of a ``lif`` target
(``i_syn_post += w``, hnnbio's own synapse, or ``i_syn_post += w / tau_syn_post``, a NIR
CubaLIF) with ``one_to_one``, ``all_to_all`` or ``i, j`` connections and uniform or
per-connection delays. Everything else is refused by a named rule
(:mod:`hnnbio.chip.snn_rules`).

Integer form. Per population, membrane codes are ``u = (v - v_rest) / 2**e`` (one power-of-two
LSB ``2**e`` volt per population). Brian2 integrates ``v`` exactly for an input held over the
step: ``u[n+1] = a u[n] + (1 - a) R I[n] / 2**e`` with ``a = exp(-dt / tau)``. The chip's LIF does
``u[n+1] = floor(alpha u[n] / 256) + input``, so ``alpha = round(256 a)`` and the drive code is
``round((1 - a_q) R I / 2**e)`` with ``a_q = alpha / 256`` (the fixed point stays exact; only the
time constant moves, to ``tau_q = -dt / ln a_q``). ``a``, ``alpha`` and the threshold are per
neuron: the lif op takes a register where a core's neurons agree and a per-neuron array
(``c{core}.alpha`` uint8, ``c{core}.threshold`` int32) where they differ, and so do the i_syn and
i_self states (``c{core}.syn.alpha``, ``c{core}.self.alpha``); the reset and the initial ``v``
(relative to ``v_rest``) stay one value per population (rule ``heterogeneous_parameters``).
A spike of step n with a Brian2 delay of d
steps jumps ``v`` by ``J`` at the end of step n + d (after the threshold), which leaks once before
the next threshold check: on the chip it is a send with delay ``d + 1`` and an int8 weight
``round(a_q J / 2**e)``. A population whose fan-in leaves spare axons gets ``k = min(16,
axons_per_core // fan_in)`` axons per presynaptic neuron (the send lists the k slices): a weight
code is the sum of k int8 parts. ``e`` is the smallest exponent that holds the largest weight
in ``127 k``, and at least the one that puts the threshold near ``2**20`` codes.

Errors. The leak alone scales every inter-spike interval by ``tau_q / tau``: the compile-time
bound ``|ln a / ln a_q - 1|`` of the worst neuron (rule ``leak_resolution``, default tolerance
3 %). Under a constant
drive the chip's interval is bracketed exactly (:func:`constant_drive_bounds`): the floor of the
leak takes less than one code per step, so the chip's membrane lies between the recursions
``L' = a_q L + b - 1`` and ``H' = a_q H + b``; their first threshold crossings bound its interval,
compared with the Brian2 interval ``floor(T / dt) + 1``. A jump arriving in the step its target
fires is lost in Brian2 (the reset follows the synapses) and kept on the chip.

Synaptic current. ``i_syn`` is a second, never-firing LIF state per core (``isyn``, alpha
``round(256 exp(-dt / tau_syn))``) holding codes of ``(1 - a_q) R i_syn``, which the membrane's
``accumulate`` adds like a drive. Brian2 updates ``v`` with the ``i_syn`` of the step's start,
then decays ``i_syn`` and adds the jumps of the step's spikes (delay d: spikes of step n - d);
the chip updates ``isyn`` in the last phase, after every send, with a send delay of d (0
allowed). Its floor errs by up to one code per step, i.e. up to ``1 / (1 - a_s)`` codes of drive.

Layout. One population = cores of at most ``neurons_per_core`` neurons; core buffers ``pre``
(1-bit spikes of every presynaptic slice), ``syn`` (their matvec), ``drive`` (input port),
``acc``, ``v``, ``ref``, ``spikes``. Phase 0: ``matvec(pre)``; phase 1: ``accumulate(syn, drive,
bias) -> lif -> send`` (first delay); phases 2..: a send per further delay; last (cores with
an ``i_syn``): ``matvec(pre_i) -> lif(isyn)``.

Fan-in beyond a core. The v-jump axons of a core beyond ``axons_per_core`` go in blocks of
``axons_per_core`` to partial-sum cores (:mod:`hnnbio.chip.partial`: same routes and delays,
``matvec`` in phase 0, the sums sent with delay 0 to ``p1, p2, ...`` of the target, added by its
phase-1 ``accumulate``), the first block on the core itself unless i_syn or autapse axons share
it (then every block goes out). Jumps of ``i_syn`` beyond a core go out the same way, every
block on a partial-sum core (``pi1, pi2, ...``), whose matvec and send run one phase before the
i_syn update (after every spike send, so delay-0 spikes have landed), which ``accumulate``\s
them. Exact: spikes are 0/1, so each partial sum is bounded by its column's sum of ``|w|`` and
the total is the one-core matvec unless it could saturate the accumulator (refused, rule
``fan_in``). The autapse of self-inhibiting neurons does not split (rule ``fan_in``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hnnbio.chip import snn_rules as R
from hnnbio.chip.isa import CoreProgram, Instruction, routes_of
from hnnbio.chip.partial import axon_blocks, partial_bits, partial_sum_ops, route_block
from hnnbio.chip.program import Program
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import DataError, DesignRuleError, ParameterError

#: Synapse statements that jump v: normalised on_pre -> the factor of w (names of post params).
V_JUMPS = {"v_post+=w*r_mem_post/tau_mem_post": ("r_mem", "tau_mem"),
           "v_post+=w*r_post/tau_post": ("r", "tau"), "v_post+=w": None}
#: Synapse statements that jump i_syn (model lif): on_pre -> divided by tau_syn (NIR CubaLIF)?
I_JUMPS = {"i_syn_post+=w": False, "i_syn_post+=w/tau_syn_post": True}
TOLERANCE = 0.03
MAX_COPIES = 16
THRESHOLD_CODE = 1 << 20
LIF_KEYS = {"lif": ("tau_mem", "r_mem", "v_rest", "v_reset", "v_threshold", "i_bias"),
            "equations": ("tau", "r", "v_leak", "v_reset", "v_threshold", "i_bias")}


@dataclass
class Pop:
    """A lowered population: its quantised registers, codes and cores."""

    name: str
    size: int
    tau: np.ndarray  # per neuron (the lif op takes per-neuron alpha and threshold arrays)
    r: np.ndarray
    v_rest: np.ndarray
    i_bias: np.ndarray
    rel: dict  # threshold (per neuron), reset, init (volt, relative to rest)
    refractory: int
    input: str | None
    alpha: np.ndarray | None = None  # per neuron, round(256 exp(-dt / tau))
    exponent: int = 0
    leak_error: float = 0.0
    codes: dict = field(default_factory=dict)  # threshold (per neuron), reset, init
    bias: np.ndarray | None = None
    gain: np.ndarray | None = None  # drive codes per ampere, per neuron
    incoming: list = field(default_factory=list)  # (source, chip delay, W real (n_src, n))
    incoming_i: list = field(default_factory=list)  # the same for jumps of i_syn (ampere)
    tau_syn: np.ndarray | None = None  # per neuron; None: no i_syn state
    alpha_syn: np.ndarray | None = None
    copies: int = 1  # axons per presynaptic neuron: a weight code is the sum of int8 parts
    r_jump: np.ndarray | None = None  # r of v jumps (r_mem; r is the drive's, C r_mem)
    tau_self: np.ndarray | None = None  # self_inhibiting: the autapse current's state
    alpha_self: np.ndarray | None = None
    w_self: np.ndarray | None = None  # -R w_self per neuron (volt), jump of R i_self per spike
    self_codes: tuple | None = None
    cores: list = field(default_factory=list)  # (core id, lo, hi)


@dataclass
class Compiled:
    """A program and what the host needs to drive it (input gains, populations)."""

    program: Program
    pops: dict
    dt_ms: float
    input_mode: str

    def encode(self, inputs: dict, steps: int | None = None) -> dict:
        """Input currents (ampere) -> the ports' integer codes."""
        out = {}
        for pop in self.pops.values():
            if pop.input is None:
                continue
            values = np.asarray(inputs[pop.input], dtype=float)
            codes = np.rint(values * pop.gain).astype(np.int64)
            if self.input_mode == "steps":
                codes = codes[:, :steps]
            out[f"{pop.input}.{pop.name}"] = codes
        return out


def _lif_form(text: str) -> list[str] | None:
    """The inputs (``[]`` or ``["i_in"]``) when ``text`` is the LIF form hnnbio.nir writes
    (``hnnbio.nir.forms.equations("LIF", inputs)``, which chip may not import: same floor), else
    None. Test (c) of tests/chip/test_snn_compile.py checks the two agree."""
    lines = sorted(" ".join(ln.split("#", 1)[0].split()) for ln in text.splitlines())
    lines = [ln for ln in lines if ln]
    for inputs in ([], ["i_in"]):
        want = ["dv/dt = (v_leak - v + r * I_total) / tau : volt",
                f"I_total = {' + '.join(['i_bias', *inputs])} : amp",
                "tau : second (constant)", "r : ohm (constant)", "v_leak : volt (constant)",
                "v_threshold : volt (constant)", "v_reset : volt (constant)",
                "i_bias : amp (constant)", *(f"{k} : amp" for k in inputs)]
        if lines == sorted(want):
            return inputs
    return None


def _si(value, size: int, node: str, key: str) -> np.ndarray:
    if isinstance(value, str):
        R.refuse("unsupported_model", node, f"parameter {key} is an expression ({value!r})")
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(size, float(arr))
    if arr.shape != (size,):
        R.refuse("unsupported_model", node, f"parameter {key} has shape {arr.shape}")
    return arr


def _population(p, dt_s: float) -> Pop:
    if p.model == "lif":
        from hnnbio.neurons.lif import LIFParams

        defaults = LIFParams()
        params = {k: p.params.get(k, getattr(defaults, k))
                  for k in (*LIF_KEYS["lif"], "t_ref", "tau_syn")}
        tau_syn = params["tau_syn"]
        tau, r, rest, reset, th, bias = (params[k] for k in LIF_KEYS["lif"])
        init = rest
        variable = "i_bias"
        t_ref = float(np.max(np.asarray(params["t_ref"])))
        steps = round(t_ref / dt_s)
        refractory = p.refractory_steps if p.refractory_steps is not None else max(steps - 1, 0)
    elif p.model == "self_inhibiting":
        from hnnbio.neurons.self_inhibiting import SelfInhibitingParams

        defaults = SelfInhibitingParams()
        params = {k: p.params.get(k, getattr(defaults, k)) for k in (
            *LIF_KEYS["lif"], "tau_syn", "tau_self", "gain", "w_self")}
        tau, r, rest, reset, th, bias = (params[k] for k in LIF_KEYS["lif"])
        tau_syn, init, variable = params["tau_syn"], rest, "i_bias"
        refractory = p.refractory_steps or 0
    elif p.equations is not None:
        threshold = (p.threshold or "").replace(" ", "")
        if _lif_form(p.equations) is None or threshold != "v>v_threshold" \
                or (p.reset or "").replace(" ", "") != "v=v_reset" or p.refractory:
            R.refuse("unsupported_model", p.name, "equations other than the LIF form of "
                     "hnnbio.nir (threshold v > v_threshold, reset v = v_reset)")
        missing = [k for k in LIF_KEYS["equations"] if k not in p.params]
        if missing:
            R.refuse("unsupported_model", p.name, f"parameter {missing[0]} is not given")
        tau, r, rest, reset, th, bias = (p.params[k] for k in LIF_KEYS["equations"])
        init = p.params.get("v", rest)
        variable = "i_in"
        refractory = p.refractory_steps or 0
        tau_syn = None
    else:
        kind = "model " + repr(p.model) if p.model else "circuit" if p.circuit else "group"
        R.refuse("unsupported_model", p.name, f"{kind} is not compiled (lif, NIR LIF equations)")
    if p.input is not None and p.input_variable != variable:
        R.refuse("input_variable", p.name, f"input writes {p.input_variable!r}; the chip's LIF "
                 f"takes its input current {variable!r}")
    n = p.size
    tau_a, r_a, rest_a = (_si(v, n, p.name, k) for v, k in ((tau, "tau"), (r, "r"),
                                                            (rest, "v_rest")))
    rel = {k: _si(v, n, p.name, k) - rest_a for k, v in (("threshold", th), ("reset", reset),
                                                         ("init", init))}
    bias_a = _si(bias, n, p.name, "i_bias")
    if p.model in ("lif", "self_inhibiting") and p.input is not None:
        bias_a = np.zeros(n)  # the input overwrites i_bias every step
    for key in ("reset", "init"):  # one register (reset) and one buffer init per core
        arr = rel[key]
        if np.ptp(arr) > 1e-12 * max(1.0, np.max(np.abs(arr))):
            what = "v_reset" if key == "reset" else "initial v"
            R.refuse("heterogeneous_parameters", p.name, f"{what} - v_rest differs between "
                     "neurons")
    rel = {"threshold": rel["threshold"], "reset": float(rel["reset"][0]),
           "init": float(rel["init"][0])}
    pop = Pop(p.name, n, tau_a, r_a, rest_a, bias_a, rel, int(refractory), p.input)
    pop.r_jump = r_a
    if p.model == "self_inhibiting":  # C (i_syn + i_bias) - i_self: drive and i_syn times C
        pop.r = r_a * _si(params["gain"], n, p.name, "gain")
        pop.tau_self = _si(params["tau_self"], n, p.name, "tau_self")
        pop.w_self = -_si(params["w_self"], n, p.name, "w_self") * r_a  # as a current times R
    if tau_syn is not None:
        pop.tau_syn = _si(tau_syn, n, p.name, "tau_syn")
    return pop


def _synapse(s, pops, dt_s: float, chip) -> None:
    if s.on_post or (isinstance(s.on_pre, dict)):
        R.refuse("synapse_form", s.name, "on_post and pathway tables are not compiled")
    if s.source not in pops or s.target not in pops:
        R.refuse("synapse_form", s.name, "connects nodes other than populations")
    statement = "".join(s.on_pre.split())
    current = statement in I_JUMPS
    if current and pops[s.target].tau_syn is None:
        R.refuse("synaptic_current", s.name, f"{s.on_pre!r}: the target has no i_syn")
    if statement.startswith("i_syn_post") and not current:
        R.refuse("synaptic_current", s.name, f"{s.on_pre!r} is not i_syn_post += w "
                 "[/ tau_syn_post]")
    if statement not in V_JUMPS and not current:
        R.refuse("synapse_form", s.name, f"on_pre {s.on_pre!r} is not a jump of v or i_syn")
    if isinstance(s.connect, dict) and "p" in s.connect:
        R.refuse("random_connectivity", s.name, "connect = {p} (give i and j)")
    from hnnbio.hnn.brian import local_pattern

    src, tgt = pops[s.source], pops[s.target]
    i, j = local_pattern(s, src.size, tgt.size, None)
    w = np.asarray(s.values.get("w", 0.0), dtype=float)
    w = np.broadcast_to(w, i.shape) if w.ndim == 0 else w
    if current:
        w = w / tgt.tau_syn[j] if I_JUMPS[statement] else w  # ampere
    elif V_JUMPS[statement] is not None:  # v_post += w * r / tau
        w = w * (tgt.r_jump / tgt.tau)[j]
    if "delay" in s.values:
        delay = np.asarray(s.values["delay"], dtype=float)
    else:
        delay = np.full(i.shape, 0.0 if s.delay is None else float(s.delay))
    delay = np.broadcast_to(delay, i.shape)
    # v jumps leak once before they count: delay d + 1; i_syn jumps count from the isyn phase
    # of the step they land in: delay d (0 allowed)
    chip_delay = np.array([R.check_delay(s.name, d / dt_s, chip) for d in delay], dtype=int)
    chip_delay -= int(current)
    for d in np.unique(chip_delay):
        m = chip_delay == d
        W = np.zeros((src.size, tgt.size))
        np.add.at(W, (i[m], j[m]), w[m])
        (tgt.incoming_i if current else tgt.incoming).append((src.name, int(d), W))


def alpha_codes(tau, dt_s: float) -> np.ndarray:
    """Per-neuron leak codes ``round(256 exp(-dt / tau))``, at most 255."""
    a = np.exp(-dt_s / np.atleast_1d(np.asarray(tau, dtype=float)))
    return np.minimum(255, np.rint(256 * a)).astype(np.int64)


def leak_codes(name: str, tau, dt_s: float, tolerance: float,
               what: str = "tau") -> tuple[np.ndarray, float]:
    """(:func:`alpha_codes`, the rate error bound ``|ln a / ln a_q - 1|`` of the worst neuron);
    refuses (rule ``leak_resolution``) when that neuron's time constant moves beyond the
    tolerance."""
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    a = np.exp(-dt_s / tau)
    alpha = alpha_codes(tau, dt_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(alpha > 0, np.abs(np.log(a) / np.log(alpha / 256) - 1), np.inf)
    worst = int(np.argmax(error))
    R.check_leak(name, float(error[worst]), tolerance, float(tau[worst] / dt_s),
                 int(alpha[worst]), what)
    return alpha, float(error[worst])


def _alpha(pop: Pop, tau: np.ndarray, dt_s: float, tolerance: float, what: str) -> np.ndarray:
    """:func:`leak_codes` of ``pop``, its worst error kept in ``pop.leak_error``."""
    alpha, error = leak_codes(pop.name, tau, dt_s, tolerance, what)
    pop.leak_error = max(pop.leak_error, error)
    return alpha


def _quantise(pop: Pop, dt_s: float, chip, tolerance: float) -> None:
    pop.alpha = _alpha(pop, pop.tau, dt_s, tolerance, "tau")
    aq = pop.alpha / 256
    if pop.incoming_i:
        pop.alpha_syn = _alpha(pop, pop.tau_syn, dt_s, tolerance, "tau_syn")
    self_w = None
    if pop.w_self is not None:
        pop.alpha_self = _alpha(pop, pop.tau_self, dt_s, tolerance, "tau_self")
        self_w = (1 - aq) * pop.w_self  # volt of drive per step per unit of i_self jump
    span = max(float(np.max(np.abs(v))) for v in pop.rel.values()) or 1.0
    e_th = math.floor(math.log2(span / THRESHOLD_CODE))
    wmax = max([np.max(np.abs(W * aq[None])) for _, _, W in pop.incoming]
               + [np.max(np.abs(W * ((1 - aq) * pop.r)[None])) for _, _, W in pop.incoming_i]
               + [np.max(np.abs(self_w)) if self_w is not None else 0.0] + [0.0])
    e_w = math.ceil(math.log2(wmax / (127 * pop.copies))) if wmax > 0 else e_th
    pop.exponent = e = max(e_th, e_w)
    lsb = 2.0 ** e
    pop.codes = {"threshold": np.rint(pop.rel["threshold"] / lsb).astype(np.int64),
                 "reset": round(pop.rel["reset"] / lsb), "init": round(pop.rel["init"] / lsb)}
    low, high = chip.membrane_range
    extremes = [int(np.min(pop.codes["threshold"])), int(np.max(pop.codes["threshold"])),
                pop.codes["reset"], pop.codes["init"]]
    if any(not low <= c <= high for c in extremes):
        R.refuse("weight_range", pop.name, f"membrane codes (threshold {extremes[0]}.."
                 f"{extremes[1]}, reset {extremes[2]}, initial {extremes[3]}) leave the "
                 f"{chip.membrane_bits}-bit membrane (weights force an LSB of 2**{e} V)")
    pop.gain = (1 - aq) * pop.r / lsb
    pop.bias = np.rint(pop.i_bias * pop.gain).astype(np.int64)
    pop.incoming = [(s, d, np.rint(W * aq[None] / lsb), W * aq[None])
                    for s, d, W in pop.incoming]
    pop.incoming_i = [(s, d, np.rint(W * pop.gain[None]), W * pop.gain[None] * lsb)
                      for s, d, W in pop.incoming_i]  # codes of (1 - a_q) R i_syn per step
    if self_w is not None:
        pop.self_codes = (np.rint(self_w / lsb), self_w)
    for s, _, codes, W in pop.incoming + pop.incoming_i:
        if np.any((codes == 0) & (W != 0)):
            R.refuse("weight_range", pop.name, f"a weight from {s} rounds to 0 at LSB "
                     f"2**{e} V (weights span more than int8)")


def compile_graph(model, chip: ChipSpec = TIANJIC_LIKE, *, tolerance: float = TOLERANCE,
                  input_mode: str = "hold", input_steps: int = 1) -> Compiled:
    """Compile a spiking HNN graph (graph, ``.toml`` file or shipped name) to a program.

    ``input_mode``: ``"hold"`` (one value per input element for the whole run) or ``"steps"``
    (``input_steps`` rows written at steps 0 .. input_steps - 1). Raises DesignRuleError (one
    line naming the rule and the node) for what the chip cannot run.
    """
    from hnnbio.chip.lower import load_graph

    if input_mode not in ("hold", "steps"):
        raise ParameterError(f"input_mode: {input_mode!r} is not hold or steps")
    graph = load_graph(model)
    R.check_graph(graph)
    dt_s = graph.dt_ms * 1e-3
    pops = {p.name: _population(p, dt_s) for p in graph.populations}
    for s in graph.synapses:
        _synapse(s, pops, dt_s, chip)
    for pop in pops.values():
        fan_in = sum(pops[src].size for src, _, _ in pop.incoming + pop.incoming_i)
        fan_in += pop.size if pop.w_self is not None else 0
        if fan_in:  # spare axons carry copies of each spike: finer LSB, same int8 weights
            pop.copies = max(1, min(MAX_COPIES, chip.axons_per_core // fan_in))
        _quantise(pop, dt_s, chip, tolerance)
        R.check_refractory(pop.name, pop.refractory, chip, bool(pop.incoming))
    # cores
    cid = 0
    for pop in pops.values():
        for lo in range(0, pop.size, chip.neurons_per_core):
            pop.cores.append((cid, lo, min(pop.size, lo + chip.neurons_per_core)))
            cid += 1
    R.check_mesh(graph.name, cid, chip)
    return _emit(graph, pops, chip, input_mode, input_steps)


def _emit(graph, pops, chip, input_mode, input_steps) -> Compiled:
    acc = chip.accumulator_bits
    cores, arrays, inputs, outputs, layers = [], {}, [], [], []
    sends: dict[int, dict[int, list]] = {}  # source core -> chip delay -> destinations
    plans = {}
    current_cores = {}  # cores with an i_syn state: core -> population
    i_partials = {}  # core -> its i_syn partial-sum cores (core, buffer, size, bits)
    self_cores = {}  # cores with an i_self state (self_inhibiting)
    next_core = sum(len(pop.cores) for pop in pops.values())  # partial-sum cores go after
    partial_cores = []
    for pop in pops.values():
        pop_partials = []
        for cid, lo, hi in pop.cores:
            n = hi - lo
            buffers = {"acc": _b(n, acc, True), "v": _b(n, chip.membrane_bits, True,
                                                         pop.codes["init"]),
                       "ref": _b(n, chip.refractory_bits), "spikes": _b(n, 1)}
            sources = []
            segments = _segments(pop, pop.incoming, pops, lo, hi)
            segments_i = _segments(pop, pop.incoming_i, pops, lo, hi)
            at_i = sum(seg[3] - seg[2] for seg in segments_i)
            at_s = n * pop.copies if pop.self_codes is not None else 0
            i_split = at_i + at_s > chip.axons_per_core  # then every i_syn block goes out
            blocks = _blocks(pop, segments, (0 if i_split else at_i) + at_s, chip)
            i_blocks = (_blocks(pop, segments_i, at_s, chip, own=False) if i_split
                        else [segments_i] if segments_i else [])
            phases = {}
            at = 0
            if blocks and blocks[0]:
                at = route_block(blocks[0], cid, "pre", sends)
                buffers.update(pre=_b(at, 1), syn=_b(n, acc, True))
                arrays[f"c{cid}.weight"] = np.concatenate([seg[4] for seg in blocks[0]]
                                                          ).astype(np.int8)
                phases[0] = [Instruction("axon", "matvec", {"x": "pre",
                                                            "weights": f"c{cid}.weight",
                                                            "out": "syn"})]
                sources.append("syn")
            # blocks beyond the core's axons: partial sums in phase 0, into p1, p2, ... by phase 1
            for k, block in enumerate(blocks[1:], start=1):
                part, bits = _partial_core(next_core, pop.name, block, n, chip, sends, arrays)
                part.phases[0] = partial_sum_ops(next_core, cid, f"p{k}", n, bits)
                partial_cores.append(part)
                buffers[f"p{k}"] = _b(n, bits, True)
                sources.append(f"p{k}")
                pop_partials.append(next_core)
                next_core += 1
            at_i = 0
            if i_blocks and i_blocks[0]:
                at_i = route_block(i_blocks[0], cid, "pre_i", sends)
                R.check_fan_in(pop.name, at + at_i, chip)
                buffers.update(pre_i=_b(at_i, 1), syn_i=_b(n, acc, True))
                arrays[f"c{cid}.syn.weight"] = np.concatenate([seg[4] for seg in i_blocks[0]]
                                                              ).astype(np.int8)
            # i_syn blocks beyond the core: partial sums in the phase before the i_syn update
            for k, block in enumerate(i_blocks[1:], start=1):
                part, bits = _partial_core(next_core, pop.name, block, n, chip, sends, arrays)
                partial_cores.append(part)  # its phase is set with the i_syn updates
                buffers[f"pi{k}"] = _b(n, bits, True)
                i_partials.setdefault(cid, []).append((part, f"pi{k}", n, bits))
                pop_partials.append(next_core)
                next_core += 1
            if i_blocks:
                if cid in i_partials:
                    buffers["acc_i"] = _b(n, acc, True)
                buffers.update(isyn=_b(n, chip.membrane_bits, True),
                               ref_i=_b(n, chip.refractory_bits), spk_i=_b(n, 1))
                current_cores[cid] = pop
                sources.append("isyn")
            at_s = 0
            if pop.self_codes is not None:  # the autapse: own spikes, delay 0, diagonal
                diag = []
                for part in _split(pop.self_codes[0][lo:hi], pop.copies):
                    sends.setdefault(cid, {}).setdefault(0, []).append(
                        {"core": cid, "buffer": "pre_s", "lo": 0, "hi": n, "at": at_s})
                    diag.append(np.diag(part))
                    at_s += n
                R.check_fan_in(pop.name, at + at_i + at_s, chip)
                buffers.update(pre_s=_b(at_s, 1), syn_s=_b(n, acc, True),
                               iself=_b(n, chip.membrane_bits, True),
                               ref_s=_b(n, chip.refractory_bits), spk_s=_b(n, 1))
                arrays[f"c{cid}.self.weight"] = np.concatenate(diag).astype(np.int8)
                self_cores[cid] = pop
                sources.append("iself")
            if pop.input is not None:
                buffers["drive"] = _b(n, 32, True)
                sources.append("drive")
                plans.setdefault(pop.input, []).append((pop, cid, lo, hi))
            if not sources:
                buffers["zero"] = _b(n, acc, True)
                sources.append("zero")
            bias = None
            if np.any(pop.bias[lo:hi]):
                bias = f"c{cid}.bias"
                arrays[bias] = np.clip(pop.bias[lo:hi], *chip.accumulator_range).astype(np.int32)
            lif = {"input": "acc", "v": "v", "refractory": "ref", "spikes": "spikes",
                   "rand": None, "alpha": _register(arrays, f"c{cid}.alpha", pop.alpha[lo:hi]),
                   "v_leak": 0, "v_threshold": _register(arrays, f"c{cid}.threshold",
                                                         pop.codes["threshold"][lo:hi]),
                   "noise_mask": 0,
                   "reset_mode": "value", "v_reset": pop.codes["reset"],
                   "refractory_steps": pop.refractory}
            phases[1] = [Instruction("axon", "accumulate", {"sources": sources, "bias": bias,
                                                            "out": "acc"}),
                         Instruction("soma1", "lif", lif)]
            x, y = chip.core_xy(cid)
            axons = (0, at + at_i + at_s or n)
            cores.append(CoreProgram(cid, x, y, pop.name, "lif", (lo, hi), axons, phases,
                                     buffers))
        outputs.append({"name": pop.name, "size": pop.size,
                        "parts": [{"core": c, "buffer": "spikes", "lo": lo, "hi": hi, "at": 0}
                                  for c, lo, hi in pop.cores]})
        layers.append({"name": pop.name, "kind": "lif",
                       "cores": [c for c, _, _ in pop.cores] + pop_partials})
    R.check_mesh(graph.name, next_core, chip)
    cores.extend(partial_cores)
    n_phases = 2
    for core in cores:
        for k, (delay, to) in enumerate(sorted(sends.get(core.core, {}).items())):
            send = Instruction("router", "send", {"what": "spikes", "to": to, "bits": 1,
                                                  "delay": delay})
            core.phases.setdefault(1 + k, []).append(send)
            n_phases = max(n_phases, 2 + k)
    top = (1 << (chip.membrane_bits - 1)) - 1
    # current states after every send, so the delay-0 spikes of this step have landed
    span_of = {c: (lo, hi) for pop in pops.values() for c, lo, hi in pop.cores}
    for states, x, w, out, v, ref, spk, alpha in (
            (current_cores, "pre_i", "syn", "syn_i", "isyn", "ref_i", "spk_i", "alpha_syn"),
            (self_cores, "pre_s", "self", "syn_s", "iself", "ref_s", "spk_s", "alpha_self")):
        if not states:
            continue
        # i_syn partial sums (and the core's own block) one phase before the update
        split = bool(i_partials) and states is current_cores
        for core in cores:
            pop = states.get(core.core)
            if pop is None:
                continue
            lo, hi = span_of[core.core]
            codes = getattr(pop, alpha)[lo:hi]
            lif = {"input": out, "v": v, "refractory": ref, "spikes": spk, "rand": None,
                   "alpha": _register(arrays, f"c{core.core}.{w}.alpha", codes), "v_leak": 0,
                   "v_threshold": top,
                   "noise_mask": 0, "reset_mode": "none", "v_reset": 0, "refractory_steps": 0}
            own = [Instruction("axon", "matvec", {"x": x, "weights": f"c{core.core}.{w}.weight",
                                                  "out": out})] if x in core.buffers else []
            parts = i_partials.get(core.core, []) if split else []
            if not split:
                core.phases[n_phases] = [*own, Instruction("soma1", "lif", lif)]
                continue
            for part, buffer, n, bits in parts:
                part.phases[n_phases] = partial_sum_ops(part.core, core.core, buffer, n, bits)
            if own:
                core.phases[n_phases] = own
            if parts:
                summed = ([out] if own else []) + [buffer for _, buffer, _, _ in parts]
                core.phases[n_phases + 1] = [
                    Instruction("axon", "accumulate", {"sources": summed, "bias": None,
                                                       "out": "acc_i"}),
                    Instruction("soma1", "lif", {**lif, "input": "acc_i"})]
            else:
                core.phases[n_phases + 1] = [Instruction("soma1", "lif", lif)]
        n_phases += 2 if split else 1
    for name, parts in plans.items():
        for pop, *_ in parts:
            port = {"name": f"{name}.{pop.name}", "size": pop.size, "mode": input_mode,
                    "parts": [{"core": c, "buffer": "drive", "lo": clo, "hi": chi, "at": 0}
                              for c, clo, chi in pop.cores]}
            if input_mode == "steps":
                port["steps"] = int(input_steps)
            if port not in inputs:
                inputs.append(port)
    n_neurons = sum(p.size for p in pops.values())
    manifest = {
        "model": {"name": graph.name, "dataset": "none", "image_shape": [1, n_neurons],
                  "nodes": {f"population.{p}": p for p in pops}},
        "chip": chip.to_dict(),
        "loop": {"steps_per_cycle": 1, "cycles": 1, "readout_cycles": 1,
                 "dt_ms": float(graph.dt_ms)},
        "sheet": {"n_pixels": n_neurons, "refractory_steps": 0, "keep": [256],
                  "delay_steps": 1},
        "layers": layers,
        "cores": [c.to_dict() for c in cores],
        "routes": routes_of(cores, chip.packet_bytes),
        "n_phases": n_phases,
        "ports": {"inputs": inputs, "outputs": outputs},
        "lfsr_shifts_per_step": 1,
        "lfsr_streams": 1,
        "quantization": {p.name: {"rel_rms_error": p.leak_error,
                                  "e_w": _weight_error(p), "shift": p.exponent,
                                  "e_out": int(np.max(p.codes["threshold"])),
                                  "alpha": _summary(p.alpha)}
                         for p in pops.values()},
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
    return Compiled(program, pops, float(graph.dt_ms), input_mode)


def _segments(pop, incoming, pops, lo: int, hi: int) -> list:
    """The axon segments (:mod:`hnnbio.chip.partial`) of the projections ``incoming`` onto
    neurons ``lo:hi`` of ``pop``: every source core's spikes, once per int8 part of the split
    weights, with the rows they meet."""
    return [(scid, delay, 0, shi - slo, part)
            for src, delay, codes, _ in incoming
            for scid, slo, shi in pops[src].cores
            for part in _split(codes[slo:shi, lo:hi], pop.copies)]


def _blocks(pop, segments: list, beside: int, chip, own: bool | None = None) -> list[list]:
    """One core's axons of one pathway (v or i_syn jumps) in blocks: one block when they fit
    beside the ``beside`` axons that stay on the core, else blocks of ``axons_per_core`` on
    partial-sum cores, block 0 on the core itself when ``own`` (default: nothing beside it),
    else empty. Refuses (rule ``fan_in``) what stays on the core beyond its axons and sums
    that could saturate the accumulator."""
    axons = sum(seg[3] - seg[2] for seg in segments)
    if not segments or axons + beside <= chip.axons_per_core:
        return [segments] if segments else []
    R.check_fan_in(pop.name, beside, chip)
    blocks = axon_blocks(segments, chip.axons_per_core)
    if not (beside == 0 if own is None else own):
        blocks = [[], *blocks]
    top = (1 << (chip.accumulator_bits - 1)) - 1
    bound = int(sum(np.abs(seg[4].astype(np.int64)).sum(axis=0) for seg in segments).max())
    if bound > top:
        R.refuse("fan_in", pop.name, f"{axons} axons over {len(blocks)} cores: a step's sum may "
                 f"reach {bound} codes, beyond the {chip.accumulator_bits}-bit accumulator")
    return blocks


def _partial_core(core: int, layer: str, block: list, n: int, chip, sends: dict,
                  arrays: dict) -> tuple[CoreProgram, int]:
    """A partial-sum core (no phases yet) holding ``block``'s int8 rows, fed by its routes;
    returns it and the bits of its partial-sum packets."""
    size = sum(seg[3] - seg[2] for seg in block)
    rows = np.concatenate([seg[4] for seg in block]).astype(np.int8)
    x, y = chip.core_xy(core)
    route_block(block, core, "pre", sends)
    arrays[f"c{core}.weight"] = rows
    part = CoreProgram(core, x, y, layer, "partial", (0, n), (0, size), {},
                       {"pre": _b(size, 1), "part": _b(n, chip.accumulator_bits, True)})
    return part, partial_bits(rows)


def _split(codes: np.ndarray, k: int) -> list[np.ndarray]:
    """``k`` int8 arrays that sum to ``codes`` (|codes| <= 127 k): equal parts toward zero, the
    remainder spread one code each over the first parts."""
    base = np.fix(codes / k)
    rem = codes - base * k
    return [base + np.sign(rem) * (c < np.abs(rem)) for c in range(k)]


def _register(arrays: dict, key: str, values: np.ndarray):
    """One register (an int) when ``values`` are equal on the core, else the key of a per-neuron
    array (alpha: uint8, threshold: int32, as :data:`hnnbio.chip.program.ARRAY_DTYPES`)."""
    if np.all(values == values[0]):
        return int(values[0])
    arrays[key] = values.astype(np.uint8 if key.endswith(".alpha") else np.int32)
    return key


def _summary(values: np.ndarray, cast=int):
    """A manifest entry for per-neuron values (codes: ``cast`` int; ``float`` for volts): the
    value when all are equal, else [min, max]."""
    low, high = cast(np.min(values)), cast(np.max(values))
    return low if low == high else [low, high]


def _b(size, bits, signed=False, init=0) -> dict:
    spec = {"size": int(size), "bits": int(bits), "signed": bool(signed)}
    if init:
        spec["init"] = int(init)
    return spec


def _weight_error(pop: Pop) -> float:
    """Largest weight rounding error relative to the largest weight of the population's input
    (at most 0.5 / 127 by the choice of the exponent; 0 without synapses)."""
    worst = 0.0
    lsb = 2.0 ** pop.exponent
    for _, _, codes, W in pop.incoming + pop.incoming_i:
        top = np.max(np.abs(W))
        if top > 0:
            worst = max(worst, float(np.max(np.abs(codes * lsb - W)) / top))
    return worst


def _first_crossing(u0, b, a, threshold, limit):
    """First n >= 1 with u[n] > threshold for u[n+1] = a u[n] + b (float64, per neuron); inf if
    none within ``limit`` steps."""
    u = np.array(u0, dtype=float) * np.ones_like(b)
    out = np.full(b.shape, np.inf)
    for n in range(1, limit + 1):
        u = a * u + b
        hit = np.isinf(out) & (u > threshold)
        out[hit] = n
        if not np.isinf(out).any():
            break
    return out


def constant_drive_bounds(compiled: Compiled, inputs: dict, limit: int = 100_000) -> dict:
    """Per population without incoming synapses, under constant drive: the Brian2 interval
    ``n_float`` (steps, from the reset), the chip's bracket ``[n_lo, n_hi]`` and the relative rate
    error bound ``max |n_float / n - 1|`` over the bracket (see the module docstring)."""
    out = {}
    for pop in compiled.pops.values():
        if pop.incoming or pop.incoming_i or pop.w_self is not None:
            continue
        current = pop.i_bias[None, :]
        if pop.input is not None:
            values = np.asarray(inputs[pop.input], dtype=float)
            if values.ndim == 3 and not np.all(values == values[:, :1]):
                continue  # not a constant drive
            current = values if values.ndim == 2 else values[:, 0]
        lsb = 2.0 ** pop.exponent
        a = np.exp(-compiled.dt_ms * 1e-3 / pop.tau)  # per neuron, as alpha and th
        aq = pop.alpha / 256
        drive = current + pop.i_bias if pop.input is not None else current
        b_float = (1 - a) * pop.r * drive / lsb
        b_chip = pop.bias + (np.rint(current * pop.gain) if pop.input is not None else 0)
        th, reset = pop.rel["threshold"] / lsb, pop.rel["reset"] / lsb
        n_float = _first_crossing(reset, b_float, a, th, limit) + pop.refractory
        tq, rq = pop.codes["threshold"], pop.codes["reset"]
        n_lo = _first_crossing(rq, b_chip, aq, tq, limit) + pop.refractory
        n_hi = _first_crossing(rq, b_chip - 1, aq, tq, limit) + pop.refractory
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.maximum(np.abs(n_float / n_lo - 1), np.abs(n_float / n_hi - 1))
        both_silent = np.isinf(n_float) & np.isinf(n_lo) & np.isinf(n_hi)
        err = np.where(both_silent, 0.0, np.nan_to_num(err, nan=np.inf))
        out[pop.name] = {"n_float": n_float, "n_lo": n_lo, "n_hi": n_hi, "bound": err}
    return out


def run_on_chip(path_or_graph, steps: int, inputs=None, seed: int = 0, *,
                chip: ChipSpec = TIANJIC_LIKE, tolerance: float | None = TOLERANCE) -> dict:
    """Compile a spiking graph and run it on the interpreter.

    Parameters
    ----------
    path_or_graph : HNN, str or Path
    steps : int
    inputs : ndarray or dict of input name -> (B, size) or (B, T, size) currents (ampere), as
        :func:`hnnbio.hnn.simulate` takes them.
    seed : int
        Seeds the LFSRs (none are used by LIF programs: the run is deterministic).
    tolerance : float or None
        Refuse (rule ``rate_error``) when the constant-drive rate bound of a neuron exceeds it.

    Returns
    -------
    dict: ``spikes`` (population -> (B, steps, size) 0/1), ``spike_counts`` (population ->
    (B, size)), ``bounds`` (:func:`constant_drive_bounds`), ``program``, ``counters``.
    """
    from hnnbio.chip.interpreter import Machine
    from hnnbio.chip.lower import load_graph

    graph = load_graph(path_or_graph)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
    names = [i.name for i in graph.inputs]
    if inputs is not None and not isinstance(inputs, dict):
        if len(names) != 1:
            raise DataError(f"inputs: the graph has {len(names)} inputs: give a dict by name")
        inputs = {names[0]: inputs}
    inputs = {k: np.asarray(v, dtype=float) for k, v in (inputs or {}).items()}
    missing = [n for n in names if n not in inputs]
    if missing:
        raise DataError(f"inputs: no values given for input {missing[0]!r}")
    for name, v in inputs.items():
        size = graph.node(name).size
        if v.ndim not in (2, 3) or v.shape[-1] != size or not np.isfinite(v).all():
            raise DataError(f"inputs: {name!r} must be finite, shape (B, {size}) or "
                            f"(B, T, {size}), got {v.shape}")
    batch = next(iter(inputs.values())).shape[0] if inputs else 1
    if batch < 1:
        raise DataError("inputs: no samples (0 rows): give at least one")
    stepped = any(v.ndim == 3 for v in inputs.values())
    if stepped:
        for name, v in inputs.items():
            if v.ndim == 2:
                inputs[name] = np.repeat(v[:, None], steps, axis=1)
            elif v.shape[1] < steps:
                raise DataError(f"inputs: {name!r} has {v.shape[1]} steps, the run needs "
                                f"{steps}")
    compiled = compile_graph(graph, chip, input_mode="steps" if stepped else "hold",
                             input_steps=steps,
                             tolerance=math.inf if tolerance is None else tolerance)
    bounds = constant_drive_bounds(compiled, inputs)
    if tolerance is not None:
        for name, b in bounds.items():
            if np.any(b["bound"] > tolerance):
                R.refuse("rate_error", name, f"constant-drive rate error bound "
                         f"{100 * float(np.max(b['bound'])):.2f} % > {100 * tolerance:g} %")
    machine = Machine(compiled.program)
    machine.reset(batch, seed, compiled.encode(inputs, steps))
    spikes = machine.run(steps, ports=list(compiled.pops))
    return {"spikes": spikes, "spike_counts": {k: v.sum(axis=1) for k, v in spikes.items()},
            "bounds": bounds, "program": compiled.program, "compiled": compiled,
            "counters": dict(machine.counters)}


def by_compiler(graph, spiking, hybrid):
    """``spiking(graph)`` or ``hybrid(graph)``, as the chip compiles a spiking (non-binding)
    graph: networks and units go to :mod:`hnnbio.chip.hybrid`; the rest to this module, and to
    the hybrid compiler where this one refuses the population forms (``unsupported_model``; its
    reason when neither maps the graph). :func:`hnnbio.chip.compiler.compile_model` and
    :func:`emulate_graph` both choose by it."""
    if graph.networks or graph.units:
        return hybrid(graph)
    try:
        return spiking(graph)
    except DesignRuleError as exc:
        if exc.rule != "unsupported_model":
            raise
        try:
            return hybrid(graph)
        except DesignRuleError:
            raise exc from None


def emulate_graph(graph, steps: int, values=None, seed: int = 0):
    """``hnnbio run FILE --backend emulator`` of a spiking or hybrid graph (compiled as
    :func:`by_compiler` chooses): (rows, result), the rows it prints (``spike_counts`` per
    population, all samples and neurons together, as the Brian2 back end prints them;
    ``rate_error_bound``: the largest constant-drive bound, where one applies; the hybrid
    compiler's ``input_rounding``) and an :class:`~hnnbio.hnn.result.HNNResult` of the chip's
    spikes (what ``--out`` writes)."""
    rows = {"model": graph.name, "backend": "emulator", "steps": steps}

    def spiking(g):
        result = run_on_chip(g, steps, values, seed)
        bounds = [float(np.max(b["bound"])) for b in result["bounds"].values()]
        rows.update({"cores": len(result["program"].cores),
                     "spike_counts": {k: int(v.sum())
                                      for k, v in result["spike_counts"].items()}})
        if bounds:
            rows["rate_error_bound"] = max(bounds)
        return result["spikes"]

    def hybrid(g):
        from hnnbio.chip.hybrid import run_hybrid_graph

        more, spikes = run_hybrid_graph(g, steps, values, seed)
        rows.update(more)
        return spikes

    spikes = by_compiler(graph, spiking, hybrid)
    return rows, spikes_result(graph.name, graph.dt_ms, spikes)


def spikes_result(name: str, dt_ms: float, spikes: dict):
    """An HNNResult of dense chip spikes (population -> (B, steps, size) 0/1), one row per spike
    in step order, as the Brian2 engine records them."""
    from hnnbio.hnn.result import HNNResult, Spikes

    out, shape = {}, (1, 0)
    for pop, arr in spikes.items():
        arr = np.asarray(arr)
        shape = arr.shape[:2]
        step, sample, neuron = np.nonzero(arr.transpose(1, 0, 2))
        out[pop] = Spikes(sample=sample, step=step, neuron=neuron, size=arr.shape[2])
    return HNNResult(name=name, n_samples=int(shape[0]), n_steps=int(shape[1]), dt_ms=dt_ms,
                     spikes=out, info={"backend": "emulator"})


def is_spiking(model) -> bool:
    """True for a graph this module compiles (anything but a binding experiment)."""
    from hnnbio.chip.lower import Graph, load_graph

    if isinstance(model, Graph):
        return False
    return load_graph(model).experiment.get("kind") != "binding"
