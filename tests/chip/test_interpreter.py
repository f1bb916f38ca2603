"""The program interpreter against references written here in plain Python integers.

The programs are built in the tests from small graphs the emulator never saw (two LIF
populations with a delayed synapse, a dense layer with a LUT feeding back), so the interpreter
can only get them right by executing their instructions and routes.
"""

import copy
import re

import numpy as np
import pytest

from hnnbio.chip.interpreter import Machine
from hnnbio.chip.program import Program
from hnnbio.chip.spec import ChipSpec
from hnnbio.errors import DataError, ParameterError, ProgramError

M64 = (1 << 64) - 1
CHIP = ChipSpec(name="test", mesh_x=4, mesh_y=4, axons_per_core=16, neurons_per_core=16,
                memory_bytes_per_core=4096, delay_slots=8)


def sat(x, bits):
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return low if x < low else high if x > high else x


def splitmix_seed(seed, stream):
    z = (stream + (seed & 0xFFFFFFFF) * 0x9E3779B97F4A7C15) & M64
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return (z & 0xFFFFFFFF) or 1


def lfsr(s, shifts):
    for _ in range(shifts):
        s = (s >> 1) ^ (0x80200003 if s & 1 else 0)
    return s


def buf(size, bits, signed=False, **extra):
    return {"size": size, "bits": bits, "signed": signed, **extra}


def ins(block, op, **args):
    return {"block": block, "op": op, "args": args}


def dest(core, buffer, lo, hi, at=0):
    return {"core": core, "buffer": buffer, "lo": lo, "hi": hi, "at": at}


def core(cid, x, y, buffers, phases):
    return {"core": cid, "x": x, "y": y, "layer": f"l{cid}", "role": "test", "neurons": [0, 1],
            "axons": [0, 1], "buffers": buffers,
            "phases": {str(p): list(v) for p, v in phases.items()}}


def program(cores, ports, n_phases, arrays=None, streams=1):
    manifest = {"chip": CHIP.to_dict(), "cores": cores, "n_phases": n_phases, "ports": ports,
                "lfsr_shifts_per_step": 16, "lfsr_streams": streams}
    return Program(manifest, dict(arrays or {}))


def port(name, size, parts, **extra):
    return {"name": name, "size": size, "parts": parts, **extra}


# --- (a) two LIF populations, a delayed synapse, a dense layer with a LUT ------------------------

NA, NB, NY = 5, 4, 3
RNG = np.random.default_rng(11)
W0 = RNG.integers(-40, 60, (NY, NA)).astype(np.int8)      # feedback y -> A
W1 = RNG.integers(-20, 90, (NA, NB)).astype(np.int8)      # A -> B, buffer "pre"
W1ALT = RNG.integers(-90, 30, (NA, NB)).astype(np.int8)   # A -> B, buffer "pre_alt"
W2 = RNG.integers(-128, 128, (NB, NY)).astype(np.int8)    # B -> dense layer
BIAS0 = RNG.integers(-10, 10, NA).astype(np.int32)
BIAS2 = RNG.integers(-200, 200, NY).astype(np.int32)
SHIFT2 = np.array([3, 4, 5], dtype=np.uint8)
TABLE2 = RNG.integers(0, 256, 256).astype(np.uint8)
LIF_A = dict(alpha=200, v_leak=-2, v_threshold=60, noise_mask=31, reset_mode="subtract",
             v_reset=0, refractory_steps=1)
LIF_B = dict(alpha=128, v_leak=0, v_threshold=20, noise_mask=0, reset_mode="value", v_reset=-5,
             refractory_steps=2)
Y_BITS = 6  # the feedback is sent with 6 bits: codes above 63 are clamped
A_DELAY, Y_DELAY = 2, 1


