"""Bit-exact, integer-only emulator of a chip program, vectorised over the batch and over neurons.

The semantics are those of the program interpreter (:mod:`hnnbio.chip.interpreter`), which runs
any program instruction by instruction. This module adds vectorised kernels for one instruction
pattern, the binding loop, selected by :func:`binding_plan` from the instructions, buffers, routes
and ports alone (never from roles or layer names); a program that does not match in every
instruction (another route, registers that differ between cores, an extra op) runs on the
interpreter. A test runs both on the shipped programs and compares every spike, window bit,
applied attention code and counter.

One emulator state holds B images (batching is a dimension). When the kernels run, all cores of
a layer run together:

- phase 0, sheet cores: advance each neuron's LFSR by ``lfsr_shifts_per_step`` shifts;
  ``m = hadamard(image, ring[t mod D])``; ``lif`` with threshold offset ``lfsr & noise_mask``;
- phase 1, sheet cores: ``window`` with the coin ``(lfsr >> rand_shift) & 255`` (independent
  or nested coins; with nested ones the state holds each neuron's kept bit); send;
- per dense layer: every tile ``matvec``, partial sums sent to the reducing tile, which does
  ``accumulate`` (saturating, sources in program order, then the bias) and ``lut``; the last
  layer's output is written to ``ring[t mod D]`` (read again D steps later).

Counters per run (summed over images and steps): ``macs`` (8-bit multiplies: Hadamard products
and matvecs on 8-bit activations), ``sops`` (synaptic accumulates: matvecs on binary inputs count
one per active input per target neuron), ``packets`` and ``packet_hops`` (fixed-size route
messages), ``spikes``; energy ``macs * pj_per_mac + sops * pj_per_sop`` and a latency estimate
(see docs/chip.md).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
from scipy import sparse

from hnnbio.chip import estimates
from hnnbio.chip import primitives as P
from hnnbio.chip.interpreter import Machine
from hnnbio.chip.isa import routes_of
from hnnbio.chip.program import Program
from hnnbio.errors import DataError, ProgramError

#: A layer's product drops the inputs that are zero in every image of the batch when at most this
#: fraction of inputs is left, else skips zeros one by one (sparse product) below this density.
COLUMN_FRACTION = 0.5
SPARSE_FRACTION = 0.25


class Emulator:
    """State and step of one program for a batch of images.

    Parameters
    ----------
    program : Program
    """

    def __init__(self, program: Program):
        self.program = program
        self.chip = program.chip
        m = program.manifest
        self.machine = Machine(program)  # checks the program; runs it when no kernel matches
        inputs, outputs = self.machine.inputs, self.machine.outputs
        if (inputs.get("image", {}).get("mode") != "hold"
                or inputs.get("attention", {}).get("mode") != "steps"
                or "spikes" not in outputs or set(inputs) != {"image", "attention"}):
            raise ProgramError("program: the emulator runs programs with the input ports image "
                               "(hold) and attention (steps) and the output port spikes; run "
                               "others with hnnbio.chip.interpreter.Machine")
        self.n_pixels = int(inputs["image"]["size"])
        self.ring_length = int(inputs["attention"]["steps"])
        if inputs["attention"]["size"] != self.n_pixels or outputs["spikes"]["size"] != \
                self.n_pixels:
            raise ProgramError("program: ports image, attention and spikes must have one size")
        self.shifts = int(m["lfsr_shifts_per_step"])
        plan, self.plan_problem = binding_plan(program)
        self.interpreted = plan is None
        if plan is None:
            self.layers, self.fast_sheet = [], False
            return
        self.lif = plan["lif"]
        self.keep = np.asarray(plan["keep"], dtype=np.int64)
        self.rand_shift = plan["rand_shift"]
        self.nested = plan["nested"]
        self.hadamard_shift = plan["hadamard_shift"]
        lif = self.lif
        limit = (1 << (self.chip.membrane_bits - 1)) - 256
        self.fast_sheet = (lif["alpha"] == 0 and lif["reset_mode"] == "value"
                           and abs(lif["v_leak"]) < limit and abs(lif["v_threshold"]) < limit
                           and 0 <= lif["noise_mask"] <= 255 and len(self.keep) <= 15)
        self.layers = []
        for i, (tiles, reducers) in enumerate(plan["layers"]):
            # float32 holds every tile product exactly (see primitives.matvec)
            tiles = [(cid, axons, neurons, w.astype(np.float32))
                     for cid, axons, neurons, w in tiles]
            n_out = max(r[0][1] for r in reducers)
            layer = {"name": f"layer {i + 1}", "tiles": tiles, "reducers": reducers,
                     "n_out": n_out, "weights": sum(t[3].size for t in tiles)}
            layer["fused"] = _fuse(layer, 1 if not self.layers else 255, self.chip.accumulator_bits)
            self.layers.append(layer)
        for layer in self.layers:  # scaled weights as a tensor (shared memory), for _bits_matmul
            if layer["fused"] is not None and layer["fused"]["float32_lut"] is not None:
                layer["fused"]["weight_rows"] = torch.from_numpy(layer["fused"]["float32_lut"][0])
        for layer in self.layers[:-1]:  # only the last layer's codes go to the ring as uint8
            if layer["fused"] is not None and layer["fused"]["offset_lut"] is not None:
                bias, table = layer["fused"]["offset_lut"]
                layer["fused"]["offset_lut"] = (bias, table.astype(np.float32))
        self._buffers = {}
        routes = routes_of(program.cores, self.chip.packet_bytes)  # from the sends
        self.packets_per_step = sum(r["packets"] for r in routes)
        self.packet_hops_per_step = sum(r["packets"] * r["hops"] for r in routes)

    # --- state ----------------------------------------------------------------------------

    def reset(self, images: np.ndarray, attention: np.ndarray, seed: int,
              first_image: int = 0, full_from: int = 0) -> None:
        """Load a batch.

        Parameters
        ----------
        images : ndarray, shape (batch, n_pixels), {0, 1}
        attention : ndarray, shape (batch, delay_steps, n_pixels), int in [0, 255]
            Initial contents of the delay ring (attention codes, value = code / 256).
        seed : int
            Seeds the LFSRs; image ``first_image + i`` of a run gets the same streams whatever the
            batch size.
        full_from : int
            The first step whose last-layer codes are all kept (``applied`` reads them
            ``ring_length`` steps later). Before it, on the fast sheet path, only the codes of the
            awake neurons are computed past the matmul and kept: no other code is ever read (see
            _fast_sheet_step), so the spikes are the same. Default 0: every code is kept.
        """
        images = np.asarray(images)
        if images.ndim != 2 or images.shape[1] != self.n_pixels:
            raise DataError(f"images: expected shape (batch, {self.n_pixels}), got {images.shape}")
        attention = np.asarray(attention)
        if attention.shape != (images.shape[0], self.ring_length, self.n_pixels):
            raise DataError(f"attention: expected shape ({images.shape[0]}, {self.ring_length}, "
                            f"{self.n_pixels}), got {attention.shape}")
        if attention.min(initial=0) < 0 or attention.max(initial=0) > 255:
            raise DataError("attention: codes must be in [0, 255]")
        batch = images.shape[0]
        self.batch = batch
        self.t = 0
        if self.interpreted:
            self.machine.reset(batch, seed, {"image": images, "attention": attention},
                               first_sample=first_image)
            self.counters = self.machine.counters
            return
        self.image = np.clip(images.astype(np.int64), 0, 255)
        self.fast = self.fast_sheet and bool(np.isin(self.image, (0, 1)).all())
        if not self.fast:
            self.ring = attention.astype(np.int64).copy()
            self.v = np.zeros((batch, self.n_pixels), dtype=np.int64)
            self.refractory = np.zeros_like(self.v)
            self.age = np.full_like(self.v, 15)
            self.kept = np.zeros(self.v.shape, dtype=bool)  # nested coins: the kept sets
        images_index = np.arange(batch)[:, None] + first_image
        streams = images_index * self.n_pixels + np.arange(self.n_pixels)
        self.lfsr = P.lfsr_seed(seed, streams)
        if self.fast:  # narrow types and only the neurons that can spike (see _fast_sheet_step)
            # ring stored slot-major, (D, batch, n): one slot is one contiguous plane;
            # self.ring is a (batch, D, n) view of it, as on the general path
            self.ring_planes = np.ascontiguousarray(attention.transpose(1, 0, 2), dtype=np.uint8)
            self.ring = self.ring_planes.transpose(1, 0, 2)
            quiet = self.lif["v_threshold"] - self.lif["v_leak"] >= 0
            flat = self.image.ravel()
            self.awake = np.flatnonzero(flat == 1) if quiet else np.arange(flat.size)
            self.image_awake = flat[self.awake].astype(np.uint8)
            # slots written before full_from hold the awake neurons' codes only, in ring_awake
            self.ring_awake = np.empty((self.ring_length, self.awake.size), dtype=np.uint8)
            self.full_from = full_from
            self._only_bias = {}
            self.lfsr = self.lfsr.ravel()[self.awake]
            # step of each neuron's last spike; "never" is far enough back that the neuron is
            # not refractory and its window age is 15 (see _fast_sheet_step)
            never = -(max(15, self.lif["refractory_steps"]) + 1)
            self.last = np.full(self.awake.size, never, dtype=np.int32)
            self.keep_table = np.zeros(16, dtype=np.int16)
            self.keep_table[:len(self.keep)] = self.keep
            self.refractory = self.age = None  # both follow from self.last
            # nested coins: whether each neuron's last spike is still kept (its window bit)
            self.kept = np.zeros(self.awake.size, dtype=bool) if self.nested else None
            self.v = None  # alpha = 0: the membrane carries nothing from step to step
        self.batch = batch
        self.t = 0
        keys = ("steps", "macs", "sops", "packets", "packet_hops", "spikes")
        self.counters = dict.fromkeys(keys, 0)

    def step(self, dense: bool = True, record: bool = False) -> np.ndarray | None:
        """Run one time step; returns the sheet's spikes, shape (batch, n_pixels), bool.

        With ``dense=False`` the fast sheet path skips building that array and returns None;
        ``last_spikes`` (flat indices ``image * n_pixels + pixel``) holds them either way, and
        ``last_window`` the window bits that are 1. With ``record=True``, ``applied`` holds the
        attention codes the step applied, shape (batch, n_pixels).
        """
        if self.interpreted:
            return self._interpreted_step(dense, record)
        chip, lif, c = self.chip, self.lif, self.counters
        batch, n = self.batch, self.n_pixels
        slot = self.t % self.ring_length
        # phase 0: sheet cores, hadamard -> lif
        if self.fast:
            spiked, fired = self._fast_sheet_step(slot)
            spikes = None
            if dense:
                spikes = np.zeros(batch * n, dtype=bool)
                spikes[spiked] = True
                spikes = spikes.reshape(batch, n)
            bits = None
        else:
            self.lfsr = P.lfsr_advance(self.lfsr, self.shifts)
            m = P.hadamard(self.image, self.ring[:, slot], self.hadamard_shift)
            noise = (self.lfsr & np.uint32(lif["noise_mask"])).astype(np.int64)
            self.v, self.refractory, spikes = P.lif_step(
                self.v, self.refractory, m, alpha=lif["alpha"], v_leak=lif["v_leak"],
                v_threshold=lif["v_threshold"], threshold_noise=noise, reset_mode=lif["reset_mode"],
                v_reset=lif["v_reset"], refractory_steps=lif["refractory_steps"],
                membrane_bits=chip.membrane_bits)
            # phase 1: sheet cores, window -> send
            coin = ((self.lfsr >> np.uint32(self.rand_shift)) & np.uint32(255)).astype(np.int64)
            bits, self.age = P.window_step(spikes, self.age, coin, self.keep, nested=self.nested,
                                           kept=self.kept)
            if self.nested:
                self.kept = bits
            fired = np.flatnonzero(bits)
        self.last_spikes = spiked if self.fast else np.flatnonzero(spikes)
        self.last_window = fired  # flat indices of the window bits that are 1 (sent on)
        c["macs"] += batch * self.n_pixels
        # the last layer's routers write the delay ring (read again ring_length steps later)
        if record:
            if self.fast and not self._slot_is_whole():
                raise RuntimeError(f"step {self.t}: the applied attention was not kept "
                                   f"(reset with full_from <= {self.t - self.ring_length})")
            self.applied = self.ring[:, slot].copy()
        if self.fast and self.t < self.full_from:
            self.ring_awake[slot] = self._layers(fired, bits, batch, only=self.awake)
        else:
            self.ring[:, slot] = self._layers(fired, bits, batch)
        c["steps"] += 1
        c["packets"] += batch * self.packets_per_step
        c["packet_hops"] += batch * self.packet_hops_per_step
        c["spikes"] += int(self.last_spikes.size)
        self.t += 1
        return spikes

    def _layers(self, fired: np.ndarray, bits: np.ndarray | None, rows: int,
                only: np.ndarray | None = None) -> np.ndarray:
        """The dense layers on ``rows`` window maps given by their 1s (flat indices
        ``row * n_pixels + pixel``, increasing) or as ``bits`` (rows, n_pixels): the last layer's
        codes, shape (rows, n_pixels); with ``only`` (flat indices ``row * n_out + output``), the
        codes of those outputs alone, shape (only.size,). The matmul is the same; the bias, the
        clip and the lookup are done for those outputs only (elementwise, so the same values)."""
        chip, c, n = self.chip, self.counters, self.n_pixels
        if bits is None and not (self.layers[0]["fused"] or {}).get("float32_lut"):
            bits = np.zeros(rows * n, dtype=bool)
            bits[fired] = True
            bits = bits.reshape(rows, n)
        x = bits
        binary = True
        # dense layers: matvec on every tile, accumulate + lut on the reducing tiles
        for layer in self.layers:
            if binary:
                c["sops"] += int(fired.size) * layer["n_out"]
            else:
                c["macs"] += rows * layer["weights"]
            fused = layer["fused"]
            if fused is not None and fused["float32_lut"] is not None:
                # weights and bias pre-scaled by 2**-shift (per neuron): every partial sum is an
                # integer below 2**24 times a power of two, exact in float32, and so is its floor
                weight, bias, table = fused["float32_lut"]
                if binary:  # event-driven: only the active window bits are accumulated
                    acc = _bits_matmul(fired, rows, n, fused["weight_rows"])
                else:  # zero inputs (relu outputs) contribute nothing: skip them
                    used = np.flatnonzero(x.any(axis=0))
                    if used.size <= COLUMN_FRACTION * x.shape[1]:  # inputs zero in every image
                        acc = np.matmul(x[:, used], weight[used])
                    elif np.count_nonzero(x) < SPARSE_FRACTION * x.size:
                        flat = np.flatnonzero(x.ravel())
                        row, col = np.divmod(flat, x.shape[1])
                        acc = _events_matmul(row, col, x.ravel()[flat], x.shape, weight)
                    else:  # into a kept buffer: a fresh one costs page faults every step
                        acc = np.matmul(x, weight, out=self._buffer(
                            "acc", layer, (x.shape[0], layer["n_out"]), np.float32))
                if fused["offset_lut"] is not None:
                    bias, table = fused["offset_lut"]
                last = only is not None and layer is self.layers[-1]
                if last:  # the bias, clip and lookup of those outputs only
                    acc, bias = np.take(acc.reshape(-1), only), self._bias_at(layer, bias, only)
                if fused["offset_lut"] is not None:  # index = acc + 128, see _fuse
                    acc += bias
                    np.clip(acc, 0, 255, out=acc)
                    index = self._buffer("index", layer, acc.shape, np.int32)
                    np.copyto(index, acc, casting="unsafe")  # truncation: floor for acc >= 0
                    y = np.take(table, index, mode="clip",  # indices in range: no clipping
                                out=self._buffer("y", layer, acc.shape, table.dtype))
                else:
                    acc += bias
                    np.floor(acc, out=acc)
                    np.clip(acc, -128, 127, out=acc)
                    index = self._buffer("index", layer, acc.shape, np.intp)
                    np.copyto(index, acc, casting="unsafe")  # exact: acc holds integers
                    y = table[index]  # table rolled: index -128 .. 127
                if last:
                    return y
            elif fused is not None:  # one matmul for all tiles: provably equal (see _fuse)
                acc = np.matmul(x.astype(fused["dtype"]), fused["weight"]).astype(np.int64)
                acc += fused["bias"]
                if fused["lut"] is not None:
                    y = P.lut(acc, *fused["lut"])
                else:
                    y = np.empty((rows, layer["n_out"]), dtype=np.int64)
                    for (nlo, nhi), _, _, shift, table in layer["reducers"]:
                        y[:, nlo:nhi] = P.lut(acc[:, nlo:nhi], shift, table)
            else:
                x = x.astype(np.float32)
                partial = {core_id: P.matvec_exact(x[:, alo:ahi], w, chip.accumulator_bits)
                           for core_id, (alo, ahi), _, w in layer["tiles"]}
                y = np.empty((rows, layer["n_out"]), dtype=np.int64)
                for (nlo, nhi), sources, bias, shift, table in layer["reducers"]:
                    acc = partial[sources[0]]
                    for src in sources[1:]:
                        acc = P.add_sat(acc, partial[src], chip.accumulator_bits)
                    acc = P.add_sat(acc, bias, chip.accumulator_bits)
                    y[:, nlo:nhi] = P.lut(acc, shift, table)
            if layer is not self.layers[-1]:
                x, binary = y.astype(np.float32, copy=False), False
        return y if only is None else np.take(y.reshape(-1), only)

    def _interpreted_step(self, dense: bool, record: bool) -> np.ndarray | None:
        """One step of the interpreter (a program no vectorised kernel matches)."""
        machine = self.machine
        machine.step()
        spikes = machine.read("spikes") != 0
        self.last_spikes = np.flatnonzero(spikes)
        self.last_window = (np.flatnonzero(machine.read("window")) if "window" in machine.outputs
                            else np.zeros(0, dtype=np.int64))
        if record:
            self.applied = machine.read("attention")
        self.t += 1
        return spikes if dense else None

    def _buffer(self, name: str, layer: dict, shape: tuple, dtype) -> np.ndarray:
        """A kept work array of the given shape, reused from step to step (a fresh one costs page
        faults every step)."""
        key = (name, layer["name"], len(shape))
        array = self._buffers.get(key)
        if array is None or array.shape != shape:
            array = self._buffers[key] = np.empty(shape, dtype=dtype)
        return array

    def _slot_is_whole(self) -> bool:
        """Whether the slot this step reads holds every code (``ring``): it was written at step
        ``t - ring_length``, from ``full_from`` on, or holds the initial attention."""
        written = self.t - self.ring_length
        return written < 0 or written >= self.full_from

    def _bias_at(self, layer: dict, bias: np.ndarray, only: np.ndarray) -> np.ndarray:
        """The layer's bias at the flat outputs ``only`` (row * n_out + output), kept per batch."""
        key = layer["name"]
        if key not in self._only_bias:
            self._only_bias[key] = np.take(bias, only % layer["n_out"])
        return self._only_bias[key]

    def _fast_sheet_step(self, slot: int):
        """Phases 0 and 1 of the sheet for binary images and a memoryless LIF (alpha = 0).

        Equal to the general path bit for bit: with alpha = 0, ``v = sat(v_leak + m)`` and
        ``th = sat(v_threshold + noise)`` with ``m, noise`` in [0, 255] and ``|v_leak|,
        |v_threshold| < 2**27 - 256``, so neither saturates and ``v > th`` is
        ``m > noise + v_threshold - v_leak``; the binary image makes ``image * code <= 255``;
        the reset value is never read again (the next step's v does not depend on it).
        Only the "awake" neurons are updated: when ``v_threshold >= v_leak`` a neuron whose image
        bit is 0 has ``m = 0`` and can never fire, and its window (age 15 at reset) never outputs,
        so skipping it (clock gating) changes no spike and no routed value.
        Refractory counter and window age both follow from the step ``s`` of the last spike: at
        step t the counter read before the update is ``max(r - (t - 1 - s), 0)`` (set to r at s,
        then decremented) and the age after the update is ``min(t - s, 15)``; so a neuron is free
        when ``s <= t - 1 - r`` and its window age is ``a < 15`` when ``s == t - a``.

        Returns
        -------
        (spiked, fired) : flat indices (image * n_pixels + pixel) of the neurons that spiked and
        of the window bits that are 1.
        """
        lif = self.lif
        self.lfsr = P.lfsr_advance(self.lfsr, self.shifts)
        if self._slot_is_whole():
            code = np.take(self.ring_planes[slot].reshape(-1), self.awake)
        else:
            code = self.ring_awake[slot]
        if self.image_awake.all() and self.hadamard_shift == 0:
            m = code  # 1 * code >> 0
        else:
            m = (self.image_awake * code) >> self.hadamard_shift  # uint8: bit x code <= 255
        byte = self.lfsr.view(np.uint8).reshape(-1, 4)  # bytes of each LFSR, in memory order
        little = sys.byteorder == "little"
        if lif["noise_mask"] == 255 and little:
            noise = byte[:, 0]  # = lfsr & 255
        else:
            noise = (self.lfsr & np.uint32(lif["noise_mask"])).astype(np.uint8)  # mask <= 255
        offset = lif["v_threshold"] - lif["v_leak"]
        if offset == 0:
            over = m > noise
        else:
            over = m.astype(np.int32) > noise.astype(np.int32) + offset
        t = self.t
        spikes = over & (self.last <= t - 1 - lif["refractory_steps"])
        np.copyto(self.last, t, where=spikes)
        if self.rand_shift == 8 and little:
            coin = byte[:, 1]  # = (lfsr >> 8) & 255
        else:
            coin = ((self.lfsr >> np.uint32(self.rand_shift)) & np.uint32(255)).astype(np.uint8)
        if self.nested:
            window = _nested_window_bits(self.last, t, coin, self.keep_table, self.kept,
                                         len(self.keep))
            self.kept = window
        else:
            window = _window_bits(self.last, t, coin, self.keep_table, len(self.keep))
        return self.awake.compress(spikes), self.awake.compress(window)

    # --- estimates (hnnbio.chip.estimates) ---------------------------------------------------

    def latency_per_step_s(self) -> float:
        """Estimated chip time of one step of one image, s (see estimates.latency_per_step_s)."""
        return estimates.latency_per_step_s(self.program)

    def utilisation(self) -> list[dict]:
        """Per core: fraction of axons, neurons and memory used."""
        return estimates.utilisation(self.program)

    def summary(self) -> dict:
        """Counters with energy and latency, for the CLI and BindingResult.info."""
        return estimates.summary(self.counters, self.program)


