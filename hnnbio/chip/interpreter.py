"""The program interpreter: runs any chip program by its instructions, buffers and routes.

It executes exactly the semantics of :mod:`hnnbio.chip.isa` (one step: LFSRs advance, delayed
deliveries land, ``steps`` input ports write, then the phases in order, each core's blocks in
order, a phase's ``delay = 0`` deliveries written at its end) and reads nothing else of the
manifest than ``chip``, ``cores`` (their buffers, phases and mesh positions), ``n_phases``,
``ports``, ``lfsr_shifts_per_step`` and ``lfsr_streams``: no roles, layer names or model settings.
Values move between cores only through ``send``; counters count what is executed and moved.

Every buffer holds B samples (one row each, one state). Integer semantics come from
:mod:`hnnbio.chip.primitives`; a matvec runs as a float32 (or float64) matmul only when the
largest possible partial sum, ``max|x| * max_j sum_i |W_ij|``, is below 2**24 (2**53), where
every partial sum is an integer the float type represents exactly, so the order of the additions
cannot change the result; otherwise as an int64 matmul (exact: the bound is below 2**63).

>>> m = Machine(program)                                   # doctest: +SKIP
>>> m.reset(4, seed=1, inputs={"image": bits, "attention": ring0})
>>> m.step(); m.read("spikes").shape
(4, n)
"""

from __future__ import annotations

import numpy as np

from hnnbio.chip import primitives as P
from hnnbio.chip.isa import buffer_range, packets
from hnnbio.chip.program import Program
from hnnbio.errors import DataError, ParameterError, ProgramError

#: The window primitive's age counter saturates here (4 bits).
AGE_MAX = 15
COUNTERS = ("steps", "macs", "sops", "packets", "packet_hops", "spikes")


def _fits(inner: tuple[int, int], outer: tuple[int, int]) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1]