def network(a_route=("pre", 0, NA, 0)):
    """Core 0: population A (input port ``drive`` + feedback); core 1: population B fed by A's
    spikes 2 steps late; core 2: a dense layer + LUT of B's spikes, fed back to A 1 step late."""
    buffer, lo, hi, at = a_route
    c0 = core(0, 0, 0, {
        "drive": buf(NA, 8), "fb": buf(NY, 8), "fbsyn": buf(NA, 32, True),
        "acc": buf(NA, 32, True), "v": buf(NA, 28, True), "ref": buf(NA, 4), "spikes": buf(NA, 1),
        "lfsr": buf(NA, 32, stream=0),
    }, {0: [ins("axon", "matvec", x="fb", weights="c0.weight", out="fbsyn")],
        1: [ins("axon", "accumulate", sources=["drive", "fbsyn"], bias="c0.bias", out="acc"),
            ins("soma1", "lif", input="acc", v="v", refractory="ref", spikes="spikes", rand="lfsr",
                **LIF_A),
            ins("router", "send", what="spikes", to=[dest(1, buffer, lo, hi, at)], bits=1,
                delay=A_DELAY)]})
    c1 = core(1, 2, 1, {
        "pre": buf(NA, 1), "pre_alt": buf(NA, 1), "syn": buf(NB, 32, True),
        "syn2": buf(NB, 32, True), "acc": buf(NB, 32, True), "v": buf(NB, 28, True),
        "ref": buf(NB, 4), "spikes": buf(NB, 1),
    }, {0: [ins("axon", "matvec", x="pre", weights="c1.weight", out="syn")],
        1: [ins("axon", "matvec", x="pre_alt", weights="c1.alt.weight", out="syn2")],
        2: [ins("axon", "accumulate", sources=["syn", "syn2"], bias=None, out="acc"),
            ins("soma1", "lif", input="acc", v="v", refractory="ref", spikes="spikes", rand=None,
                **LIF_B),
            ins("router", "send", what="spikes", to=[dest(2, "x", 0, NB)], bits=1, delay=0)]})
    c2 = core(2, 1, 3, {
        "x": buf(NB, 1), "partial": buf(NY, 32, True), "acc": buf(NY, 32, True), "y": buf(NY, 8),
    }, {3: [ins("axon", "matvec", x="x", weights="c2.weight", out="partial")],
        4: [ins("axon", "accumulate", sources=["partial"], bias="c2.bias", out="acc"),
            ins("soma1", "lut", x="acc", out="y", shift="c2.shift", table="c2.table"),
            ins("router", "send", what="y", to=[dest(0, "fb", 0, NY)], bits=Y_BITS,
                delay=Y_DELAY)]})
    ports = {"inputs": [port("drive", NA, [dest(0, "drive", 0, NA)], mode="steps", steps=40)],
             "outputs": [port("a", NA, [dest(0, "spikes", 0, NA)]),
                         port("b", NB, [dest(1, "spikes", 0, NB)]),
                         port("y", NY, [dest(2, "y", 0, NY)])]}
    arrays = {"c0.weight": W0, "c0.bias": BIAS0, "c1.weight": W1, "c1.alt.weight": W1ALT,
              "c2.weight": W2, "c2.bias": BIAS2, "c2.shift": SHIFT2, "c2.table": TABLE2}
    return program([c0, c1, c2], ports, 5, arrays, streams=NA)


def lif_ref(v, ref, inp, noise, p):
    """One neuron, one step of the extended LIF (docs/chip.md), in Python ints."""
    if ref > 0:
        return v, ref - 1, 0
    v = sat(((v * p["alpha"]) >> 8) + p["v_leak"] + inp, 28)
    th = sat(p["v_threshold"] + noise, 28)
    if v > th:
        if p["reset_mode"] == "value":
            v = p["v_reset"]
        elif p["reset_mode"] == "subtract":
            v = sat(v - th, 28)
        return v, p["refractory_steps"], 1
    return v, 0, 0