def _window_bits(last: np.ndarray, t: int, coin: np.ndarray, keep_table: np.ndarray,
                 n_keep: int) -> np.ndarray:
    """``coin < keep_table[age]`` with ``age = min(t - last, 15)``: the window's output bits.

    As primitives.window_step. ``keep_table`` (16 entries) is zero from ``n_keep`` on, and
    ``coin < 0`` never holds for a uint8 coin, so for a short keep list a few compares
    (``last == t - a and coin < keep[a]``) give the same bits faster than a table lookup.
    """
    if n_keep > 4:
        age = np.minimum(t - last, 15)
        return coin < np.take(keep_table, age)
    window = last == t
    if keep_table[0] < 256:  # (a keep of 256 always passes)
        window &= coin < keep_table[0]
    for a in range(1, n_keep):
        window |= (last == t - a) & (coin < keep_table[a])
    return window


def _nested_window_bits(last: np.ndarray, t: int, coin: np.ndarray, keep_table: np.ndarray,
                        kept: np.ndarray, n_keep: int = 16) -> np.ndarray:
    """Nested coins: ``coin < keep_table[age] and (age == 0 or kept)``, ``age = min(t - last, 15)``.

    As primitives.window_step with ``nested=True``; ``kept`` is the previous step's output. For a
    short keep list (``keep_table`` zero from ``n_keep`` on) the same compare chain as
    :func:`_window_bits`.
    """
    if n_keep > 4:
        age = np.minimum(t - last, 15)
        return (coin < np.take(keep_table, age)) & ((age == 0) | kept)
    window = last == t
    if keep_table[0] < 256:
        window &= coin < keep_table[0]
    for a in range(1, n_keep):
        window |= (last == t - a) & kept & (coin < keep_table[a])
    return window