class Machine:
    """State and step of a program for a batch of B samples.

    Parameters
    ----------
    program : Program

    Raises
    ------
    ProgramError
        A field names a buffer or array the core lacks, sizes or value ranges do not fit (an
        op's output range must fit its destination), a route leaves its buffers, or two routes
        (or a route and an input port) write overlapping elements of one buffer.
    """

    def __init__(self, program: Program):
        self.program = program
        self.chip = chip = program.chip
        m = program.manifest
        self.n_phases = int(m["n_phases"])
        self.shifts = int(m["lfsr_shifts_per_step"])
        self.n_streams = int(m["lfsr_streams"])
        self.cores = {c.core: c for c in program.cores}
        self.specs = {(c.core, name): spec for c in program.cores
                      for name, spec in c.buffers.items()}
        self.acc_range = chip.accumulator_range
        self._writers: dict[tuple[int, str], list] = {}  # (core, buffer) -> [(lo, hi, what)]
        self._delayed: dict[tuple[int, str], dict] = {}  # ring of each delayed target
        # phases[p] = list of (core id, [compiled instruction, ...])
        self.phases: list[list] = [[] for _ in range(self.n_phases)]
        for core in program.cores:
            for p in sorted(core.phases):
                if not 0 <= p < self.n_phases:
                    raise ProgramError(f"program: core {core.core} has phase {p}, outside "
                                       f"0..{self.n_phases - 1} (n_phases)")
                self.phases[p].append((core.core, [self._compile(core, p, ins)
                                                   for ins in core.phases[p]]))
        self.inputs = {port["name"]: self._port(port, "input") for port in m["ports"]["inputs"]}
        self.outputs = {port["name"]: self._port(port, "output")
                        for port in m["ports"]["outputs"]}
        self._check_overlaps()
        self.lfsr_keys = [key for key, spec in self.specs.items() if "stream" in spec]
        self.buffers: dict[tuple[int, str], np.ndarray] = {}
        self.batch = 0

    # --- loading: every field checked, every instruction bound ---------------------------------

    def _buffer(self, core, p, op, field, name, size=None):
        """The spec of buffer ``name`` of ``core``, checked to exist (and to have ``size``)."""
        spec = core.buffers.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ProgramError(f"program: core {core.core}, phase {p}, {op}.{field}: "
                               f"{name!r} is not a buffer of the core")
        if size is not None and spec["size"] != size:
            raise ProgramError(f"program: core {core.core}, phase {p}, {op}.{field}: buffer "
                               f"{name!r} has {spec['size']} elements, the op needs {size}")
        return spec

    def _holds(self, core, p, op, field, spec, value_range):
        if not _fits(value_range, buffer_range(spec)):
            raise ProgramError(f"program: core {core.core}, phase {p}, {op}.{field}: the op "
                               f"writes values in [{value_range[0]}, {value_range[1]}], the "
                               f"buffer holds {list(buffer_range(spec))}")

    def _array(self, core, p, op, field, key, dtype, shape):
        a = self.program.arrays.get(key) if isinstance(key, str) else None
        if a is None or a.dtype != dtype or a.shape != shape:
            got = "missing" if a is None else f"{a.dtype} {a.shape}"
            raise ProgramError(f"program: core {core.core}, phase {p}, {op}.{field}: array "
                               f"{key!r} must be {np.dtype(dtype)} of shape {shape}, got {got}")
        return a

    def _lfsr(self, core, p, op, field, name, size):
        spec = self._buffer(core, p, op, field, name, size)
        if "stream" not in spec:
            raise ProgramError(f"program: core {core.core}, phase {p}, {op}.{field}: buffer "
                               f"{name!r} is not an LFSR buffer (no stream)")

    def _compile(self, core, p, ins):
        """Check one instruction and return a function of the machine that runs it."""
        a, op, cid = ins.args, ins.op, core.core
        buf = self._buffer
        if op == "hadamard":
            out = buf(core, p, op, "out", a["out"])
            n = out["size"]
            buf(core, p, op, "a", a["a"], n)
            buf(core, p, op, "b", a["b"], n)
            self._holds(core, p, op, "out", out, (0, 255))
            keys, shift = ((cid, a["a"]), (cid, a["b"]), (cid, a["out"])), int(a["shift"])

            def run():
                s = self.buffers
                s[keys[2]] = P.hadamard(s[keys[0]], s[keys[1]], shift)
                self.counters["macs"] += self.batch * n
            return run
        if op == "matvec":
            x = buf(core, p, op, "x", a["x"])
            out = buf(core, p, op, "out", a["out"])
            w = self._array(core, p, op, "weights", a["weights"], np.int8,
                            (x["size"], out["size"]))
            self._holds(core, p, op, "out", out, self.acc_range)
            low, high = buffer_range(x)
            bound = max(abs(low), abs(high)) * int(np.abs(w.astype(np.int64)).sum(axis=0).max())
            dtype = np.float32 if bound < 1 << 24 else np.float64 if bound < 1 << 53 else np.int64
            weight = w.astype(dtype)
            binary = x["bits"] == 1 and not x["signed"]
            n_in, n_out = x["size"], out["size"]
            acc_bits = self.chip.accumulator_bits
            xk, ok = (cid, a["x"]), (cid, a["out"])

            def run():
                s = self.buffers
                xs = s[xk]
                s[ok] = P.sat(np.matmul(xs.astype(dtype), weight).astype(np.int64), acc_bits)
                if binary:
                    self.counters["sops"] += int(np.count_nonzero(xs)) * n_out
                else:
                    self.counters["macs"] += self.batch * n_in * n_out
            return run
        if op == "accumulate":
            out = buf(core, p, op, "out", a["out"])
            n = out["size"]
            sources = a["sources"]
            if not isinstance(sources, list) or not sources:
                raise ProgramError(f"program: core {cid}, phase {p}, accumulate.sources: must "
                                   f"list at least one buffer, got {sources!r}")
            for name in sources:
                spec = buf(core, p, op, "sources", name, n)
                if not _fits(buffer_range(spec), self.acc_range):
                    raise ProgramError(f"program: core {cid}, phase {p}, accumulate.sources: "
                                       f"buffer {name!r} holds values beyond the accumulator")
            self._holds(core, p, op, "out", out, self.acc_range)
            bias = None if a["bias"] is None else self._array(
                core, p, op, "bias", a["bias"], np.int32, (n,)).astype(np.int64)
            keys = [(cid, name) for name in sources]
            ok, acc_bits = (cid, a["out"]), self.chip.accumulator_bits

            def run():
                s = self.buffers
                acc = s[keys[0]]
                for key in keys[1:]:
                    acc = P.add_sat(acc, s[key], acc_bits)
                if bias is not None:
                    acc = P.add_sat(acc, bias, acc_bits)
                s[ok] = np.array(acc, dtype=np.int64)
            return run
        if op == "lif":
            spikes = buf(core, p, op, "spikes", a["spikes"])
            n = spikes["size"]
            buf(core, p, op, "input", a["input"], n)
            v = buf(core, p, op, "v", a["v"], n)
            ref = buf(core, p, op, "refractory", a["refractory"], n)
            if not v["signed"] or v["bits"] != self.chip.membrane_bits:
                raise ProgramError(f"program: core {cid}, phase {p}, lif.v: the membrane buffer "
                                   f"must be signed of {self.chip.membrane_bits} bits")
            steps = a["refractory_steps"]
            if not isinstance(steps, int) or not 0 <= steps <= self.chip.refractory_max:
                raise ProgramError(f"program: core {cid}, phase {p}, lif.refractory_steps: "
                                   f"{steps!r} is outside 0..{self.chip.refractory_max}")
            self._holds(core, p, op, "refractory", ref, (0, steps))
            self._holds(core, p, op, "spikes", spikes, (0, 1))
            mask = a["noise_mask"]
            if a["rand"] is None:
                if mask != 0:
                    raise ProgramError(f"program: core {cid}, phase {p}, lif.noise_mask: "
                                       f"{mask} without a rand buffer (must be 0)")
            else:
                self._lfsr(core, p, op, "rand", a["rand"], n)
            if a["reset_mode"] not in P.RESET_MODES:
                raise ProgramError(f"program: core {cid}, phase {p}, lif.reset_mode: "
                                   f"{a['reset_mode']!r} is not one of {', '.join(P.RESET_MODES)}")
            regs = {k: a[k] for k in ("v_leak", "reset_mode", "v_reset", "refractory_steps")}
            # alpha and v_threshold: a register, or an array of one value per neuron
            for f, dtype in (("alpha", np.uint8), ("v_threshold", np.int32)):
                regs[f] = a[f] if not isinstance(a[f], str) else self._array(
                    core, p, op, f, a[f], dtype, (n,)).astype(np.int64)
            keys = {f: (cid, a[f]) for f in ("input", "v", "refractory", "spikes", "rand")}
            bits = self.chip.membrane_bits

            def run():
                s = self.buffers
                noise = 0 if a["rand"] is None else (s[keys["rand"]]
                                                     & np.uint32(mask)).astype(np.int64)
                s[keys["v"]], s[keys["refractory"]], fired = P.lif_step(
                    s[keys["v"]], s[keys["refractory"]], s[keys["input"]],
                    threshold_noise=noise, membrane_bits=bits, **regs)
                s[keys["spikes"]] = fired.astype(np.int64)
                self.counters["spikes"] += int(np.count_nonzero(fired))
            return run
        if op == "lut":
            out = buf(core, p, op, "out", a["out"])
            n = out["size"]
            buf(core, p, op, "x", a["x"], n)
            shift = self._array(core, p, op, "shift", a["shift"], np.uint8, (n,)).astype(np.int64)
            table = self._array(core, p, op, "table", a["table"], np.uint8, (256,))
            self._holds(core, p, op, "out", out, (0, 255))
            xk, ok = (cid, a["x"]), (cid, a["out"])

            def run():
                s = self.buffers
                s[ok] = P.lut(s[xk], shift, table)
            return run
        if op == "window":
            out = buf(core, p, op, "out", a["out"])
            n = out["size"]
            buf(core, p, op, "spikes", a["spikes"], n)
            age = buf(core, p, op, "age", a["age"], n)
            self._holds(core, p, op, "age", age, (0, AGE_MAX))
            self._holds(core, p, op, "out", out, (0, 1))
            if age.get("init", 0) > AGE_MAX:
                raise ProgramError(f"program: core {cid}, window.age: init beyond {AGE_MAX}")
            self._lfsr(core, p, op, "rand", a["rand"], n)
            nested = bool(a.get("nested", False))
            if nested:
                kept = buf(core, p, op, "kept", a["kept"], n)
                self._holds(core, p, op, "kept", kept, (0, 1))
            elif a["kept"] is not None:
                raise ProgramError(f"program: core {cid}, phase {p}, window.kept: independent "
                                   f"coins keep no state (must be null)")
            keep = a["keep"]
            if not isinstance(keep, list) or not 1 <= len(keep) <= AGE_MAX or any(
                    not isinstance(k, int) or not 0 <= k <= 256 for k in keep):
                raise ProgramError(f"program: core {cid}, phase {p}, window.keep: must be 1 to "
                                   f"{AGE_MAX} coin codes in 0..256, got {keep!r}")
            rand_shift = a["rand_shift"]
            if not isinstance(rand_shift, int) or not 0 <= rand_shift <= 24:
                raise ProgramError(f"program: core {cid}, phase {p}, window.rand_shift: "
                                   f"{rand_shift!r} is outside 0..24")
            keep = np.asarray(keep, dtype=np.int64)
            keys = {f: (cid, a[f]) for f in ("spikes", "age", "kept", "out", "rand")}

            def run():
                s = self.buffers
                coin = ((s[keys["rand"]] >> np.uint32(rand_shift))
                        & np.uint32(255)).astype(np.int64)
                bits, s[keys["age"]] = P.window_step(
                    s[keys["spikes"]] != 0, s[keys["age"]], coin, keep, AGE_MAX, nested=nested,
                    kept=s[keys["kept"]] != 0 if nested else None)
                s[keys["out"]] = bits.astype(np.int64)
                if nested:
                    s[keys["kept"]] = s[keys["out"]]
            return run
        if op == "send":
            return self._compile_send(core, p, a)
        raise ProgramError(f"program: core {cid}, phase {p}: the interpreter has no op {op!r}")

    def _compile_send(self, core, p, a):
        cid = core.core
        src = self._buffer(core, p, "send", "what", a["what"])
        bits, delay = a["bits"], a["delay"]
        if not isinstance(bits, int) or not 1 <= bits <= 32:
            raise ProgramError(f"program: core {cid}, phase {p}, send.bits: {bits!r} is outside "
                               f"1..32")
        if not isinstance(delay, int) or not 0 <= delay <= self.chip.delay_slots:
            raise ProgramError(f"program: core {cid}, phase {p}, send.delay: {delay!r} is outside "
                               f"0..{self.chip.delay_slots} (delay_slots)")
        sent = buffer_range({"bits": bits, "signed": src["signed"]})
        if not isinstance(a["to"], list):
            raise ProgramError(f"program: core {cid}, phase {p}, send.to: must be a list")
        moves = []
        for i, to in enumerate(a["to"]):
            place = f"program: core {cid}, phase {p}, send.to[{i}]"
            if not isinstance(to, dict) or set(to) != {"core", "buffer", "lo", "hi", "at"}:
                raise ProgramError(f"{place}: must hold core, buffer, lo, hi, at")
            dst = self.cores.get(to["core"]) if isinstance(to["core"], int) else None
            if dst is None:
                raise ProgramError(f"{place}.core: {to['core']!r} is not a core of the program")
            spec = dst.buffers.get(to["buffer"]) if isinstance(to["buffer"], str) else None
            if spec is None:
                raise ProgramError(f"{place}.buffer: {to['buffer']!r} is not a buffer of core "
                                   f"{dst.core}")
            lo, hi, at = to["lo"], to["hi"], to["at"]
            if not _slice_fits(lo, hi, at, src["size"], spec["size"]):
                raise ProgramError(f"{place}: slice [{lo}, {hi}) of {a['what']!r} "
                                   f"({src['size']} elements) to [{at}, ...) of "
                                   f"{to['buffer']!r} ({spec['size']}) is out of bounds")
            if not _fits(sent, buffer_range(spec)):
                kind = "signed" if src["signed"] else "unsigned"
                raise ProgramError(f"{place}: {bits}-bit {kind} values do not fit buffer "
                                   f"{to['buffer']!r} of core {dst.core} "
                                   f"({list(buffer_range(spec))})")
            key = (dst.core, to["buffer"])
            self._writers.setdefault(key, []).append(
                (at, at + hi - lo, ("route", delay, f"core {cid} phase {p} send.to[{i}]")))
            if delay:
                ring = self._delayed.setdefault(key, {"length": 0, "regions": []})
                ring["length"] = max(ring["length"], delay)
                ring["regions"].append((at, at + hi - lo))
            n_packets = packets(hi - lo, bits, self.chip.packet_bytes)
            hops = abs(core.x - dst.x) + abs(core.y - dst.y)
            moves.append((slice(lo, hi), key, slice(at, at + hi - lo), n_packets, hops))
        src_key = (cid, a["what"])
        low, high = sent

        def run():
            s, c = self.buffers, self.counters
            values = s[src_key]
            if values.min(initial=low) < low or values.max(initial=high) > high:
                values = np.clip(values, low, high)
            for source, key, target, n_packets, hops in moves:
                part = values[:, source]
                if delay:
                    ring = self._rings[key]
                    ring[(self.t + delay) % ring.shape[0]][:, target] = part
                else:
                    self._pending.append((key, target, part.copy()))
                c["packets"] += self.batch * n_packets
                c["packet_hops"] += self.batch * n_packets * hops
        return run

    def _port(self, port, kind):
        name = port.get("name") if isinstance(port, dict) else None
        if not isinstance(name, str) or not isinstance(port.get("size"), int) or port["size"] < 1:
            raise ProgramError(f"program: ports: an {kind} port needs a name and a size >= 1, "
                               f"got {port!r}")
        mode = port.get("mode") if kind == "input" else None
        steps = 0
        if kind == "input":
            if mode not in ("hold", "steps"):
                raise ProgramError(f"program: ports.{name}.mode: {mode!r} is not hold or steps")
            if mode == "steps":
                steps = port.get("steps")
                if not isinstance(steps, int) or steps < 1:
                    raise ProgramError(f"program: ports.{name}.steps: must be a positive "
                                       f"integer, got {steps!r}")
        parts = []
        for i, part in enumerate(port.get("parts", [])):
            place = f"program: ports.{name}.parts[{i}]"
            if not isinstance(part, dict) or set(part) != {"core", "buffer", "lo", "hi", "at"}:
                raise ProgramError(f"{place}: must hold core, buffer, lo, hi, at")
            key = (part["core"], part["buffer"])
            spec = self.specs.get(key) if isinstance(part["core"], int) and isinstance(
                part["buffer"], str) else None
            if spec is None:
                raise ProgramError(f"{place}: core {part['core']!r} has no buffer "
                                   f"{part['buffer']!r}")
            lo, hi, at = part["lo"], part["hi"], part["at"]
            if not _slice_fits(lo, hi, at, port["size"], spec["size"]):
                raise ProgramError(f"{place}: [{lo}, {hi}) -> [{at}, ...) is out of bounds")
            parts.append((slice(lo, hi), key, slice(at, at + hi - lo), buffer_range(spec)))
            if kind == "input":
                self._writers.setdefault(key, []).append(
                    (at, at + hi - lo, ("port", steps, f"input port {name!r}")))
        if not parts:
            raise ProgramError(f"program: ports.{name}: has no parts")
        return {"name": name, "size": port["size"], "mode": mode, "steps": steps, "parts": parts}

    def _check_overlaps(self):
        for (cid, name), writers in self._writers.items():
            writers = sorted(writers)
            for i, (lo, hi, (kind, when, what)) in enumerate(writers):
                for lo2, hi2, (kind2, when2, what2) in writers[i + 1:]:
                    if lo2 >= hi:
                        break
                    pair = {kind: when, kind2: when2} if kind != kind2 else None
                    if pair and pair["port"] and pair["port"] <= pair["route"]:
                        continue  # a steps port within a delayed route's first steps
                    raise ProgramError(f"program: core {cid} buffer {name!r}: {what} and "
                                       f"{what2} write overlapping elements "
                                       f"[{max(lo, lo2)}, {min(hi, hi2)})")

    # --- running ---------------------------------------------------------------------------------

    def reset(self, batch: int, seed: int, inputs: dict | None = None,
              first_sample: int = 0) -> None:
        """Start B samples: every buffer at its ``init``, LFSRs seeded, rings empty, inputs loaded.

        Parameters
        ----------
        batch : int
        seed : int
            Seeds the LFSRs; sample ``first_sample + i`` gets the same streams whatever the batch.
        inputs : dict
            One array per input port: (batch, size) for ``hold``, (batch, steps, size) for
            ``steps``; integers within the receiving buffers' ranges.
        """
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ParameterError(f"batch: must be a positive integer, got {batch!r}")
        inputs = dict(inputs or {})
        unknown = set(inputs) - set(self.inputs)
        if unknown:
            raise DataError(f"inputs: {sorted(unknown)[0]!r} is not an input port "
                            f"({', '.join(self.inputs)})")
        self.batch = batch = int(batch)
        self.buffers = {}
        for key, spec in self.specs.items():
            if "stream" in spec:
                sample = np.arange(batch, dtype=np.int64)[:, None] + first_sample
                streams = sample * self.n_streams + spec["stream"] + np.arange(spec["size"])
                self.buffers[key] = P.lfsr_seed(seed, streams)
            else:
                self.buffers[key] = np.full((batch, spec["size"]), spec.get("init", 0),
                                            dtype=np.int64)
        self._rings = {key: np.zeros((ring["length"], batch, self.specs[key]["size"]),
                                     dtype=np.int64) for key, ring in self._delayed.items()}
        self._steps_inputs = []
        for name, port in self.inputs.items():
            shape = (batch, port["size"]) if port["mode"] == "hold" else (
                batch, port["steps"], port["size"])
            values = inputs.get(name)
            if values is None:
                values = np.zeros(shape, dtype=np.int64)
            values = np.asarray(values)
            if values.shape != shape or not (np.issubdtype(values.dtype, np.integer)
                                             or values.dtype == bool):
                raise DataError(f"inputs.{name}: expected integers of shape {shape}, got "
                                f"{values.dtype} {values.shape}")
            for source, key, target, (low, high) in port["parts"]:
                part = values[..., source]
                if part.size and (part.min() < low or part.max() > high):
                    raise DataError(f"inputs.{name}: values in [{part.min()}, {part.max()}] do "
                                    f"not fit core {key[0]} buffer {key[1]!r} [{low}, {high}]")
                if port["mode"] == "hold":
                    self.buffers[key][:, target] = part
            if port["mode"] == "steps":
                self._steps_inputs.append((port, values.astype(np.int64)))
        self.t = 0
        self._pending = []
        self.counters = dict.fromkeys(COUNTERS, 0)

    def step(self) -> None:
        """Run one time step (see the module docstring for the order)."""
        if not self.batch:
            raise ParameterError("step: call reset first")
        s, t = self.buffers, self.t
        for key in self.lfsr_keys:
            s[key] = P.lfsr_advance(s[key], self.shifts)
        for key, ring in self._rings.items():
            slot = ring[t % ring.shape[0]]
            for lo, hi in self._delayed[key]["regions"]:
                s[key][:, lo:hi] = slot[:, lo:hi]
                slot[:, lo:hi] = 0
        for port, values in self._steps_inputs:
            if t < port["steps"]:
                for source, key, target, _ in port["parts"]:
                    s[key][:, target] = values[:, t, source]
        for phase in self.phases:
            for _core, instructions in phase:
                for run in instructions:
                    run()
            for key, target, part in self._pending:
                s[key][:, target] = part
            self._pending = []
        self.t += 1
        self.counters["steps"] += 1

    def run(self, steps: int, ports: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run ``steps`` steps; the values of each output port (all by default) after each step,
        shape (batch, steps, size), int64."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ParameterError(f"steps: must be a non-negative integer, got {steps!r}")
        names = list(self.outputs) if ports is None else list(ports)
        for name in names:
            if name not in self.outputs:
                raise ParameterError(f"port: {name!r} is not an output port "
                                     f"({', '.join(self.outputs)})")
        out = {name: np.zeros((self.batch, steps, self.outputs[name]["size"]), dtype=np.int64)
               for name in names}
        for t in range(steps):
            self.step()
            for name in names:
                out[name][:, t] = self.read(name)
        return out

    def read(self, port: str) -> np.ndarray:
        """The values of an output port after the last step, shape (batch, size), int64."""
        if port not in self.outputs:
            raise ParameterError(f"port: {port!r} is not an output port "
                                 f"({', '.join(self.outputs)})")
        spec = self.outputs[port]
        out = np.zeros((self.batch, spec["size"]), dtype=np.int64)
        for source, key, target, _ in spec["parts"]:
            out[:, source] = self.buffers[key][:, target]
        return out

    def buffer(self, core: int, name: str) -> np.ndarray:
        """The values of one buffer of one core, shape (batch, size) (a view: do not write)."""
        return self.buffers[core, name]


def _slice_fits(lo, hi, at, source_size: int, target_size: int) -> bool:
    """Elements ``[lo, hi)`` of a source of ``source_size`` written at ``at`` fit a target of
    ``target_size`` (all three integers, not bools; a non-empty slice)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi, at)):
        return False
    return 0 <= lo < hi <= source_size and 0 <= at and at + hi - lo <= target_size