def reference(drive, seed, first, a_route=("pre", 0, NA, 0), steps=40):
    """The network of :func:`network`, sample by sample, neuron by neuron, with its own queue
    of delayed deliveries. Returns per sample the rows of (a, b, y) after each step and the
    counters."""
    w0, w1, w1alt, w2 = (w.astype(int).tolist() for w in (W0, W1, W1ALT, W2))
    table, shift = TABLE2.tolist(), SHIFT2.tolist()
    counters = {"macs": 0, "sops": 0, "packets": 0, "packet_hops": 0, "spikes": 0}
    out = []
    buffer, lo, hi, at = a_route
    for i, d in enumerate(drive.tolist()):
        state = [splitmix_seed(seed, (first + i) * NA + k) for k in range(NA)]
        va, ra, vb, rb = [0] * NA, [0] * NA, [0] * NB, [0] * NB
        pre = {"pre": [0] * NA, "pre_alt": [0] * NA}
        fb, x = [0] * NY, [0] * NB
        due = {}  # step -> [(target, values)]
        rows = []
        for t in range(steps):
            state = [lfsr(s, 16) for s in state]
            pre[buffer][at:at + hi - lo] = [0] * (hi - lo)  # a delayed target: 0 unless sent
            fb = [0] * NY
            for target, values in due.pop(t, []):
                if target == "fb":
                    fb = values
                else:
                    pre[buffer][at:at + hi - lo] = values
            # phase 0: A's feedback synapses; B's synapses from "pre"
            fbsyn = [sat(sum(fb[j] * w0[j][k] for j in range(NY)), 32) for k in range(NA)]
            counters["macs"] += NY * NA
            syn = [sat(sum(pre["pre"][j] * w1[j][k] for j in range(NA)), 32) for k in range(NB)]
            counters["sops"] += sum(pre["pre"]) * NB
            # phase 1: A integrates, spikes are sent 2 steps ahead; B's second synapses
            a = [0] * NA
            for k in range(NA):
                acc = sat(sat(d[t][k] + fbsyn[k], 32) + int(BIAS0[k]), 32)
                va[k], ra[k], a[k] = lif_ref(va[k], ra[k], acc, state[k] & 31, LIF_A)
            due.setdefault(t + A_DELAY, []).append(("pre", a[lo:hi]))
            counters["packets"] += 1
            counters["packet_hops"] += 3  # (0, 0) -> (2, 1)
            syn2 = [sat(sum(pre["pre_alt"][j] * w1alt[j][k] for j in range(NA)), 32)
                    for k in range(NB)]
            counters["sops"] += sum(pre["pre_alt"]) * NB
            # phase 2: B integrates; its spikes reach x at the end of the phase
            b = [0] * NB
            for k in range(NB):
                vb[k], rb[k], b[k] = lif_ref(vb[k], rb[k], sat(syn[k] + syn2[k], 32), 0, LIF_B)
            x = list(b)
            counters["packets"] += 1
            counters["packet_hops"] += 3  # (2, 1) -> (1, 3)
            # phase 3: dense layer; phase 4: bias, LUT, feedback clamped to 6 bits, 1 step late
            partial = [sat(sum(x[j] * w2[j][k] for j in range(NB)), 32) for k in range(NY)]
            counters["sops"] += sum(x) * NY
            y = []
            for k in range(NY):
                acc = sat(partial[k] + int(BIAS2[k]), 32)
                y.append(table[min(127, max(-128, acc >> shift[k])) + 128])
            due.setdefault(t + Y_DELAY, []).append(("fb", [min(v, (1 << Y_BITS) - 1) for v in y]))
            counters["packets"] += 1
            counters["packet_hops"] += 4  # (1, 3) -> (0, 0)
            counters["spikes"] += sum(a) + sum(b)
            rows.append((a, b, y))
        out.append(rows)
    return out, counters


def _drive(n, steps=40, seed=0):
    return np.random.default_rng(seed).integers(0, 120, (n, steps, NA))


def _run(prog, drive, seed, first=0, steps=40):
    m = Machine(prog)
    m.reset(drive.shape[0], seed, {"drive": drive}, first_sample=first)
    rows = []
    for _ in range(steps):
        m.step()
        rows.append([m.read(p).tolist() for p in ("a", "b", "y")])
    # rows[t][port][sample] -> [sample][t] = (a, b, y)
    return [[tuple(rows[t][j][i] for j in range(3)) for t in range(steps)]
            for i in range(drive.shape[0])], m.counters


@pytest.mark.parametrize("first", [0, 7])
def test_small_network_bit_exact_against_the_integer_reference(first):
    drive = _drive(3)
    got, counters = _run(network(), drive, seed=4, first=first)
    want, want_counters = reference(drive, seed=4, first=first)
    assert got == want
    assert {k: counters[k] for k in want_counters} == want_counters
    assert counters["steps"] == 40
    # the test means something: both populations fire, the feedback clamps
    a = np.array([[r[0] for r in s] for s in want])
    b = np.array([[r[1] for r in s] for s in want])
    y = np.array([[r[2] for r in s] for s in want])
    assert 0 < a.mean() < 0.9 and 0 < b.mean() < 0.9
    assert (y > 63).any() and len(np.unique(y)) > 3


