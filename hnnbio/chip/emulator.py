"""Bit-exact, integer-only emulator of a chip program, vectorised over the batch and over neurons.

One emulator state holds B images (batching is a dimension). Every step runs the program's phases
in order; cores of one phase are independent, so the emulator runs all cores of a layer together:

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

import sys

import numpy as np
import torch
from scipy import sparse

from hnnbio.chip import estimates
from hnnbio.chip import primitives as P
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
        self.n_pixels = int(m["sheet"]["n_pixels"])
        self.ring_length = int(m["sheet"]["delay_steps"])
        self.shifts = int(m["lfsr_shifts_per_step"])
        cores = {c.core: c for c in program.cores}
        sheet = [c for c in program.cores if c.role == "sheet"]
        if not sheet:
            raise ProgramError("program: no sheet cores")
        lif = [_op(c, 0, "lif").args for c in sheet]
        window = [_op(c, 1, "window").args for c in sheet]
        if any(a != lif[0] for a in lif) or any(a != window[0] for a in window):
            raise ProgramError("program: the emulator needs the same registers on every sheet core")
        self.lif = dict(lif[0])
        self.keep = np.asarray(window[0]["keep"], dtype=np.int64)
        self.rand_shift = int(window[0]["rand_shift"])
        self.nested = bool(window[0].get("nested", False))  # absent: a program of before the field
        self.hadamard_shift = int(_op(sheet[0], 0, "hadamard").args["shift"])
        lif = self.lif
        limit = (1 << (self.chip.membrane_bits - 1)) - 256
        self.fast_sheet = (lif["alpha"] == 0 and lif["reset_mode"] == "value"
                           and abs(lif["v_leak"]) < limit and abs(lif["v_threshold"]) < limit
                           and 0 <= lif["noise_mask"] <= 255 and len(self.keep) <= 15)
        self.layers = []
        for entry in m["layers"][1:]:
            tiles, reducers = [], []
            for a, _b, core_id in entry["grid"]:
                core = cores[core_id]
                w = program.arrays[_op(core, None, "matvec").args["weights"]]
                if w.shape != (core.axons[1] - core.axons[0], core.neurons[1] - core.neurons[0]):
                    raise ProgramError(f"program: core {core_id} weights of shape {w.shape} do not "
                                       f"match its axons {core.axons} x neurons {core.neurons}")
                # float32 holds every tile product exactly (see primitives.matvec)
                tiles.append((core_id, core.axons, core.neurons, w.astype(np.float32)))
                if a == 0:
                    acc = _op(core, None, "accumulate").args
                    lut = _op(core, None, "lut").args
                    reducers.append((core.neurons, _source_cores(program, core, acc["sources"]),
                                     program.arrays[acc["bias"]],
                                     program.arrays[lut["shift"]].astype(np.int64),
                                     program.arrays[lut["table"]]))
            n_out = max(r[0][1] for r in reducers)
            layer = {"name": entry["name"], "tiles": tiles, "reducers": reducers, "n_out": n_out,
                     "weights": sum(t[3].size for t in tiles)}
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
        self.packets_per_step = sum(r["packets"] for r in m["routes"])
        self.packet_hops_per_step = sum(r["packets"] * r["hops"] for r in m["routes"])

    # --- state ----------------------------------------------------------------------------

    def reset(self, images: np.ndarray, attention: np.ndarray, seed: int,
              first_image: int = 0) -> None:
        """Load a batch.

        Parameters
        ----------
        images : ndarray, shape (batch, n_pixels), {0, 1}
        attention : ndarray, shape (batch, delay_steps, n_pixels), int in [0, 255]
            Initial contents of the delay ring (attention codes, value = code / 256).
        seed : int
            Seeds the LFSRs; image ``first_image + i`` of a run gets the same streams whatever the
            batch size.
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

    def step(self, dense: bool = True) -> np.ndarray | None:
        """Run one time step; returns the sheet's spikes, shape (batch, n_pixels), bool.

        With ``dense=False`` the fast sheet path skips building that array and returns None;
        ``last_spikes`` (flat indices ``image * n_pixels + pixel``) holds them either way, and
        ``last_window`` the window bits that are 1.
        """
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
        if bits is None and not (self.layers[0]["fused"] or {}).get("float32_lut"):
            bits = np.zeros(batch * n, dtype=bool)
            bits[fired] = True
            bits = bits.reshape(batch, n)
        x = bits
        binary = True
        self.last_spikes = spiked if self.fast else np.flatnonzero(spikes)
        self.last_window = fired  # flat indices of the window bits that are 1 (sent on)
        c["macs"] += batch * self.n_pixels
        # dense layers: matvec on every tile, accumulate + lut on the reducing tiles
        for layer in self.layers:
            if binary:
                c["sops"] += int(fired.size) * layer["n_out"]
            else:
                c["macs"] += batch * layer["weights"]
            fused = layer["fused"]
            if fused is not None and fused["float32_lut"] is not None:
                # weights and bias pre-scaled by 2**-shift (per neuron): every partial sum is an
                # integer below 2**24 times a power of two, exact in float32, and so is its floor
                weight, bias, table = fused["float32_lut"]
                if binary:  # event-driven: only the active window bits are accumulated
                    acc = _bits_matmul(fired, batch, n, fused["weight_rows"])
                else:  # zero inputs (relu outputs) contribute nothing: skip them
                    used = np.flatnonzero(x.any(axis=0))
                    if used.size <= COLUMN_FRACTION * x.shape[1]:  # inputs zero in every image
                        acc = np.matmul(x[:, used], weight[used])
                    elif np.count_nonzero(x) < SPARSE_FRACTION * x.size:
                        flat = np.flatnonzero(x.ravel())
                        rows, cols = np.divmod(flat, x.shape[1])
                        acc = _events_matmul(rows, cols, x.ravel()[flat], x.shape, weight)
                    else:  # into a kept buffer: a fresh one costs page faults every step
                        acc = np.matmul(x, weight, out=self._buffer("acc", layer, x.shape[0],
                                                                    np.float32))
                if fused["offset_lut"] is not None:  # index = acc + 128, see _fuse
                    bias, table = fused["offset_lut"]
                    acc += bias
                    np.clip(acc, 0, 255, out=acc)
                    index = self._buffer("index", layer, acc.shape[0], np.int32)
                    np.copyto(index, acc, casting="unsafe")  # truncation: floor for acc >= 0
                    y = np.take(table, index, mode="clip",  # indices in range: no clipping
                                out=self._buffer("y", layer, acc.shape[0], table.dtype))
                else:
                    acc += bias
                    np.floor(acc, out=acc)
                    np.clip(acc, -128, 127, out=acc)
                    index = self._buffer("index", layer, acc.shape[0], np.intp)
                    np.copyto(index, acc, casting="unsafe")  # exact: acc holds integers
                    y = table[index]  # table rolled: index -128 .. 127
            elif fused is not None:  # one matmul for all tiles: provably equal (see _fuse)
                acc = np.matmul(x.astype(fused["dtype"]), fused["weight"]).astype(np.int64)
                acc += fused["bias"]
                if fused["lut"] is not None:
                    y = P.lut(acc, *fused["lut"])
                else:
                    y = np.empty((batch, layer["n_out"]), dtype=np.int64)
                    for (nlo, nhi), _, _, shift, table in layer["reducers"]:
                        y[:, nlo:nhi] = P.lut(acc[:, nlo:nhi], shift, table)
            else:
                x = x.astype(np.float32)
                partial = {core_id: P.matvec_exact(x[:, alo:ahi], w, chip.accumulator_bits)
                           for core_id, (alo, ahi), _, w in layer["tiles"]}
                y = np.empty((batch, layer["n_out"]), dtype=np.int64)
                for (nlo, nhi), sources, bias, shift, table in layer["reducers"]:
                    acc = partial[sources[0]]
                    for src in sources[1:]:
                        acc = P.add_sat(acc, partial[src], chip.accumulator_bits)
                    acc = P.add_sat(acc, bias, chip.accumulator_bits)
                    y[:, nlo:nhi] = P.lut(acc, shift, table)
            if layer is not self.layers[-1]:
                x, binary = y.astype(np.float32, copy=False), False
        # the last layer's routers write the delay ring (read again ring_length steps later)
        self.ring[:, slot] = y
        c["steps"] += 1
        c["packets"] += batch * self.packets_per_step
        c["packet_hops"] += batch * self.packet_hops_per_step
        c["spikes"] += int(self.last_spikes.size)
        self.t += 1
        return spikes

    def _buffer(self, name: str, layer: dict, batch: int, dtype) -> np.ndarray:
        """A kept work array of shape (batch, layer's n_out), reused from step to step."""
        key = (name, layer["name"])
        array = self._buffers.get(key)
        if array is None or array.shape[0] != batch:
            array = self._buffers[key] = np.empty((batch, layer["n_out"]), dtype=dtype)
        return array

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
        code = np.take(self.ring_planes[slot].reshape(-1), self.awake)
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
            window = _nested_window_bits(self.last, t, coin, self.keep_table, self.kept)
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
                        kept: np.ndarray) -> np.ndarray:
    """Nested coins: ``coin < keep_table[age] and (age == 0 or kept)``, ``age = min(t - last, 15)``.

    As primitives.window_step with ``nested=True``; ``kept`` is the previous step's output.
    """
    age = np.minimum(t - last, 15)
    return (coin < np.take(keep_table, age)) & ((age == 0) | kept)


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


def _op(core, phase, op):
    phases = [phase] if phase is not None else sorted(core.phases)
    for p in phases:
        for ins in core.phases.get(p, []):
            if ins.op == op:
                return ins
    raise ProgramError(f"program: core {core.core} ({core.layer}) lacks a {op!r} primitive")


def _source_cores(program, core, sources) -> list[int]:
    """The cores whose matvec wrote each source buffer of ``core``'s accumulate: the core itself
    for its own matvec's output, else the core whose send writes that buffer."""
    own = {ins.args["out"] for ins in _ops(core, "matvec")}
    found = []
    for name in sources:
        if name in own:
            found.append(core.core)
            continue
        senders = [c.core for c in program.cores for ins in _ops(c, "send")
                   for to in ins.args["to"] if to["core"] == core.core and to["buffer"] == name]
        if len(senders) != 1:
            raise ProgramError(f"program: core {core.core} accumulates {name!r}, written by "
                               f"{len(senders)} routes")
        found.append(senders[0])
    return found


def _ops(core, op):
    return [ins for p in sorted(core.phases) for ins in core.phases[p] if ins.op == op]
