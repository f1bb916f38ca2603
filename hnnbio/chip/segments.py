r"""Compile dendritic-segment neurons (:mod:`hnnbio.neurons.segments`, NeuTNN) to ISA v2.

The network: ``n_channels`` input lines (0/1 per step) synapse onto the segments of N neurons
(``n_proximal`` proximal, ``n_distal`` distal segments each); a segment emits an event when at
least theta of its synapses were active within its window; proximal events drive the soma,
distal events lower its threshold for a plateau. Brian2's order (state update, thresholds,
synapses, resets) fixes the step arithmetic that the program computes:

- **count** ``c[m] = c[m-1] + x[m-1] - x[m-1-W]`` (W = window / dt, whole steps): the inputs of
  steps m - W .. m - 1, the box potentials of the segment at its threshold test of step m. One
  ``matvec`` of the input delayed by 1 and by W + 1 steps (weights +1 / -1; each core reads
  only the lines that synapse onto its segments), ``accumulate`` onto ``c``. Exact.
- **level** ``L[m] = c[m] >= theta`` (``lif`` with no memory, per-segment thresholds ``theta -
  1``) and **event** ``E[m] = L[m] and not L[m-1]`` (``matvec`` of ``[L[m]; L[m-1]]`` with
  weights ``[I; -I]``, then ``lif`` firing above 0): Brian2's boolean refractoriness "refractory
  while ``v >= v_threshold``" fires exactly on the rising edges of the level. Exact.
- **plateau** ``P[k] = 1`` when a distal event fell in steps ``k - p .. k - 1`` (p steps: the
  whole steps shorter than ``plateau``, as in Brian2): a box count of the distal events like the
  segment's count, ``lif`` above 0. Exact.
- **soma**, with ``a = exp(-dt / tau_mem)``: Brian2 tests ``u[k] >= v_th - shift P[k]``, resets
  to 0 after a spike (the jumps of the spike step are lost: the reset runs after the synapses)
  and otherwise ``u[k+1] = a (u[k] + w n[k])`` (n: proximal events). The core's membrane holds
  the shifted ``y = C (u + shift P)`` (C codes per volt), so the threshold is one register:
  ``y[k] = floor(alpha y[k-1] / 256) + I[k]`` with ``alpha = round(256 a)`` and
  ``I[k] = round(C a w) n[k-1] + S P[k] - (alpha S / 256) P[k-1] + (alpha S / 256) R[k]``,
  ``S = C shift`` a multiple of ``256 / gcd(alpha, 256)`` (so that the floor of the shifted
  membrane is the floor of the unshifted one plus an integer) and ``R[k] = P[k-1] and F[k-2]``
  (``hadamard``): after a spike the core holds ``y = 0`` for one refractory step (Brian2's
  ``u = 0``, whose test cannot fire because shift < v_th), so the ``P[k-1]`` term that the
  shifted membrane would have carried is added back. Fires when ``y >= ceil(C v_th)``.

So segment events and plateaus are those of Brian2, exactly, on the same input spikes; the soma
is Brian2's with its leak rounded to alpha / 256 and the event weight to ``round(C a w) / C``
(the rounding is in ``quantization``). Refused by rule ``segment_neuron`` (one line naming the
parameter): ``distal_gain`` != 0 (the gain mode), ``refractory`` != 0, ``v_reset`` != 0, a
window of no whole step, a window or plateau beyond the delay ring, more input lines than half
a core's axons.

Program (per sample; rows are samples): count cores of at most 128 segments (proximal ones by
whole neurons, each core also summing its neurons' events with a ``matvec``; then the distal ones
with their neurons' plateau counts), soma cores of as many
neurons as their event, plateau and correction axons allow. Ports: input ``channels``
(``steps``: one 0/1 frame per step), outputs ``soma`` (N), ``proximal`` (N * n_proximal) and
``distal`` (N * n_distal) events of the step.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hnnbio.chip.isa import CoreProgram, Instruction, routes_of
from hnnbio.chip.program import Program
from hnnbio.chip.snn import _b, _split
from hnnbio.chip.snn_rules import refuse as _refuse
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import DataError, ParameterError

INT8 = 127
#: The soma's event weight in membrane codes is at least this (split over int8 axon copies):
#: the floor of the leak then loses at most 1 code in 512 per step.
EVENT_CODES = 512
PORTS = ("soma", "proximal", "distal")
#: Phases of one step (see :func:`compile_segments`).
P_COUNT, P_LEVEL, P_NOW, P_PREV, P_EVENT = 0, 1, 2, 3, 4
P_LATE, P_PCOUNT, P_PLATEAU, P_PSEND, P_SOMA = 5, 6, 7, 8, 9


@dataclasses.dataclass
class SegmentCompiled:
    """A compiled segment network: the program and what the host needs to feed and read it."""

    program: Program
    n_neurons: int
    n_proximal: int
    n_distal: int
    n_channels: int
    steps: int
    codes_per_volt: float


def _copies(value: int) -> int:
    """Axon copies an integer weight needs so that each copy's share fits int8."""
    return max(1, math.ceil(abs(int(value)) / INT8))