def _bits_matmul(fired: np.ndarray, batch: int, n: int, weight: torch.Tensor) -> np.ndarray:
    """``X @ weight`` for a binary X (batch, n) given by its 1s, flat indices in increasing order.

    Row b of the product is the sum of the weight rows of image b's active inputs: torch's
    embedding_bag (sum mode; an empty bag gives zeros). Exact in float32 in any order for the
    integers bounded by _fuse, as _events_matmul.
    """
    offsets = np.searchsorted(fired, np.arange(batch) * n)
    return torch.nn.functional.embedding_bag(torch.from_numpy(fired % n), weight,
                                             torch.from_numpy(offsets), mode="sum").numpy()


def _events_matmul(rows, cols, values, shape, weight) -> np.ndarray:
    """``X @ weight`` for a sparse X given by its non-zero entries (rows in increasing order).

    Zero inputs contribute nothing to an integer dot product, so skipping them (an event-driven
    axon) is exact; scipy accumulates in float32, exact for the integers bounded by _fuse.
    """
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    events = sparse.csr_matrix((values, cols, indptr), shape=shape)
    return np.asarray(events @ weight)


def _fuse(layer: dict, max_input: int, acc_bits: int) -> dict | None:
    """One weight matrix for all tiles of a layer, when that provably changes no bit.

    Each output's accumulator is bounded by ``sum_i max_input |w_ij| + |b_j|``; when that bound is
    below ``2**(acc_bits - 1)`` no saturating add (partial sums, bias) can saturate, so the tiled
    sum equals the plain sum ``x @ W + b``; and every partial sum of the matmul is an integer below
    the bound, so float32 (bound < 2**24) or float64 (< 2**53) computes it exactly in any order.
    Returns None when the bound does not hold (the emulator then runs tile by tile).
    """
    n_in = max(t[1][1] for t in layer["tiles"])
    weight = np.zeros((n_in, layer["n_out"]), dtype=np.float64)
    bias = np.zeros(layer["n_out"], dtype=np.int64)
    for _, (alo, ahi), (nlo, nhi), w in layer["tiles"]:
        weight[alo:ahi, nlo:nhi] = w
    for (nlo, nhi), _, b, _, _ in layer["reducers"]:
        bias[nlo:nhi] = b
    bound = int(np.max(max_input * np.abs(weight).sum(axis=0) + np.abs(bias)))
    if bound >= 1 << (acc_bits - 1) or bound >= 1 << 53:
        return None
    dtype = np.float32 if bound < 1 << 24 else np.float64
    shift = np.zeros(layer["n_out"], dtype=np.int64)
    for (nlo, nhi), _, _, s, _ in layer["reducers"]:
        shift[nlo:nhi] = s
    first = layer["reducers"][0]
    same = all(np.array_equal(r[4], first[4]) for r in layer["reducers"])
    lut = (shift, first[4]) if same else None
    float32_lut = offset_lut = None
    if dtype == np.float32 and lut is not None:
        scale = 2.0 ** -lut[0].astype(np.float64)
        float32_lut = ((weight * scale).astype(np.float32), (bias * scale).astype(np.float32),
                       np.roll(lut[1].astype(np.float32), -128))
        # clamp(floor(a), -128, 127) + 128 = trunc(clip(a + 128, 0, 255)): with the 128 folded
        # into the bias the index needs no floor and is never negative (a faster lookup). Exact
        # when the biased bias is exact in float32 and every shift is <= 16: a + 128 is then exact
        # while its integer numerator (units 2**-shift) is below 2**24, and beyond that
        # |a + 128| >= 2**(24 - shift) >= 256, where monotone rounding keeps it out of [0, 256)
        offset = (bias + 128.0 * 2.0 ** lut[0]) * scale
        if np.max(lut[0]) <= 16 and np.array_equal(offset.astype(np.float32), offset):
            table = lut[1].astype(np.float32)
            if np.array_equal(np.clip(np.rint(table), 0, 255), table):  # 8-bit codes
                table = table.astype(np.uint8)  # (a last layer writes them to the ring as is)
            offset_lut = (offset.astype(np.float32), table)
    return {"weight": weight.astype(dtype), "bias": bias, "dtype": dtype, "lut": lut,
            "float32_lut": float32_lut, "offset_lut": offset_lut}


