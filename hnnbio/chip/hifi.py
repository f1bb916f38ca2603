r"""Compile a HIFI network (discrete self-inhibiting neurons with per-neuron parameters) to ISA v2.

The network (:mod:`hnnbio.experiments.hifi`, :class:`hnnbio.hybrid.si_twin.HifiNetwork`): inputs
``X`` (n_in values in [0, 1], multiples of 1/``levels``) drive N hidden neurons with the current
``I = X W_in + b_in`` (plus ``s[t-1] W_rec`` when recurrent); each neuron steps the published
update

.. math::

    U[t] = (1 - \tau)\,(U (1 - s[t-1]) + U_{rest} s[t-1]) + \tau U_{rest} + C (I[t] - \gamma s[t-1])

and spikes when ``U[t] >= theta``, with its own ``tau`` (leak), ``gamma`` (w_self) and ``theta``;
every spike adds its row of ``W_out`` to 10 readout integrators started at ``b_out``.

Integer form. With ``u = U - U_rest`` the update is ``u[t] = (1 - tau) u (1 - s[t-1]) + C (I -
gamma s[t-1])``, threshold ``theta - U_rest``: a LIF that resets to 0, whose input carries the
self-inhibition as a one-step recurrent weight ``-gamma`` on the diagonal. Neuron k's membrane
code is ``c_k u`` (per-neuron scale ``c_k``, as large as its int8 weights allow), so

- ``alpha_k = round(256 (1 - tau_k))`` (at most 255): the lif op's per-neuron leak array;
- the threshold register of neuron k is ``ceil(c_k (theta_k - U_rest)) - 1`` (fires when the
  code is ``>=`` the scaled threshold): the lif op's per-neuron threshold array;
- input weights ``round(c_k C W_in[i, k] / levels)`` on the input codes ``x = levels X``
  (exact for the digits: ``x`` is the grey level, ``levels = 16``), the bias ``round(c_k C
  b_in[k])``; recurrent weights ``round(c_k C (W_rec[j, k] - gamma_k [j = k]))`` on the last
  step's spikes. A weight beyond int8 is split over ``parts`` copies of its axon (the input or
  spike buffer repeated; the parts sum to the weight), so ``c_k = 127 parts levels / (C max_i
  |W_in[i, k]|)`` or the recurrent bound, whichever is smaller;
- the readout: ``W_out`` on one scale ``s_out`` (argmax needs one), int8 parts the same way; the
  host reads the integrators ``tot`` and decodes ``tot / s_out + b_out``.

Program (two cores; one hidden core holds at most ``neurons_per_core`` neurons and its axon
buffers at most ``axons_per_core`` values each). Hidden core: phase 0 ``matvec(pix) -> cur``;
phase 1 ``matvec(prev) -> rec``; phase 2 ``accumulate(cur, rec, bias) -> acc``, ``lif`` (reset to
0, no refractoriness, per-neuron alpha and threshold), ``send`` the spikes to its own ``prev``
(delay 0 from phase 2: read by phase 1 of the next step, ``s[t-1]``) and to the readout core's
``pre`` (read in phase 3 of the same step). Readout core: phase 3 ``matvec(pre) -> syn``; phase 4
``accumulate(tot, syn) -> tot``. Ports: input ``pixels`` (``hold``: one frame; ``steps``: one
frame per step), outputs ``spikes`` (hidden) and ``readout`` (``tot``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hnnbio.chip.isa import CoreProgram, Instruction, routes_of
from hnnbio.chip.program import Program
from hnnbio.chip.snn import _b
from hnnbio.chip.snn_rules import refuse as _refuse
from hnnbio.chip.spec import TIANJIC_LIKE, ChipSpec
from hnnbio.errors import DataError, ParameterError

READOUT = "readout"
INT8 = 127


@dataclasses.dataclass
class HifiCompiled:
    """A compiled HIFI network: the program and what the host needs to encode and decode."""

    program: Program
    levels: int
    steps: int | None  # None: the input is held (one frame); else frames per step, this many
    out_scale: float
    b_out: np.ndarray
    scales: np.ndarray  # c_k, membrane codes per unit of u

    def encode(self, x: np.ndarray) -> dict:
        """Inputs ``x`` (B, T, n_in) in [0, 1], multiples of 1/levels -> the port's integer codes
        (one line naming the problem otherwise)."""
        x = np.asarray(x, dtype=np.float64)
        n_in = self.program.manifest["ports"]["inputs"][0]["size"]
        if x.ndim != 3 or x.shape[2] != n_in:
            raise DataError(f"inputs: expected (B, T, {n_in}) values, got shape {x.shape}")
        codes = np.round(x * self.levels)
        if not np.all(np.isfinite(x)) or np.any(np.abs(codes - x * self.levels) > 1e-6) \
                or codes.min() < 0 or codes.max() > self.levels:
            raise DataError(f"inputs: values must be multiples of 1/{self.levels} in [0, 1] "
                            f"(the chip's input codes)")
        codes = codes.astype(np.int64)
        if self.steps is None:
            if np.any(codes != codes[:, :1]):
                raise DataError("inputs: this program holds one input frame; the input changes "
                                "between steps (compile it with steps)")
            return {"pixels": codes[:, 0]}
        if codes.shape[1] != self.steps:
            raise DataError(f"inputs: the program takes {self.steps} input frames, got "
                            f"{codes.shape[1]}")
        return {"pixels": codes}


def _parts(w: np.ndarray, parts: int) -> np.ndarray:
    """Integer matrix (rows, cols) with |w| <= 127 parts -> (parts * rows, cols) int8 whose row
    blocks sum to w (each block the rounded-down share, the remainder on the first blocks)."""
    w = np.asarray(w, dtype=np.int64)
    sign, mag = np.sign(w), np.abs(w)
    base, extra = mag // parts, mag % parts
    blocks = [sign * (base + (extra > p)) for p in range(parts)]
    out = np.concatenate(blocks, axis=0)
    assert np.abs(out).max(initial=0) <= INT8 and np.array_equal(sum(blocks), w)
    return out.astype(np.int8)


def compile_hifi(arrays: dict, *, name: str = "hifi", levels: int = 16, steps: int | None = None,
                 dt_ms: float = 1.0, chip: ChipSpec = TIANJIC_LIKE) -> HifiCompiled:
    """Compile the numbers of a HIFI network (``hnnbio.experiments.hifi.network_arrays``).

    Parameters
    ----------
    arrays : dict
        ``w_in`` (n_in, N), ``b_in`` (N,), ``w_out`` (N, n_out), ``b_out`` (n_out,), ``w_rec``
        (N, N) or None, per-neuron ``leak`` in (0, 1], ``w_self`` >= 0, ``v_threshold``, and
        scalars ``v_rest``, ``gain``.
    levels : int
        Input codes per unit (inputs are multiples of 1/levels in [0, 1]).
    steps : int, optional
        None: one input frame held for the run (``hold`` port); else a ``steps`` port of that
        many frames.

    Raises
    ------
    DesignRuleError
        The network does not fit a core (rule ``fan_in``: neurons or axons per core).
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 255:
        raise ParameterError(f"levels: must be an integer in 1..255, got {levels!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                              or steps < 1):
        raise ParameterError(f"steps: must be a positive integer or None, got {steps!r}")
    w_in = np.asarray(arrays["w_in"], dtype=np.float64)
    n_in, n = w_in.shape
    w_out = np.asarray(arrays["w_out"], dtype=np.float64)
    n_out = w_out.shape[1]
    b_in = np.asarray(arrays["b_in"], dtype=np.float64)
    b_out = np.asarray(arrays["b_out"], dtype=np.float64)
    leak = np.broadcast_to(np.asarray(arrays["leak"], dtype=np.float64), (n,))
    gamma = np.broadcast_to(np.asarray(arrays["w_self"], dtype=np.float64), (n,))
    theta = np.broadcast_to(np.asarray(arrays["v_threshold"], dtype=np.float64), (n,))
    v_rest, gain = float(arrays["v_rest"]), float(arrays["gain"])
    w_rec = arrays.get("w_rec")
    rec = -np.diag(gamma) + (0 if w_rec is None else np.asarray(w_rec, dtype=np.float64))
    node = f"{name}.hidden"
    for key, values in (("w_in", w_in), ("b_in", b_in), ("w_out", w_out), ("leak", leak),
                        ("w_self", gamma), ("v_threshold", theta)):
        if not np.all(np.isfinite(values)):
            raise ParameterError(f"{key}: values must be finite")
    if np.any(leak <= 0) or np.any(leak > 1) or np.any(gamma < 0) or gain < 0 \
            or np.any(theta <= v_rest):
        raise ParameterError(f"{node}: needs leak in (0, 1], w_self >= 0, gain >= 0 and "
                             f"v_threshold > v_rest")
    if n > chip.neurons_per_core:
        _refuse("fan_in", node, f"{n} neurons, a core holds {chip.neurons_per_core}")
    axons = chip.axons_per_core
    if max(n_in, n) > axons:
        _refuse("fan_in", node, f"{max(n_in, n)} inputs to one matvec, a core has {axons} axons")
    p_in, p_rec, p_out = axons // n_in, axons // n, axons // n
    # per-neuron scale c_k: the largest the int8 parts allow (input, recurrent and bias bounds)
    w_max = np.abs(w_in).max(axis=0) * gain / levels
    r_max = np.abs(rec).max(axis=0) * gain
    with np.errstate(divide="ignore"):
        scale = np.minimum(np.where(w_max > 0, INT8 * p_in / w_max, np.inf),
                           np.where(r_max > 0, INT8 * p_rec / r_max, np.inf))
    top = (1 << (chip.membrane_bits - 2)) - 1  # threshold and drive codes well inside v
    scale = np.minimum(scale, top / np.maximum(theta - v_rest, 1e-12))
    scale = np.where(np.isfinite(scale), scale, top)
    w_int = np.round(scale * gain * w_in / levels)
    r_int = np.round(scale * gain * rec)
    bias = np.round(scale * gain * b_in)
    if np.any(np.abs(bias) > top):
        _refuse("weight_range", node, "the bias codes leave the membrane's bits")
    thresholds = np.ceil(scale * (theta - v_rest)) - 1
    alpha = np.minimum(np.round(256 * (1 - leak)), 255)
    o_max = np.abs(w_out).max()
    out_scale = INT8 * p_out / o_max if o_max > 0 else 1.0
    o_int = np.round(out_scale * w_out)

    hid, ro = 0, 1
    acc = chip.accumulator_bits
    x_bits = max(1, levels.bit_length())
    arrays_out = {"c0.in.weight": _parts(w_int, p_in), "c0.rec.weight": _parts(r_int, p_rec),
                  "c0.bias": bias.astype(np.int32), "c0.alpha": alpha.astype(np.uint8),
                  "c0.threshold": thresholds.astype(np.int32),
                  "c1.weight": _parts(o_int, p_out)}
    lif = {"input": "acc", "v": "v", "refractory": "ref", "spikes": "spikes", "rand": None,
           "alpha": "c0.alpha", "v_leak": 0, "v_threshold": "c0.threshold", "noise_mask": 0,
           "reset_mode": "value", "v_reset": 0, "refractory_steps": 0}
    to = [{"core": hid, "buffer": "prev", "lo": 0, "hi": n, "at": k * n} for k in range(p_rec)]
    to += [{"core": ro, "buffer": "pre", "lo": 0, "hi": n, "at": k * n} for k in range(p_out)]
    hidden = CoreProgram(
        hid, *chip.core_xy(hid), node, "lif", (0, n), (0, n_in * p_in),
        phases={0: [Instruction("axon", "matvec", {"x": "pix", "weights": "c0.in.weight",
                                                   "out": "cur"})],
                1: [Instruction("axon", "matvec", {"x": "prev", "weights": "c0.rec.weight",
                                                   "out": "rec"})],
                2: [Instruction("axon", "accumulate", {"sources": ["cur", "rec"],
                                                       "bias": "c0.bias", "out": "acc"}),
                    Instruction("soma1", "lif", lif),
                    Instruction("router", "send", {"what": "spikes", "to": to, "bits": 1,
                                                   "delay": 0})]},
        buffers={"pix": _b(n_in * p_in, x_bits), "prev": _b(n * p_rec, 1),
                 "cur": _b(n, acc, True), "rec": _b(n, acc, True), "acc": _b(n, acc, True),
                 "v": _b(n, chip.membrane_bits, True), "ref": _b(n, chip.refractory_bits),
                 "spikes": _b(n, 1)})
    readout = CoreProgram(
        ro, *chip.core_xy(ro), f"{name}.readout", "integrator", (0, n_out), (0, n * p_out),
        phases={3: [Instruction("axon", "matvec", {"x": "pre", "weights": "c1.weight",
                                                   "out": "syn"})],
                4: [Instruction("axon", "accumulate", {"sources": ["tot", "syn"], "bias": None,
                                                       "out": "tot"})]},
        buffers={"pre": _b(n * p_out, 1), "syn": _b(n_out, acc, True),
                 "tot": _b(n_out, acc, True)})
    cores = [hidden, readout]
    port = {"name": "pixels", "size": n_in, "mode": "hold" if steps is None else "steps",
            "parts": [{"core": hid, "buffer": "pix", "lo": 0, "hi": n_in, "at": k * n_in}
                      for k in range(p_in)]}
    if steps is not None:
        port["steps"] = steps
    errors = {
        "hidden": dict(rel_rms_error=_rel_error(w_int / (scale * gain / levels), w_in),
                       e_w=_rel_error(r_int / (scale * gain), rec), shift=0,
                       e_out=int(thresholds.max()), alpha=int(alpha.min())),
        READOUT: dict(rel_rms_error=_rel_error(o_int / out_scale, w_out), e_w=0.0, shift=0,
                      e_out=0)}
    manifest = {
        "model": {"name": name, "dataset": "none", "image_shape": [1, n],
                  "nodes": {"population.hidden": node, "population.readout": f"{name}.readout"}},
        "chip": chip.to_dict(),
        "loop": {"steps_per_cycle": 1, "cycles": 1, "readout_cycles": 1, "dt_ms": float(dt_ms)},
        "sheet": {"n_pixels": n, "refractory_steps": 0, "keep": [256], "delay_steps": 1},
        "layers": [{"name": node, "kind": "lif", "cores": [hid]},
                   {"name": f"{name}.readout", "kind": "integrator", "cores": [ro]}],
        "cores": [c.to_dict() for c in cores],
        "routes": routes_of(cores, chip.packet_bytes),
        "n_phases": 5,
        "ports": {"inputs": [port],
                  "outputs": [{"name": "spikes", "size": n, "parts": [
                      {"core": hid, "buffer": "spikes", "lo": 0, "hi": n, "at": 0}]},
                      {"name": READOUT, "size": n_out, "parts": [
                          {"core": ro, "buffer": "tot", "lo": 0, "hi": n_out, "at": 0}]}]},
        "lfsr_shifts_per_step": 1,
        "lfsr_streams": 1,
        "quantization": errors,
    }
    from hnnbio.chip.validate import core_memory_bytes

    manifest["memory"] = {str(c["core"]): core_memory_bytes(manifest, arrays_out, c)
                          for c in manifest["cores"]}
    from hnnbio.chip.program import from_bytes, to_bytes

    program = from_bytes(to_bytes(Program(manifest, arrays_out)), f"{name} program")
    return HifiCompiled(program, levels, steps, float(out_scale), b_out, scale)


def _rel_error(approx: np.ndarray, exact: np.ndarray) -> float:
    norm = math.sqrt(float(np.mean(exact ** 2)))
    return float(math.sqrt(float(np.mean((approx - exact) ** 2))) / norm) if norm else 0.0


def run_hifi_on_chip(compiled: HifiCompiled, x: np.ndarray, batch: int = 256) -> dict:
    """Run inputs ``x`` (B, T, n_in) on the interpreter: ``counts`` (B, N) hidden spikes,
    ``logits`` (B, n_out) decoded readout, ``spikes`` (B, T, N), ``counters``."""
    from hnnbio.chip.interpreter import Machine

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 1:
        raise DataError(f"inputs: expected (B, T, n_in) values, got shape {x.shape}")
    steps = x.shape[1]
    machine = Machine(compiled.program)
    spikes, logits, counters = [], [], {}
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        machine.reset(len(chunk), 0, compiled.encode(chunk), first_sample=start)
        out = machine.run(steps, ports=["spikes", READOUT])
        spikes.append(out["spikes"].astype(np.int8))
        logits.append(out[READOUT][:, -1] / compiled.out_scale + compiled.b_out)
        for k, v in machine.counters.items():
            counters[k] = counters.get(k, 0) + v
    spikes = np.concatenate(spikes)
    return dict(spikes=spikes, counts=spikes.sum(axis=1, dtype=np.int64),
                logits=np.concatenate(logits), counters=counters)