def _shares(value: int, copies: int) -> list[int]:
    """``copies`` int8 integers summing to ``value`` (:func:`hnnbio.chip.snn._split`)."""
    return [int(part) for part in _split(np.asarray(value), copies)]


def _lif(inp, v, r, spikes, threshold):
    """A lif op without memory (alpha 0), reset or refractoriness: spikes = input > threshold."""
    return Instruction("soma1", "lif", {
        "input": inp, "v": v, "refractory": r, "spikes": spikes, "rand": None, "alpha": 0,
        "v_leak": 0, "v_threshold": threshold, "noise_mask": 0, "reset_mode": "none",
        "v_reset": 0, "refractory_steps": 0})


def _send(what, to, delay, bits=1):
    return Instruction("router", "send", {"what": what, "to": to, "bits": bits, "delay": delay})


def _to(core, buffer, lo, hi, at):
    return {"core": core, "buffer": buffer, "lo": lo, "hi": hi, "at": at}


def _runs(core: int, lines: np.ndarray) -> list[dict]:
    """Input-port parts writing the (sorted) ``lines`` of the port into ``x[0 .. len)``."""
    breaks = np.flatnonzero(np.diff(lines) != 1) + 1
    out, at = [], 0
    for run in np.split(lines, breaks):
        out.append({"core": core, "buffer": "x", "lo": int(run[0]), "hi": int(run[-1]) + 1,
                    "at": at})
        at += run.size
    return out


def _steps(value_s: float, dt_s: float, name: str, node: str) -> int:
    ratio = value_s / dt_s
    k = round(ratio)
    if k < 1 or abs(ratio - k) > 1e-9:
        _refuse("segment_neuron", node, f"{name}: {value_s * 1e3:g} ms is not a whole number of "
                f"steps of {dt_s * 1e3:g} ms")
    return int(k)


def _soma_codes(params, dt_s: float) -> dict:
    """The soma's integer constants (see the module docstring)."""
    a = math.exp(-dt_s / float(params.tau_mem))
    alpha = min(255, round(256 * a))
    if alpha < 1:
        _refuse("segment_neuron", "soma", f"tau_mem: {float(params.tau_mem) * 1e3:g} ms leaves "
                f"nothing of the membrane after one step (alpha 0)")
    w, shift, v_th = float(params.w_proximal), float(params.distal_shift), float(params.v_threshold)
    if shift > 0:
        unit = 256 // math.gcd(alpha, 256)
        k = max(1, math.ceil(EVENT_CODES * shift / (a * w * unit)))
        s1 = k * unit
        c = s1 / shift
        s2 = alpha * s1 // 256
    else:
        c, s1, s2 = EVENT_CODES / (a * w), 0, 0
    wj = round(c * a * w)
    return dict(alpha=alpha, a=a, c=c, w=wj, s1=s1, s2=s2, threshold=math.ceil(c * v_th) - 1,
                w_error=abs(wj / c - a * w) / (a * w), alpha_error=abs(alpha / 256 - a) / a)