#: Fields of lif and window that name buffers (the rest are registers).
_LIF_BUFFERS = ("input", "v", "refractory", "spikes", "rand")
_WINDOW_BUFFERS = ("spikes", "age", "kept", "out", "rand")


class _NoMatch(Exception):
    """The program is not the pattern the vectorised kernels implement (the reason)."""


def _need(condition, why: str) -> None:
    if not condition:
        raise _NoMatch(why)


def binding_plan(program: Program) -> tuple[dict | None, str]:
    """Match a program against the instruction pattern of the binding loop.

    The pattern, read from instructions, buffers, routes and ports only (never from roles, layer
    names or the manifest's ``sheet``/``layers``): sheet cores running ``hadamard(a, b) -> lif``
    in one phase and ``window -> send`` in a later one, with the same registers on every such
    core; ``a`` written only by the ``image`` port and ``b`` only by the ``attention`` port
    (its first D steps) and by routes of delay D; one LFSR buffer per sheet core, read by lif and
    window, with streams numbered by pixel; then dense layers: every core receiving the window
    bits (or a layer's codes) in its ``matvec`` input, covered once by contiguous slices of one
    index space, its partial sum kept or sent whole (bits >= the accumulator) to one
    reducing core whose ``accumulate -> lut -> send`` runs in a later phase; reducers' outputs
    ordered by core id; the last layer sending to the sheet cores' ``b`` with delay D, element i
    to pixel i. Every instruction of the program must be part of the pattern, and every phase
    must come after the phase that feeds it (same-step data flow).

    Returns
    -------
    (plan, "") when it matches: ``lif`` and window registers, ``hadamard_shift``, ``layers`` as
    ``(tiles, reducers)`` with tiles ``(core, (alo, ahi), (nlo, nhi), weight)`` and reducers
    ``((nlo, nhi), [source cores], bias, shift, table)``; else (None, the reason).
    """
    try:
        return _plan(program), ""
    except _NoMatch as exc:
        return None, str(exc)


