"""The emulator's vectorised kernels equal the program interpreter bit for bit.

The kernels are selected by matching instruction patterns (emulator.binding_plan); the
interpreter executes the program's instructions and routes one by one. On the shipped binding
programs both must give the same spikes, window bits, applied attention and counters; a program
that leaves the pattern (a re-pointed route, registers that differ between cores) must run on
the interpreter, never on kernels that ignore the change.
"""

import copy

import numpy as np
import pytest

from hnnbio.chip.compiler import compile_model
from hnnbio.chip.emulator import Emulator, binding_plan
from hnnbio.chip.interpreter import Machine
from hnnbio.chip.program import Program
from hnnbio.chip.run import initial_attention

pytestmark = pytest.mark.emulator


def _trace(runner, images, ring, seed, steps, first=0):
    """Per step: spikes, window bits and applied attention, plus the final counters."""
    batch = images.shape[0]
    if isinstance(runner, Machine):
        runner.reset(batch, seed, {"image": images, "attention": ring}, first_sample=first)
    else:
        runner.reset(images, ring, seed, first_image=first)
    out = []
    for _ in range(steps):
        if isinstance(runner, Machine):
            runner.step()
            out.append((runner.read("spikes"), runner.read("window"), runner.read("attention")))
        else:
            spikes = runner.step(record=True)
            window = np.zeros(spikes.size, dtype=np.int64)
            window[runner.last_window] = 1
            out.append((spikes.astype(np.int64), window.reshape(spikes.shape),
                        np.asarray(runner.applied, dtype=np.int64)))
    return out, {k: runner.counters[k] for k in ("macs", "sops", "packets", "packet_hops",
                                                   "spikes")}


def _same(a, b):
    (steps_a, counters_a), (steps_b, counters_b) = a, b
    assert len(steps_a) == len(steps_b)
    for t, (x, y) in enumerate(zip(steps_a, steps_b, strict=True)):
        for name, u, v in zip(("spikes", "window", "attention"), x, y, strict=True):
            assert np.array_equal(u, v), (name, t)
    assert counters_a == counters_b


@pytest.fixture(scope="module")
def shipped():
    return {name: compile_model(name) for name in ("bars", "shapes", "corners")}


def _inputs(program, n, seed):
    from hnnbio.data import datasets

    images, _ = datasets.generate(program.manifest["model"]["dataset"], n, seed)
    flat = images.reshape(n, -1).astype(np.int64)
    d = program.manifest["ports"]["inputs"][1]["steps"]
    return flat, initial_attention(n, d, flat.shape[1], seed)


@pytest.mark.parametrize("name", ["bars", "shapes", "corners"])
def test_the_kernels_equal_the_interpreter_on_the_shipped_programs(shipped, name):
    program = shipped[name]
    emulator = Emulator(program)
    assert not emulator.interpreted, emulator.plan_problem  # the vectorised kernels run
    images, ring = _inputs(program, 3, seed=2)
    steps = emulator.ring_length + 6  # past the first attention written back by the network
    fast = _trace(emulator, images, ring, seed=9, steps=steps, first=5)
    slow = _trace(Machine(program), images, ring, seed=9, steps=steps, first=5)
    _same(fast, slow)
    assert fast[1]["spikes"] > 0 and fast[1]["sops"] > 0 and fast[1]["macs"] > 0


def _edited(program, edit):
    manifest = copy.deepcopy(program.manifest)
    edit(manifest)
    return Program(manifest, {k: v.copy() for k, v in program.arrays.items()})


def _last_layer_sends(manifest):
    return [ins["args"] for core in manifest["cores"] for ins in
            core["phases"].get(str(manifest["n_phases"] - 1), []) if ins["op"] == "send"]


def test_a_repointed_route_leaves_the_kernels_and_changes_the_run(shipped):
    # the last layer's first send shifted by one pixel (y[i] -> pixel i + 1): a routing bug the
    # kernels would hide (they assume pixel order); the emulator must run the program as written
    program = shipped["bars"]

    def shifted(manifest):
        to = _last_layer_sends(manifest)[0]["to"][0]
        to["hi"] -= 1
        to["at"] += 1

    bad = _edited(program, shifted)
    plan, problem = binding_plan(bad)
    assert plan is None and "contiguous slice" in problem
    emulator = Emulator(bad)
    assert emulator.interpreted
    images, ring = _inputs(program, 2, seed=4)
    d = emulator.ring_length
    got = _trace(emulator, images, ring, seed=1, steps=d + 4)
    _same(got, _trace(Machine(bad), images, ring, seed=1, steps=d + 4))
    right = _trace(Emulator(program), images, ring, seed=1, steps=d + 4)
    # identical until the network's first attention lands, then exactly the shifted codes:
    # pixel p + 1 of the block gets what pixel p gets in the right program; the block's first
    # pixel, which no route writes any more, keeps the last value the host's port wrote (step
    # D - 1 of the initial ring)
    _same((got[0][:d], {}), (right[0][:d], {}))
    lo, hi = (lambda t: (t["at"], t["at"] + t["hi"] - t["lo"]))(
        _last_layer_sends(bad.manifest)[0]["to"][0])
    core = _last_layer_sends(bad.manifest)[0]["to"][0]["core"]
    start = next(part["lo"] for part in bad.manifest["ports"]["inputs"][0]["parts"]
                 if part["core"] == core)
    applied_bad, applied_right = got[0][d][2], right[0][d][2]
    assert np.array_equal(applied_bad[:, start + lo:start + hi],
                          applied_right[:, start + lo - 1:start + hi - 1])
    assert np.array_equal(applied_bad[:, start], ring[:, d - 1, start])
    assert not np.array_equal(applied_bad, applied_right)