def compile_segments(channel, neuron, segment, theta, n_neurons: int, params, *,
                     n_channels: int, steps: int, dt_s: float = 1e-3, name: str = "segments",
                     chip: ChipSpec = TIANJIC_LIKE) -> SegmentCompiled:
    """Compile the synapses ``channel[m] -> (neuron[m], segment[m])`` with per-segment
    ``theta`` (n_neurons, n_segments) and the neuron's :class:`SegmentParams`.

    Raises
    ------
    DesignRuleError
        Rule ``segment_neuron`` (a parameter the program cannot compute, named) or ``fan_in``.
    """
    node = f"{name}.soma"
    n, n_prox, n_dist = int(n_neurons), int(params.n_proximal), int(params.n_distal)
    n_seg = n_prox + n_dist
    for key, bad in (("distal_gain", float(params.distal_gain) != 0),
                     ("refractory", float(params.refractory) != 0),
                     ("v_reset", float(params.v_reset) != 0)):
        if bad:
            _refuse("segment_neuron", node, f"{key}: only 0 compiles (the program resets to 0 "
                    f"with one refractory step and lowers the threshold, without gain)")
    half = chip.axons_per_core // 2
    if n_channels > half:
        _refuse("fan_in", node, f"{n_channels} input lines, a count core reads them twice "
                f"(delayed 1 and W + 1 steps) on {chip.axons_per_core} axons")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ParameterError(f"steps: must be a positive integer, got {steps!r}")
    window = _steps(float(params.window), dt_s, "window", node)
    ratio = float(params.plateau) / dt_s
    plateau = max(0, math.ceil(ratio - 1e-3) - 1)  # steps k >= 1 with k dt < plateau (tie: off)
    if max(window, plateau) + 1 > chip.delay_slots:
        _refuse("segment_neuron", node, f"window or plateau beyond the {chip.delay_slots - 1}-step "
                f"delay ring")
    channel, neuron, segment = (np.asarray(v, dtype=np.int64).ravel()
                                for v in (channel, neuron, segment))
    theta = np.asarray(theta, dtype=np.int64).reshape(n, n_seg)
    soma = _soma_codes(params, dt_s)
    acc, mem = chip.accumulator_bits, chip.membrane_bits

    # global segment order: proximal (neuron-major), then distal (neuron-major)
    prox_ids = (np.arange(n)[:, None] * n_seg + np.arange(n_prox)[None, :]).ravel()
    dist_ids = (np.arange(n)[:, None] * n_seg + n_prox + np.arange(n_dist)[None, :]).ravel()
    per_distal_core = max(1, half // max(n_dist, 1))  # neurons per distal count core
    if n_prox > half:
        _refuse("fan_in", node, f"{n_prox} proximal segments per neuron, a count core holds "
                f"{half}")
    step = (half // n_prox) * n_prox  # whole neurons per proximal count core
    groups = [("proximal", prox_ids[i:i + step]) for i in range(0, prox_ids.size, step)]
    if n_dist:
        step = per_distal_core * n_dist
        groups += [("distal", dist_ids[i:i + step]) for i in range(0, dist_ids.size, step)]
    pe, p1, p2 = _copies(soma["w"]), _copies(soma["s1"]), _copies(soma["s2"])
    ev_bits = (n_prox + 1).bit_length()  # signed: the counts 0 .. n_prox
    per_soma = chip.axons_per_core // (pe + (p1 + 2 * p2 if n_dist else 0))
    per_soma = min(per_soma, chip.neurons_per_core)
    if per_soma < 1:
        _refuse("fan_in", node, f"one neuron's {n_prox} proximal events and plateau terms need "
                f"more than {chip.axons_per_core} axons")
    soma_cores = [(lo, min(lo + per_soma, n)) for lo in range(0, n, per_soma)]
    first_soma = len(groups)
    if first_soma + len(soma_cores) > chip.n_cores:
        _refuse("mesh", node, f"{first_soma + len(soma_cores)} cores, the mesh has "
                f"{chip.n_cores}")
    syn = np.zeros((n * n_seg, n_channels), dtype=np.int64)
    np.add.at(syn, (neuron * n_seg + segment, channel), 1)
    if syn.max(initial=0) > INT8:
        _refuse("segment_neuron", node, "more than 127 synapses from one line onto one segment")

    def soma_slices(ids_lo, ids_hi, per_neuron, copies_at):
        """Send entries of neuron-major values [ids_lo, ids_hi) (per_neuron each) to the soma
        cores' ``sx`` slices; ``copies_at(h, lo_neuron)`` -> list of (buffer, at) per copy."""
        out = []
        for h, (lo, hi) in enumerate(soma_cores):
            a, b = max(ids_lo, lo * per_neuron), min(ids_hi, hi * per_neuron)
            if a >= b:
                continue
            for buffer, at in copies_at(h, lo):
                out.append({"core": first_soma + h, "buffer": buffer, "lo": a - ids_lo,
                            "hi": b - ids_lo, "at": at + a - lo * per_neuron})
        return out

    def layout(lo, hi):
        """Where a soma core's axons ``sx`` hold the events (pe copies), P[k], P[k-1], R."""
        k = hi - lo
        ev = k * pe
        return dict(k=k, now=ev, prev=ev + p1 * k, r=ev + (p1 + p2) * k,
                    size=ev + ((p1 + 2 * p2) * k if n_dist else 0))

    layouts = [layout(lo, hi) for lo, hi in soma_cores]

    cores, arrays, core_lines = [], {}, []
    prox_offset = dist_offset = 0
    for cid, (kind, ids) in enumerate(groups):
        m = ids.size
        theta_g = theta.ravel()[ids]
        # the core reads only the lines that synapse onto its segments (pruning removes lines)
        lines = np.flatnonzero(syn[ids].sum(axis=0) > 0)
        lines = lines if lines.size else np.zeros(1, dtype=np.int64)
        u = lines.size
        core_lines.append(lines)
        w = syn[ids][:, lines].T  # (u, m)
        arrays[f"c{cid}.count.weight"] = np.concatenate([w, -w]).astype(np.int8)
        arrays[f"c{cid}.threshold"] = (theta_g - 1).astype(np.int32)
        arrays[f"c{cid}.edge.weight"] = np.concatenate([np.eye(m), -np.eye(m)]).astype(np.int8)
        buffers = {"x": _b(u, 1), "xd": _b(2 * u, 1), "dc": _b(m, acc, True),
                   "c": _b(m, acc, True), "vl": _b(m, mem, True), "rl": _b(m, chip.refractory_bits),
                   "level": _b(m, 1), "ll": _b(2 * m, 1), "e_in": _b(m, acc, True),
                   "ve": _b(m, mem, True), "re": _b(m, chip.refractory_bits), "events": _b(m, 1)}

        def here(buffer, at, lo=0, hi=None, cid=cid, m=m):
            return _to(cid, buffer, lo, m if hi is None else hi, at)
        phases = {
            P_COUNT: [Instruction("axon", "matvec", {"x": "xd", "weights": f"c{cid}.count.weight",
                                                     "out": "dc"}),
                      _send("x", [here("xd", 0, 0, u)], 1)],
            P_LEVEL: [Instruction("axon", "accumulate", {"sources": ["c", "dc"], "bias": None,
                                                         "out": "c"}),
                      _lif("c", "vl", "rl", "level", f"c{cid}.threshold"),
                      _send("x", [here("xd", u, 0, u)], window + 1)],
            P_NOW: [_send("level", [here("ll", 0)], 0)],
            P_PREV: [_send("level", [here("ll", m)], 1)],
        }
        event = [Instruction("axon", "matvec", {"x": "ll", "weights": f"c{cid}.edge.weight",
                                                "out": "e_in"}),
                 _lif("e_in", "ve", "re", "events", 0)]
        if kind == "proximal":
            k = m // n_prox  # neurons; their event counts n[k] go to the soma cores
            owner = np.zeros((m, k), dtype=np.int64)
            owner[np.arange(m), np.repeat(np.arange(k), n_prox)] = 1
            arrays[f"c{cid}.owner.weight"] = owner.astype(np.int8)
            buffers["n_ev"] = _b(k, acc, True)
            first = prox_offset // n_prox
            to = soma_slices(first, first + k, 1, lambda h, lo: [
                ("sx", j * layouts[h]["k"]) for j in range(pe)])
            phases[P_EVENT] = event
            phases[P_LATE] = [Instruction("axon", "matvec", {
                "x": "events", "weights": f"c{cid}.owner.weight", "out": "n_ev"}),
                _send("n_ev", to, 1, bits=ev_bits)]
            prox_offset += m
        else:
            k = m // n_dist
            owner = np.repeat(np.arange(k), n_dist)
            box = np.zeros((m, k), dtype=np.int64)
            box[np.arange(m), owner] = 1
            arrays[f"c{cid}.plateau.weight"] = np.concatenate([box, -box]).astype(np.int8)
            buffers.update({"dd": _b(2 * m, 1), "dp": _b(k, acc, True), "pc": _b(k, acc, True),
                            "vp": _b(k, mem, True), "rp": _b(k, chip.refractory_bits),
                            "plateau": _b(k, 1)})
            first = dist_offset // n_dist
            now = soma_slices(first, first + k, 1, lambda h, lo: [
                ("sx", layouts[h]["now"] + j * layouts[h]["k"]) for j in range(p1)])
            prev = soma_slices(first, first + k, 1, lambda h, lo: [("pp", 0)] + [
                ("sx", layouts[h]["prev"] + j * layouts[h]["k"]) for j in range(p2)])
            phases[P_EVENT] = event + [_send("events", [here("dd", 0)], 1)]
            phases[P_LATE] = [_send("events", [here("dd", m)], plateau + 1)]
            phases[P_PCOUNT] = [Instruction("axon", "matvec", {
                "x": "dd", "weights": f"c{cid}.plateau.weight", "out": "dp"})]
            phases[P_PLATEAU] = [
                Instruction("axon", "accumulate", {"sources": ["pc", "dp"], "bias": None,
                                                   "out": "pc"}),
                _lif("pc", "vp", "rp", "plateau", 0), _send("plateau", now, 0)]
            phases[P_PSEND] = [_send("plateau", prev, 1)]
            dist_offset += m
        cores.append(CoreProgram(cid, *chip.core_xy(cid), f"{name}.{kind}_segments", "segments",
                                 (0, m), (0, 2 * u), phases=phases, buffers=buffers))

    for h, (lo, hi) in enumerate(soma_cores):
        cid = first_soma + h
        lay = layouts[h]
        k = lay["k"]
        weight = np.zeros((lay["size"], k), dtype=np.int64)
        rows = np.arange(k)
        for j, share in enumerate(_shares(soma["w"], pe)):
            weight[j * k + rows, rows] = share
        buffers = {"sx": _b(lay["size"], ev_bits, True), "acc": _b(k, acc, True),
                   "v": _b(k, mem, True), "ref": _b(k, chip.refractory_bits),
                   "spikes": _b(k, 1)}
        phases = {}

        def own(buffer, at, size, cid=cid):
            return _to(cid, buffer, 0, size, at)
        if n_dist:
            for j, share in enumerate(_shares(soma["s1"], p1)):
                weight[lay["now"] + j * k + rows, rows] = share
            for j, share in enumerate(_shares(soma["s2"], p2)):
                weight[lay["prev"] + j * k + rows, rows] = -share
                weight[lay["r"] + j * k + rows, rows] = share
            buffers.update({"pp": _b(k, 1), "fd": _b(k, 1), "r8": _b(k, 8)})
            phases[P_PSEND] = [
                Instruction("axon", "hadamard", {"a": "pp", "b": "fd", "out": "r8", "shift": 0}),
                _send("r8", [own("sx", lay["r"] + j * k, k) for j in range(p2)], 0)]
        arrays[f"c{cid}.soma.weight"] = weight.astype(np.int8)
        soma_ops = [Instruction("axon", "matvec", {"x": "sx", "weights": f"c{cid}.soma.weight",
                                                   "out": "acc"}),
                    Instruction("soma1", "lif", {
                        "input": "acc", "v": "v", "refractory": "ref", "spikes": "spikes",
                        "rand": None, "alpha": soma["alpha"], "v_leak": 0,
                        "v_threshold": soma["threshold"], "noise_mask": 0, "reset_mode": "value",
                        "v_reset": 0, "refractory_steps": 1})]
        if n_dist:
            soma_ops.append(_send("spikes", [own("fd", 0, k)], 2))
        phases[P_SOMA] = soma_ops
        cores.append(CoreProgram(cid, *chip.core_xy(cid), node, "lif", (lo, hi),
                                 (0, lay["size"]), phases=phases, buffers=buffers))

    def parts(kind, buffer):
        out, offset = [], 0
        for c in cores:
            if c.layer == f"{name}.{kind}_segments":
                m = c.neurons[1]
                out.append({"core": c.core, "buffer": buffer, "lo": offset, "hi": offset + m,
                            "at": 0})
                offset += m
        return out

    outputs = [{"name": "soma", "size": n, "parts": [
        {"core": first_soma + h, "buffer": "spikes", "lo": lo, "hi": hi, "at": 0}
        for h, (lo, hi) in enumerate(soma_cores)]},
        {"name": "proximal", "size": n * n_prox, "parts": parts("proximal", "events")}]
    if n_dist:
        outputs.append({"name": "distal", "size": n * n_dist,
                        "parts": parts("distal", "events")})
    port = {"name": "channels", "size": n_channels, "mode": "steps", "steps": int(steps),
            "parts": [part for cid, lines in enumerate(core_lines)
                      for part in _runs(cid, lines)]}
    layers = [{"name": f"{name}.proximal_segments", "kind": "segments",
               "cores": [c.core for c in cores if c.layer == f"{name}.proximal_segments"]}]
    if n_dist:
        layers.append({"name": f"{name}.distal_segments", "kind": "segments",
                       "cores": [c.core for c in cores if c.layer == f"{name}.distal_segments"]})
    layers.append({"name": node, "kind": "lif", "cores": [first_soma + h
                                                          for h in range(len(soma_cores))]})
    manifest = {
        "model": {"name": name, "dataset": "none", "image_shape": [1, n],
                  "nodes": {"population.soma": node}},
        "chip": chip.to_dict(),
        "loop": {"steps_per_cycle": 1, "cycles": 1, "readout_cycles": 1, "dt_ms": dt_s * 1e3},
        "sheet": {"n_pixels": n, "refractory_steps": 0, "keep": [256], "delay_steps": 1},
        "layers": layers,
        "cores": [c.to_dict() for c in cores],
        "routes": routes_of(cores, chip.packet_bytes),
        "n_phases": P_SOMA + 1,
        "ports": {"inputs": [port], "outputs": outputs},
        "lfsr_shifts_per_step": 1,
        "lfsr_streams": 1,
        "quantization": {
            "segments": dict(rel_rms_error=0.0, e_w=0.0, shift=0, e_out=int(theta.max())),
            "soma": dict(rel_rms_error=soma["w_error"], e_w=soma["alpha_error"], shift=0,
                         e_out=int(soma["threshold"]), alpha=int(soma["alpha"]))},
    }
    from hnnbio.chip.program import from_bytes, to_bytes
    from hnnbio.chip.validate import core_memory_bytes

    manifest["memory"] = {str(c["core"]): core_memory_bytes(manifest, arrays, c)
                          for c in manifest["cores"]}
    program = from_bytes(to_bytes(Program(manifest, arrays)), f"{name} program")
    return SegmentCompiled(program, n, n_prox, n_dist, int(n_channels), int(steps), soma["c"])


def run_segments_on_chip(compiled: SegmentCompiled, spikes: np.ndarray,
                         batch: int = 256) -> dict:
    """Input ``spikes`` (B, steps, n_channels) of 0/1 on the interpreter: per sample the steps of
    every ``soma`` spike, ``proximal`` and ``distal`` event (B, steps, size) and their counts
    per neuron (``soma_counts``, ``proximal_counts``, ``distal_counts``, (B, N)) and counters.
    Without distal segments ``distal`` has size 0 and ``distal_counts`` is 0."""
    from hnnbio.chip.interpreter import Machine

    x = np.asarray(spikes)
    shape = (compiled.steps, compiled.n_channels)
    if x.ndim != 3 or x.shape[1:] != shape or not np.isin(x, (0, 1)).all():
        raise DataError(f"spikes: expected (B, {shape[0]}, {shape[1]}) values of 0 or 1, got "
                        f"shape {x.shape}")
    machine = Machine(compiled.program)
    ports = [p for p in PORTS if p in machine.outputs]
    out = {p: [] for p in ports}
    counters = {}
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch].astype(np.int64)
        machine.reset(len(chunk), 0, {"channels": chunk}, first_sample=start)
        res = machine.run(compiled.steps, ports=ports)
        for p in ports:
            out[p].append(res[p].astype(np.int8))
        for k, v in machine.counters.items():
            counters[k] = counters.get(k, 0) + v
    out = {p: np.concatenate(v) for p, v in out.items()}
    # no distal segments, no distal port: no distal events (the same keys for every design)
    out.setdefault("distal", np.zeros((len(x), compiled.steps, 0), dtype=np.int8))
    n = compiled.n_neurons
    return dict(out, counters=counters,
                soma_counts=out["soma"].sum(axis=1, dtype=np.int64),
                proximal_counts=out["proximal"].sum(axis=1, dtype=np.int64)
                .reshape(len(x), n, compiled.n_proximal).sum(axis=2),
                distal_counts=out["distal"].sum(axis=1, dtype=np.int64)
                .reshape(len(x), n, compiled.n_distal).sum(axis=2))