def _plan(program: Program) -> dict:
    m, chip = program.manifest, program.chip
    cores = {c.core: c for c in program.cores}
    arrays = program.arrays
    ops = {(c.core, p): [i.op for i in v] for c in program.cores for p, v in c.phases.items()}
    total = sum(len(v) for c in program.cores for v in c.phases.values())
    matched = 0
    ports = m["ports"]
    inputs = {port["name"]: port for port in ports["inputs"]}
    route_into: dict[tuple[int, str], list] = {}
    for c in program.cores:
        for instructions in c.phases.values():
            for ins in instructions:
                if ins.op == "send":
                    for to in ins.args["to"]:
                        route_into.setdefault((to["core"], to["buffer"]), []).append(c.core)

    def init(core, name):
        return cores[core].buffers[name].get("init", 0)

    # --- the sheet ---------------------------------------------------------------------------
    sheet = [c for c in program.cores if any(i.op == "hadamard" for v in c.phases.values()
                                             for i in v)]
    _need(sheet, "no core runs hadamard")
    registers, phases = set(), set()
    image_parts = {part["core"]: part for part in inputs["image"]["parts"]}
    ring_parts = {part["core"]: part for part in inputs["attention"]["parts"]}
    _need(len(image_parts) == len(inputs["image"]["parts"]) == len(sheet)
          and len(ring_parts) == len(inputs["attention"]["parts"]) == len(sheet),
          "the image and attention ports must have one part per hadamard core")
    offset, window_out, attention = {}, {}, {}
    for c in sheet:
        keys = sorted(c.phases)
        _need(len(keys) == 2 and ops[c.core, keys[0]] == ["hadamard", "lif"]
              and ops[c.core, keys[1]] == ["window", "send"],
              f"core {c.core}: not hadamard -> lif, then window -> send")
        had, lif = (i.args for i in c.phases[keys[0]])
        win, send = (i.args for i in c.phases[keys[1]])
        matched += 4
        _need(lif["input"] == had["out"] and win["spikes"] == lif["spikes"]
              and win["rand"] == lif["rand"] is not None and send["what"] == win["out"]
              and send["delay"] == 0, f"core {c.core}: the sheet's buffers are not chained")
        part, ring = image_parts.get(c.core), ring_parts.get(c.core)
        _need(part is not None and ring is not None, f"core {c.core}: no image or attention part")
        size = c.buffers[had["a"]]["size"]
        _need(part["buffer"] == had["a"] and part["at"] == 0 and part["hi"] - part["lo"] == size
              and ring["buffer"] == had["b"] and ring["at"] == 0 and ring["lo"] == part["lo"]
              and ring["hi"] == part["hi"], f"core {c.core}: ports do not fill a and b")
        _need((c.core, had["a"]) not in route_into, f"core {c.core}: a route writes the image")
        _need(c.buffers[lif["rand"]].get("stream") == part["lo"],
              f"core {c.core}: LFSR streams are not numbered by pixel")
        _need(not isinstance(lif["alpha"], str) and not isinstance(lif["v_threshold"], str),
              f"core {c.core}: per-neuron LIF registers (the kernel takes one per core)")
        _need(init(c.core, lif["v"]) == 0 and init(c.core, lif["refractory"]) == 0
              and init(c.core, win["age"]) == 15
              and (win["kept"] is None or init(c.core, win["kept"]) == 0),
              f"core {c.core}: state buffers do not start at v = 0, counter 0, age 15")
        registers.add(json.dumps([had["shift"], {k: v for k, v in lif.items()
                                                 if k not in _LIF_BUFFERS},
                                  {k: v for k, v in win.items() if k not in _WINDOW_BUFFERS}],
                                 sort_keys=True))
        phases.add(tuple(keys))
        offset[c.core] = part["lo"]
        window_out[c.core, win["out"]] = part["lo"]
        attention[c.core] = had["b"]
    _need(len(registers) == 1, "the hadamard cores differ in their registers")
    _need(len(phases) == 1, "the hadamard cores run in different phases")
    n = inputs["image"]["size"]
    spans = sorted((offset[c.core], offset[c.core] + c.buffers[attention[c.core]]["size"])
                   for c in sheet)
    _need(spans[0][0] == 0 and spans[-1][1] == n
          and all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False)),
          "the hadamard cores do not hold the pixels 0..n once")
    _need(m["lfsr_streams"] == n, "lfsr_streams is not the number of pixels")
    shift, lif_regs, win_regs = json.loads(registers.pop())
    (_, send_phase), = phases

    # --- the layers --------------------------------------------------------------------------
    D = inputs["attention"]["steps"]
    source = dict(window_out)  # (core, buffer) -> index of its element 0 in the layer's input
    senders = [(c.core, send_phase, [i for i in c.phases[send_phase] if i.op == "send"][0].args)
               for c in sheet]
    layers, used = [], {c.core for c in sheet}
    while True:
        pieces: dict[tuple[int, str], list] = {}
        for cid, _p, args in senders:
            for to in args["to"]:
                pieces.setdefault((to["core"], to["buffer"]), []).append(
                    (to["at"], source[cid, args["what"]] + to["lo"], to["hi"] - to["lo"]))
        last = all(k[0] in attention and attention[k[0]] == k[1] for k in pieces)
        _need(pieces and (last or not any(k[0] in attention for k in pieces)),
              "a layer sends both to the sheet and to other cores")
        for key, got in pieces.items():  # each target filled once, element i from index i0 + i
            got.sort()
            size = cores[key[0]].buffers[key[1]]["size"]
            _need(got[0][0] == 0 and sum(g[2] for g in got) == size
                  and all(a[0] + a[2] == b[0] for a, b in zip(got, got[1:], strict=False))
                  and all(g[1] - g[0] == got[0][1] for g in got),
                  f"core {key[0]} buffer {key[1]!r} is not one contiguous slice of its input")
        if last:
            _need(layers, "the window is sent back to the sheet")
            _need(all(args["delay"] == D and args["bits"] >= 8 for _, _, args in senders),
                  "the last layer does not send 8-bit codes with the ring's delay")
            _need(all(got[0][1] == offset[key[0]] for key, got in pieces.items())
                  and len(pieces) == len(sheet), "the last layer's outputs are not in pixel order")
            break
        _need(all(args["delay"] == 0 for _, _, args in senders), "a layer's input is delayed")
        fed_phase = max(p for _, p, _ in senders)
        tiles, partial_of = {}, {}
        for (cid, name), got in pieces.items():
            core = cores[cid]
            _need(cid not in used and cid not in tiles, f"core {cid} is fed twice")
            mv = [(p, i.args) for p, v in core.phases.items() for i in v if i.op == "matvec"]
            _need(len(mv) == 1 and mv[0][1]["x"] == name and mv[0][0] > fed_phase,
                  f"core {cid} does not run one matvec on what it receives, after it arrives")
            (p, args), = mv
            lo = got[0][1]
            tiles[cid] = {"phase": p, "axons": (lo, lo + core.buffers[name]["size"]),
                          "weight": arrays[args["weights"]], "out": args["out"]}
            matched += 1
            if ops[cid, p] == ["matvec", "send"]:
                send = core.phases[p][1].args
                (to,), size = send["to"], core.buffers[args["out"]]["size"]
                _need(send["what"] == args["out"] and send["delay"] == 0
                      and send["bits"] >= chip.accumulator_bits and to["lo"] == 0
                      and to["hi"] == size and to["at"] == 0
                      and cores[to["core"]].buffers[to["buffer"]]["size"] == size,
                      f"core {cid} does not send its whole partial sum")
                partial_of[to["core"], to["buffer"]] = cid
                matched += 1
            else:
                _need(ops[cid, p] == ["matvec"], f"core {cid}: matvec with other ops")
                partial_of[cid, args["out"]] = cid
        reducers, senders = {}, []
        for rid in sorted({k[0] for k in partial_of}):
            core = cores[rid]
            acc = [(p, v) for p, v in core.phases.items() if v and v[0].op == "accumulate"]
            _need(len(acc) == 1, f"core {rid} does not accumulate once")
            (p, instructions), = acc
            _need(ops[rid, p] == ["accumulate", "lut", "send"], f"core {rid}: not accumulate -> "
                  "lut -> send")
            a, lut, send = (i.args for i in instructions)
            sources = [partial_of.get((rid, s)) for s in a["sources"]]
            _need(None not in sources and len(set(sources)) == len(sources)
                  and lut["x"] == a["out"] and send["what"] == lut["out"]
                  and all(p > tiles[s]["phase"] for s in sources),
                  f"core {rid}: its sources are not partial sums of this layer before phase {p}")
            size = core.buffers[a["out"]]["size"]
            bias = (np.zeros(size, dtype=np.int32) if a["bias"] is None else arrays[a["bias"]])
            reducers[rid] = (size, sources, bias, arrays[lut["shift"]].astype(np.int64),
                             arrays[lut["table"]])
            senders.append((rid, p, send))
            matched += 3
        _need(sorted(s for r in reducers.values() for s in r[1]) == sorted(tiles),
              "every partial sum must reach one reducing core")
        out, lo, source = [], 0, {}
        for rid, _p, send in senders:  # reducers in core order: outputs lo .. lo + size
            size, sources, bias, lshift, table = reducers[rid]
            out.append(((lo, lo + size), sources, bias, lshift, table))
            for s in sources:
                tiles[s]["neurons"] = (lo, lo + size)
            source[rid, send["what"]] = lo
            lo += size
        layers.append(([(cid, t["axons"], t["neurons"], t["weight"]) for cid, t in tiles.items()],
                       out))
        used |= set(tiles) | set(reducers)
    _need(matched == total, f"{total - matched} instructions are not part of the pattern")
    return {"lif": lif_regs, "keep": win_regs["keep"], "rand_shift": win_regs["rand_shift"],
            "nested": bool(win_regs.get("nested", False)), "hadamard_shift": shift,
            "layers": layers}