@pytest.mark.parametrize("route", [("pre_alt", 0, NA, 0), ("pre", 1, NA, 0), ("pre", 0, 3, 2)],
                         ids=["other-buffer", "slice", "offset"])
def test_repointing_a_route_changes_the_output_as_the_reference_predicts(route):
    drive = _drive(2, seed=5)
    base, _ = _run(network(), drive, seed=2)
    got, counters = _run(network(a_route=route), drive, seed=2)
    want, want_counters = reference(drive, seed=2, first=0, a_route=route)
    assert got == want
    assert {k: counters[k] for k in want_counters} == want_counters
    b = [[row[1] for row in sample] for sample in got]
    assert b != [[row[1] for row in sample] for sample in base]  # B sees other inputs


# --- (c) delays, (d) bit widths ------------------------------------------------------------------

def relay(delay, bits=8, signed=False, dst_bits=None, values_bits=None, dst_signed=None):
    """Core 0 holds an input port ``x`` (per step) and sends it to core 1's ``y`` with
    ``delay`` and ``bits``; core 1 copies ``y`` through an identity LUT to ``z`` in phase 0,
    before the send of phase 1 (so ``z`` lags ``y`` by one step for delay 0)."""
    width = values_bits or bits
    c0 = core(0, 0, 0, {"x": buf(4, width, signed)},
              {1: [ins("router", "send", what="x", to=[dest(1, "y", 0, 4)], bits=bits,
                       delay=delay)]})
    c1 = core(1, 3, 2, {"y": buf(4, dst_bits or bits, signed if dst_signed is None else
                             dst_signed), "z": buf(4, 8)},
              {0: [ins("soma1", "lut", x="y", out="z", shift="c1.shift", table="c1.table")]})
    identity = np.clip(np.arange(256) - 128, 0, 255).astype(np.uint8)  # z = y for 0 <= y < 128
    ports = {"inputs": [port("x", 4, [dest(0, "x", 0, 4)], mode="steps", steps=30)],
             "outputs": [port("y", 4, [dest(1, "y", 0, 4)]), port("z", 4, [dest(1, "z", 0, 4)])]}
    return program([c0, c1], ports, 2, {"c1.shift": np.zeros(4, np.uint8), "c1.table": identity})


@pytest.mark.parametrize("delay", [0, 1, 3, 8])
def test_a_delay_of_d_shifts_the_receivers_input_by_d_steps(delay):
    x = np.random.default_rng(delay).integers(0, 128, (2, 30, 4))
    m = Machine(relay(delay))
    m.reset(2, 0, {"x": x})
    for t in range(30):
        m.step()
        want_y = x[:, t - delay] if t >= delay else np.zeros((2, 4), dtype=np.int64)
        assert np.array_equal(m.read("y"), want_y), t
        # z is computed in phase 0, before phase 1's send: with delay 0 it lags by one step
        lag = max(delay, 1)
        want_z = x[:, t - lag] if t >= lag else np.zeros((2, 4), dtype=np.int64)
        assert np.array_equal(m.read("z"), want_z), t
    # one packet of 4 bytes per step and sample, over |3 - 0| + |2 - 0| = 5 hops
    assert m.counters["packets"] == 2 * 30 and m.counters["packet_hops"] == 2 * 30 * 5


def test_delays_beyond_the_delay_slots_are_refused():
    with pytest.raises(ProgramError, match="send.delay: 9 is outside 0..8"):
        Machine(relay(9))


@pytest.mark.parametrize("bits, signed, low, high", [(3, False, 0, 7), (4, True, -8, 7),
                                                      (1, False, 0, 1), (12, True, -2048, 2047)])
def test_send_clamps_values_to_its_bit_width(bits, signed, low, high):
    values = np.array([-3000, -9, -8, -1, 0, 1, 5, 7, 8, 200, 3000]) if signed else \
        np.array([0, 1, 2, 6, 7, 8, 100, 255, 4000, 65535])
    x = np.zeros((1, 30, 4), dtype=np.int64)
    x[0, :values.size, 0] = values
    m = Machine(relay(1, bits=bits, signed=signed, values_bits=16, dst_bits=bits))
    m.reset(1, 0, {"x": x})
    got = []
    for _ in range(values.size + 1):
        m.step()
        got.append(int(m.read("y")[0, 0]))
    assert got[1:] == [min(max(v, low), high) for v in values.tolist()]


