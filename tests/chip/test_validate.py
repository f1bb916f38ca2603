"""Load-time validation: each rule refuses, by name, a hand-edited and re-signed program; the
shipped models' programs still load."""

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest

from hnnbio.chip import isa, validate
from hnnbio.chip.program import from_bytes, load_program, to_bytes
from hnnbio.errors import ProgramError

pytestmark = pytest.mark.emulator


def resign(blob: bytes, edit) -> bytes:
    """The program ``blob`` with ``edit(manifest, arrays)`` applied, encoded with a valid header
    and digest (what a hand edit followed by re-signing with program.to_bytes gives)."""
    program = from_bytes(blob)
    manifest = copy.deepcopy(program.manifest)
    arrays = {k: v.copy() for k, v in program.arrays.items()}
    edit(manifest, arrays)
    return to_bytes(SimpleNamespace(manifest=manifest, arrays=arrays))


def core(m, cid):
    return next(c for c in m["cores"] if c["core"] == cid)


def op(m, cid, name):
    return next(i["args"] for p in core(m, cid)["phases"].values() for i in p if i["op"] == name)


def setter(path_fn, value):
    """An edit that sets the last key of what ``path_fn(manifest)`` returns (container, key)."""
    def edit(m, arrays):
        container, key = path_fn(m)
        container[key] = value
    return edit


def array_edit(key, fn):
    def edit(m, arrays):
        arrays[key] = fn(arrays[key])
    return edit


def _both(*edits):
    def edit(m, arrays):
        for e in edits:
            e(m, arrays)
    return edit