def test_cores_with_different_registers_run_on_the_interpreter(shipped):
    program = shipped["corners"]

    def slower(manifest):  # one sheet core with a longer refractory period than the others
        core = next(c for c in manifest["cores"]
                    if any(i["op"] == "hadamard" for v in c["phases"].values() for i in v))
        lif = next(i for v in core["phases"].values() for i in v if i["op"] == "lif")
        lif["args"]["refractory_steps"] += 3

    edited = _edited(program, slower)
    emulator = Emulator(edited)
    assert emulator.interpreted and "registers" in emulator.plan_problem
    images, ring = _inputs(program, 2, seed=3)
    got = _trace(emulator, images, ring, seed=2, steps=12)
    _same(got, _trace(Machine(edited), images, ring, seed=2, steps=12))
    fast = _trace(Emulator(program), images, ring, seed=2, steps=12)
    assert got[1]["spikes"] < fast[1]["spikes"]  # longer refractoriness: fewer spikes


def test_an_instruction_outside_the_pattern_sends_the_program_to_the_interpreter(shipped):
    program = shipped["corners"]
    sheet = next(c.core for c in program.cores
                 if any(i.op == "hadamard" for v in c.phases.values() for i in v))

    def extra(manifest):  # a LUT of the sheet core's spikes into a spare buffer, in soma2
        core = next(c for c in manifest["cores"] if c["core"] == sheet)
        n = core["buffers"]["spikes"]["size"]
        core["buffers"]["spare"] = {"size": n, "bits": 8, "signed": False}
        core["phases"]["1"].append({"block": "soma2", "op": "lut", "args": {
            "x": "spikes", "out": "spare", "shift": "spare.shift", "table": "spare.table"}})

    edited = _edited(program, extra)
    n = next(c for c in edited.cores if c.core == sheet).buffers["spare"]["size"]
    edited.arrays["spare.shift"] = np.zeros(n, dtype=np.uint8)
    edited.arrays["spare.table"] = np.arange(256, dtype=np.uint8)
    plan, problem = binding_plan(edited)
    assert plan is None and "window -> send" in problem
    emulator = Emulator(edited)
    assert emulator.interpreted
    images, ring = _inputs(program, 2, seed=3)
    _same(_trace(emulator, images, ring, seed=2, steps=8),
          _trace(Emulator(program), images, ring, seed=2, steps=8))  # the extra op sends nothing
    # and the interpreter ran it: spare = table[spikes + 128] = spikes + 128
    spikes = emulator.machine.buffer(sheet, "spikes")
    assert np.array_equal(emulator.machine.buffer(sheet, "spare"), spikes + 128)


@pytest.mark.parametrize("variant", ["plain", "saturating", "leaky", "nested"])
def test_every_kernel_path_equals_the_interpreter(tmp_path, small_chip, tiny_samples, variant):
    # the tiny model on 8 x 8 cores: tiled layers; saturating biases take the tile-by-tile path,
    # a leaky LIF the general sheet path, nested coins the nested window
    from .conftest import write_tiny_model

    path = write_tiny_model(tmp_path, keep=(0.9, 0.6, 0.2), nested=True) if variant == "nested" \
        else write_tiny_model(tmp_path)
    program = compile_model(path, small_chip, samples=tiny_samples)
    if variant == "saturating":
        for key in program.arrays:
            if key.endswith(".bias"):
                b = program.arrays[key]
                b[::2], b[1::2] = 2 ** 31 - 1, -(2 ** 31)
    if variant == "leaky":
        for core in program.cores:
            for ins in (i for v in core.phases.values() for i in v if i.op == "lif"):
                ins.args.update(alpha=200, v_leak=-20, v_threshold=60, reset_mode="subtract")
    emulator = Emulator(program)
    assert not emulator.interpreted, emulator.plan_problem
    images = (np.random.default_rng(3).random((4, 16)) < 0.6).astype(np.int64)
    ring = initial_attention(4, emulator.ring_length, 16, seed=7)
    fast = _trace(emulator, images, ring, seed=7, steps=30)
    if variant == "saturating":
        assert all(layer["fused"] is None for layer in emulator.layers)
    assert emulator.fast == (variant != "leaky")
    _same(fast, _trace(Machine(program), images, ring, seed=7, steps=30))