def test_a_destination_narrower_than_the_send_is_refused():
    with pytest.raises(ProgramError, match="values do not fit buffer 'y' of core 1"):
        Machine(relay(1, bits=8, dst_bits=6))
    with pytest.raises(ProgramError, match="do not fit"):  # signed values into unsigned
        Machine(relay(1, bits=8, signed=True, dst_bits=8, dst_signed=False))


# --- what the interpreter refuses at load and at reset -------------------------------------------

def _edited(edit):
    prog = network()
    manifest = copy.deepcopy(prog.manifest)
    edit(manifest)
    return Program(manifest, prog.arrays)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["cores"][0]["phases"]["1"][2]["args"]["to"][0].update(core=99),
     "send.to[0].core: 99 is not a core"),
    (lambda m: m["cores"][0]["phases"]["1"][2]["args"]["to"][0].update(buffer="nope"),
     "'nope' is not a buffer of core 1"),
    (lambda m: m["cores"][0]["phases"]["1"][2]["args"]["to"][0].update(hi=9),
     "out of bounds"),
    (lambda m: m["cores"][1]["phases"]["2"][2]["args"]["to"].append(dest(2, "x", 0, 2, 1)),
     "write overlapping elements"),
    (lambda m: m["cores"][2]["buffers"].update(y=buf(NY, 7)), "lut.out: the op writes values in"),
    (lambda m: m["cores"][1]["buffers"].update(acc=buf(NB, 16, True)), "accumulate.out"),
    (lambda m: m["cores"][0]["phases"]["1"][0]["args"].update(sources=["drive", "ghost"]),
     "'ghost' is not a buffer of the core"),
    (lambda m: m["cores"][2]["phases"]["3"][0]["args"].update(weights="c0.weight"),
     "must be int8 of shape"),
    (lambda m: m["cores"][1]["buffers"].update(ref=buf(NB, 1)), "lif.refractory"),
    (lambda m: m["cores"][0]["phases"]["1"][1]["args"].update(rand=None), "noise_mask"),
    (lambda m: m["ports"]["inputs"].append(port("again", NA, [dest(1, "pre", 0, NA)],
                                                mode="steps", steps=3)),
     "write overlapping elements"),
], ids=["route-core", "route-buffer", "route-slice", "overlap", "lut-range", "acc-range",
        "source", "weights", "refractory", "noise", "port-overlap"])
def test_the_interpreter_refuses_what_it_cannot_run(edit, message):
    with pytest.raises(ProgramError, match=re.escape(message)):
        Machine(_edited(edit))


def test_a_steps_port_may_prefill_a_delayed_route_within_its_delay():
    def prefill(steps):
        def edit(m):
            m["ports"]["inputs"].append(port("pre0", NA, [dest(1, "pre", 0, NA)], mode="steps",
                                             steps=steps))
        return edit
    Machine(_edited(prefill(A_DELAY)))  # the host's ring contents before the first send lands
    with pytest.raises(ProgramError, match="overlapping"):
        Machine(_edited(prefill(A_DELAY + 1)))


def test_inputs_outside_their_buffers_are_refused():
    m = Machine(network())
    with pytest.raises(DataError, match="do not fit core 0 buffer 'drive'"):
        m.reset(2, 0, {"drive": np.full((2, 40, NA), 256)})
    with pytest.raises(DataError, match="expected integers of shape"):
        m.reset(2, 0, {"drive": np.zeros((2, 39, NA), dtype=np.int64)})
    with pytest.raises(DataError, match="not an input port"):
        m.reset(2, 0, {"image": np.zeros((2, NA), dtype=np.int64)})


def test_run_records_every_output_port_after_each_step():
    drive = _drive(2, seed=8)
    m = Machine(network())
    m.reset(2, 3, {"drive": drive})
    out = m.run(40)
    want, _ = reference(drive, seed=3, first=0)
    for j, name in enumerate(("a", "b", "y")):
        assert out[name].shape == (2, 40, (NA, NB, NY)[j])
        assert out[name].tolist() == [[row[j] for row in sample] for sample in want]
    with pytest.raises(ParameterError, match="not an output port"):
        m.run(1, ["drive"])