# The tiny program (conftest.tiny_blob) on the small chip (4 x 4 mesh, 8 axons x 8 neurons,
# 4096 B per core, 8 delay slots): sheet cores 0, 1 (phase 0 hadamard -> lif, phase 1 window ->
# send); dense_1: reducers 2, 3 (matvec phase 2; accumulate -> lut -> send phase 3), tiles 4, 5;
# dense_2: reducers 6, 7 (send to the sheet's attention with delay 5 in phase 5), tiles 8, 9.
CASES = {
    # the examples
    "3-entry LUT": (array_edit("c2.table", lambda a: a[:3]),
                    r"core 2, phase 3, lut\.table: array 'c2\.table' is uint8 of shape \(3,\)"),
    "refractory 100": (setter(lambda m: (op(m, 0, "lif"), "refractory_steps"), 100),
                       r"core 0, phase 0, lif\.refractory_steps: 100 is outside \[0, 15\]"),
    "sheet refractory 100": (setter(lambda m: (m["sheet"], "refractory_steps"), 100),
                             r"sheet\.refractory_steps: 100 is outside \[0, 15\]"),
    "keep [999, -5]": (setter(lambda m: (op(m, 0, "window"), "keep"), [999, -5]),
                       r"core 0, phase 1, window\.keep: coin code 999 is outside \[0, 256\]"),
    "delay 1000": (setter(lambda m: (op(m, 6, "send"), "delay"), 1000),
                   r"core 6, phase 5, send\.delay: 1000 is outside \[0, 8\]"),
    "route to core 99": (setter(lambda m: (op(m, 0, "send")["to"][0], "core"), 99),
                         r"core 0, phase 1, send\.to: to\[0\]: core 99 is not a core"),
    "n_phases -3": (setter(lambda m: (m, "n_phases"), -3), r"program: n_phases: -3 is outside"),
    "dt -1": (setter(lambda m: (m["loop"], "dt_ms"), -1), r"loop\.dt_ms: -1 is outside \(0,"),
    "short bias": (array_edit("c2.bias", lambda a: a[:3]),
                   r"core 2, phase 3, accumulate\.bias: array 'c2\.bias' is int32 of shape \(3,\)"),
    "n_pixels 1e9": (setter(lambda m: (m["sheet"], "n_pixels"), 10 ** 9),
                     r"sheet\.n_pixels: 1000000000 is outside \[1, 128\]"),
    "n_pixels float": (setter(lambda m: (m["sheet"], "n_pixels"), 1e9),
                       r"sheet\.n_pixels: must be an integer, got 1000000000\.0"),
    # types: bool, NaN, inf, str where a number is expected
    "cycles bool": (setter(lambda m: (m["loop"], "cycles"), True),
                    r"loop\.cycles: must be an integer, got True"),
    "dt NaN": (setter(lambda m: (m["loop"], "dt_ms"), math.nan),
               r"loop\.dt_ms: must be a finite number, got nan"),
    "dt inf": (setter(lambda m: (m["loop"], "dt_ms"), math.inf),
               r"loop\.dt_ms: must be a finite number, got inf"),
    "alpha str": (setter(lambda m: (op(m, 0, "lif"), "alpha"), "7"),
                  r"core 0, phase 0, lif\.alpha: names array '7', which the file does not hold"),
    "alpha float": (setter(lambda m: (op(m, 0, "lif"), "alpha"), 7.5),
                    r"core 0, phase 0, lif\.alpha: must be an integer, got 7.5"),
    "name bool": (setter(lambda m: (m["model"], "name"), False), r"model\.name: must be a non-emp"),
    "unknown sheet key": (setter(lambda m: (m["sheet"], "colour"), 1), r"sheet\.colour: not a key"),
    "unknown manifest key": (setter(lambda m: (m, "extra"), 1), r"program: extra: not a manifest"),
    "missing key": (lambda m, a: m.pop("routes"), r"program: routes: missing from the manifest"),
    "missing loop key": (lambda m, a: m["loop"].pop("cycles"), r"loop\.cycles: missing"),
    # loop and sheet bounds
    "steps_per_cycle 0": (setter(lambda m: (m["loop"], "steps_per_cycle"), 0),
                          r"loop\.steps_per_cycle: 0 is outside \[1, 4096\]"),
    "readout beyond cycles": (setter(lambda m: (m["loop"], "readout_cycles"), 4),
                              r"loop\.readout_cycles: 4 is outside \[1, 3\]"),
    "delay_steps beyond slots": (setter(lambda m: (m["sheet"], "delay_steps"), 9),
                                 r"sheet\.delay_steps: 9 is outside \[1, 8\]"),
    "image_shape": (setter(lambda m: (m["model"], "image_shape"), [4, 5]),
                    r"model\.image_shape: must be \[height, width\] of 16 pixels"),
    "n_phases beyond max": (setter(lambda m: (m, "n_phases"), 33),
                            r"n_phases: 33 is outside \[1, 32\]"),
    "lfsr shifts 0": (setter(lambda m: (m, "lfsr_shifts_per_step"), 0),
                      r"lfsr_shifts_per_step: 0 is outside \[1, 32\]"),
    "quantization NaN": (setter(lambda m: (m["quantization"]["dense_1"], "rel_rms_error"),
                                math.nan), r"quantization\.dense_1\.rel_rms_error: must be a fin"),
    # the chip section
    "mesh 1000": (setter(lambda m: (m["chip"], "mesh_x"), 1000), r"chip\.mesh_x: 1000 exceeds 32"),
    "pJ NaN": (setter(lambda m: (m["chip"], "pj_per_mac"), math.nan), r"chip\.pj_per_mac: must"),
    "clock bool": (setter(lambda m: (m["chip"], "clock_hz"), True), r"chip\.clock_hz: must"),
    "weight bits 4": (setter(lambda m: (m["chip"], "weight_bits"), 4), r"chip\.weight_bits"),
    # cores on the mesh
    "core id 99": (setter(lambda m: (m["cores"][1], "core"), 99),
                   r"cores\[1\]\.core: 99 is outside \[0, 15\]"),
    "core twice": (setter(lambda m: (m["cores"][1], "core"), 0), r"core 0: listed twice"),
    "x off the mesh": (setter(lambda m: (core(m, 1), "x"), 4),
                       r"core 1, x: 4 is outside \[0, 3\]"),
    "same place": (setter(lambda m: (core(m, 1), "x"), 0),
                   r"core 1, x, y: \(0, 0\) is also core 0"),
    "neurons beyond the core": (setter(lambda m: (core(m, 2), "neurons"), [0, 9]),
                                r"core 2, neurons: must be \[first, last\) with 1 to 8"),
    "phase beyond n_phases": (lambda m, a: core(m, 0)["phases"].update({"7": []}),
                              r"core 0, phases: phase '7' is not in 0\.\.5"),
    "blocks out of order": (lambda m, a: core(m, 0)["phases"]["0"].reverse(),
                            r"core 0, phase 0: block axon after soma1"),
    "unknown op": (lambda m, a: core(m, 0)["phases"]["0"][0].update(op="explode"),
                   r"core 0, phase 0: op: 'explode' is not an op of the axon block"),
    # buffers
    "buffer too big": (setter(lambda m: (core(m, 0)["buffers"]["v"], "size"), 10 ** 9),
                       r"core 0, buffers\.v: 1000000000 elements, a core holds at most 8"),
    "buffer bool size": (setter(lambda m: (core(m, 0)["buffers"]["v"], "size"), True),
                         r"core 0, buffers\.v: .*size must be an integer"),
    "narrow membrane": (setter(lambda m: (core(m, 0)["buffers"]["v"], "bits"), 16),
                        r"core 0, phase 0, lif\.v: buffer 'v' is 16 bits wide, the op needs 28"),
    "unsigned membrane": (setter(lambda m: (core(m, 0)["buffers"]["v"], "signed"), False),
                          r"core 0, phase 0, lif\.v: buffer 'v' must be signed"),
    "wide membrane": (setter(lambda m: (core(m, 0)["buffers"]["v"], "bits"), 32),
                      r"core 0, phase 0, lif\.v: buffer 'v' is 32 bits wide, the op needs 28 "
                      r"to 28"),
    "signed spikes": (setter(lambda m: (core(m, 0)["buffers"]["spikes"], "signed"), True),
                      r"lif\.spikes: the op writes values in \[0, 1\], buffer 'spikes' holds "
                      r"\[-1, 0\]"),
    "window age starts beyond 15": (
        _both(setter(lambda m: (core(m, 0)["buffers"]["age"], "bits"), 5),
              setter(lambda m: (core(m, 0)["buffers"]["age"], "init"), 16)),
        r"core 0, phase 1, window\.age: buffer 'age' starts at 16, beyond 15"),
    "unsigned partial sums": (setter(lambda m: (core(m, 2)["buffers"]["partial_1"], "signed"),
                                     False),
                              r"core 2, phase 3, accumulate\.sources: buffer 'partial_1' holds "
                              r"\[0, 4294967295\], beyond the accumulator"),
    "narrow refractory": (setter(lambda m: (core(m, 0)["buffers"]["refractory"], "bits"), 2),
                          r"lif\.refractory: buffer 'refractory' is 2 bits wide, the op needs 4"),
    "missing buffer": (setter(lambda m: (op(m, 0, "hadamard"), "a"), "nothing"),
                       r"core 0, phase 0, hadamard\.a: 'nothing' is not a buffer of core 0"),
    "sizes differ": (setter(lambda m: (core(m, 0)["buffers"]["m"], "size"), 4),
                     r"core 0, phase 0, hadamard\.out: buffer 'm' has 4 elements, a"),
    "wide axon input": (setter(lambda m: (core(m, 6)["buffers"]["x"], "bits"), 16),
                        r"core 6, phase 4, matvec\.x: buffer 'x' is 16 bits wide, the op needs"),
    "not an LFSR": (lambda m, a: core(m, 0)["buffers"]["lfsr"].pop("stream"),
                    r"core 0, phase 0, lif\.rand: buffer 'lfsr' is not an LFSR buffer"),
    "streams overlap": (setter(lambda m: (core(m, 1)["buffers"]["lfsr"], "stream"), 4),
                        r"core 1, buffers\.lfsr\.stream: streams 4:12 overlap those of core 0"),
    "streams beyond lfsr_streams": (setter(lambda m: (m, "lfsr_streams"), 8),
                                    r"core 1, buffers\.lfsr\.stream: streams 8:16 beyond"),
    "op writes one buffer twice": (setter(lambda m: (op(m, 0, "lif"), "spikes"), "v"),
                                   r"core 0, phase 0, lif\.spikes: buffer 'v' .*|writes one buff"),
    # registers
    "alpha 256": (setter(lambda m: (op(m, 0, "lif"), "alpha"), 256), r"lif\.alpha: 256 is out"),
    "threshold beyond membrane": (setter(lambda m: (op(m, 0, "lif"), "v_threshold"), 2 ** 27),
                                  r"lif\.v_threshold: 134217728 is outside \[-134217728, 1342"),
    "reset mode": (setter(lambda m: (op(m, 0, "lif"), "reset_mode"), "explode"),
                   r"lif\.reset_mode: 'explode' is not one of"),
    "noise without rand": (setter(lambda m: (op(m, 0, "lif"), "rand"), None),
                           r"lif\.noise_mask: 255 with no rand buffer: must be 0"),
    "hadamard shift": (setter(lambda m: (op(m, 0, "hadamard"), "shift"), 99),
                       r"core 0, phase 0, hadamard\.shift: 99 is outside \[0, 31\]"),
    "rand_shift": (setter(lambda m: (op(m, 0, "window"), "rand_shift"), 25),
                   r"window\.rand_shift: 25 is outside \[0, 24\]"),
    "keep too long": (setter(lambda m: (op(m, 0, "window"), "keep"), [1] * 16),
                      r"window\.keep: must be a list of 1 to 15 coin codes"),
    "nested without kept": (setter(lambda m: (op(m, 0, "window"), "nested"), True),
                            r"window\.kept: names the kept-bits buffer exactly when nested"),
    "send bits 0": (setter(lambda m: (op(m, 0, "send"), "bits"), 0),
                    r"core 0, phase 1, send\.bits: 0 is outside \[1, 32\]"),
    # arrays
    "weights transposed": (array_edit("c3.weight", lambda a: np.ascontiguousarray(a.T)),
                           r"core 3, phase 2, matvec\.weights: array 'c3\.weight' is int8 of sha"),
    "weights retyped": (array_edit("c3.weight", lambda a: a.astype(np.int16)),
                        r"core 3, phase 2, matvec\.weights: array 'c3\.weight' is int16"),
    "bias beyond a 16-bit accumulator": (
        _both(setter(lambda m: (m["chip"], "accumulator_bits"), 16),
              array_edit("c2.bias", lambda a: np.full_like(a, 40000))),
        r"core 2, phase 3, accumulate\.bias: array 'c2\.bias' holds values in \[40000, 40000\], "
        r"outside \[-32768, 32767\]"),
    "lut shift 40": (array_edit("c2.shift", lambda a: np.full_like(a, 40)),
                     r"core 2, phase 3, lut\.shift: array 'c2\.shift' holds values in \[40, 40\]"),
    "missing array": (lambda m, a: a.pop("c4.weight"),
                      r"core 4, phase 2, matvec\.weights: names array 'c4\.weight', which the"),
    "unused array": (lambda m, a: a.update({"c99.weight": np.zeros((2, 2), np.int8)}),
                     r"arrays\.c99\.weight: used by no instruction"),
    "shared array": (setter(lambda m: (op(m, 7, "lut"), "table"), "c6.table"),
                     r"arrays\.c6\.table: used by 2 instructions|arrays\.c7\.table: used by no"),
    # routes and writes
    "send beyond the source": (setter(lambda m: (op(m, 4, "send")["to"][0], "hi"), 9),
                               r"core 4, phase 2, send\.to: to\[0\]: elements 0:9 beyond the 8"),
    "send beyond the target": (setter(lambda m: (op(m, 4, "send")["to"][0], "at"), 1),
                               r"send\.to: to\[0\]: elements 1:9 beyond the 8 of buffer "
                               r"'partial_1'"),
    "send to a missing buffer": (setter(lambda m: (op(m, 4, "send")["to"][0], "buffer"), "zz"),
                                 r"core 4, phase 2, send\.to: to\[0\]: 'zz' is not a buffer of co"),
    "values do not fit": (setter(lambda m: (op(m, 2, "send"), "bits"), 9),
                          r"core 2, phase 3, send\.to: to\[0\]: 9-bit unsigned values \[0, 511\] "
                          r"do not fit buffer 'x' of core 6 \(\[0, 255\]\)"),
    "signed into unsigned": (setter(lambda m: (core(m, 2)["buffers"]["y"], "signed"), True),
                             r"core 2, phase 3, lut\.out: buffer 'y' must be unsigned"),
    "two routes write one element": (setter(lambda m: (op(m, 5, "send")["to"][0], "core"), 2),
                                     r"core 2, buffers\.partial_1: elements 0:4 are written by "
                                     r"core [45]'s send in phase 2 and by core [45]'s send in "
                                     r"phase 2"),
    "port over an undelayed route": (setter(lambda m: (op(m, 6, "send"), "delay"), 0),
                                     r"core 0, buffers\.attention: elements 0:8 are written by"),
    "port steps beyond the delay": (setter(lambda m: (m["ports"]["inputs"][1], "steps"), 6),
                                    r"core 0, buffers\.attention: elements 0:8 are written by"),
    "hop count": (setter(lambda m: (m["routes"][0], "hops"), 7),
                  r"routes\[0\]: differs from the sends of the cores \(hops 7 != 2\)"),
    "route row dropped": (lambda m, a: m["routes"].pop(),
                          r"routes: 13 rows, the cores' sends give 14"),
    # ports
    "port to a missing buffer": (setter(lambda m: (m["ports"]["inputs"][0]["parts"][0], "buffer"),
                                        "nothing"),
                                 r"ports\.inputs\.image: parts\[0\]: 'nothing' is not a buffer"),
    "port mode": (setter(lambda m: (m["ports"]["inputs"][0], "mode"), "sometimes"),
                  r"ports\.inputs\.image\.mode: must be hold, or steps"),
    "port size": (setter(lambda m: (m["ports"]["outputs"][0], "size"), -1),
                  r"ports\.outputs\[0\]: -1 is outside"),
    # memory and layers
    "core memory": (setter(lambda m: (m["chip"], "memory_bytes_per_core"), 100),
                    r"core 0, memory: holds 128 bytes \(buffers, arrays, delay rings\), a core "
                    r"has 100"),
    "manifest memory": (setter(lambda m: (m["memory"], "2"), 10 ** 9),
                        r"memory\.2: 1000000000 is outside \[0, 4096\]"),
    "layer of a missing core": (setter(lambda m: (m["layers"][1], "cores"), [99]),
                                r"layers\[1\]\.cores: must list cores of the program"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_rule_refuses_by_name(tiny_blob, name):
    edit, message = CASES[name]
    data = resign(tiny_blob, edit)
    with pytest.raises(ProgramError, match=message) as info:
        from_bytes(data)
    assert "\n" not in str(info.value) and str(info.value).startswith("program: ")


def test_the_unedited_program_loads(tiny_blob):
    assert from_bytes(resign(tiny_blob, lambda m, a: None)).manifest == from_bytes(
        tiny_blob).manifest


def test_every_op_and_field_of_the_isa_has_a_rule():
    for block, ops in isa.OPS.items():
        for name, fields in ops.items():
            assert name in validate.FIELD_RULES, f"{block}.{name} has no load-time rules"
            missing = set(fields) | set(isa.OPTIONAL.get(name, {}))
            missing -= set(validate.FIELD_RULES[name])
            assert not missing, f"{name}: no rule for {sorted(missing)}"


def test_core_memory_by_hand(tiny_blob):
    m = from_bytes(tiny_blob).manifest
    arrays = from_bytes(tiny_blob).arrays
    # sheet core 0: 8 neurons; buffers image 1, attention 8, m 8, spikes 1, window 1, kept 1,
    # v 28, refractory 4, age 4, lfsr 32 bits = 88 bits per neuron = 88 bytes for 8; a delay ring
    # of 5 slots of 8 one-byte values (core 6's send, delay 5): 40 bytes
    assert validate.core_memory_bytes(m, arrays, core(m, 0)) == 88 + 40
    # reducer core 3: buffers x 8 x 1 bit (1 B), partial, partial_1, acc 4 x 32 bits (16 B each),
    # y 4 x 8 bits (4 B); arrays weight 8 x 4 int8 (32), bias 4 int32 (16), shift 4 (4), table 256
    assert validate.core_memory_bytes(m, arrays, core(m, 3)) == 1 + 3 * 16 + 4 + 32 + 16 + 4 + 256


@pytest.mark.parametrize("model", ["bars", "corners", "shapes"])
def test_shipped_programs_still_load(model, tmp_path):
    from hnnbio.chip.compiler import export

    path = tmp_path / f"{model}.hnnc"
    export(f"models/{model}.toml", path)
    program = load_program(path)
    assert program.manifest["model"]["name"] == model
    chip = program.chip
    for c in program.manifest["cores"]:
        assert validate.core_memory_bytes(program.manifest, program.arrays, c) <= \
            chip.memory_bytes_per_core
