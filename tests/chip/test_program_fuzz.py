"""Mutation test of load-time validation: hand-edited, re-signed programs are refused by name or
run.

Each example mutates one or two fields of the tiny program (numbers to extreme, negative, NaN,
bool, string or null values; lists truncated, extended or re-pointed; keys deleted or added;
strings swapped for other names of the program; send destinations re-pointed to other cores and
buffers; arrays reshaped, retyped, truncated, extended or filled with extreme values) and re-signs
it with program.to_bytes. Then either loading refuses it with a one-line ProgramError naming a
field, or it loads and a short emulation (2 images, one cycle) runs, refusing at most with an
HnnbioError; no other exception. The process runs under an address-space limit of what it held
before plus 1 GiB (RLIMIT_AS), so an allocation of more than that fails the test as MemoryError.
HNNBIO_FUZZ_EXAMPLES=N runs N mutation examples instead of 400.
"""

import copy
import math
import os
import re
import resource
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hnnbio.chip.program import from_bytes, to_bytes
from hnnbio.errors import HnnbioError, ProgramError

pytestmark = pytest.mark.emulator

GIB = 1 << 30
EXTREMES = [0, 1, -1, 2, 7, 8, 9, 15, 16, 255, 256, 2 ** 27, 2 ** 31, -2 ** 31 - 1, 2 ** 32,
            10 ** 9, 10 ** 18, 1e9, 0.5, -3.5, math.nan, math.inf, -math.inf, True, False, None,
            "x", "", [], {}, [1, 2, 3]]
MESSAGE = re.compile(r"^program: [\w\[\].]+.*: .+")


def _paths(value, path=()):
    """Every path into a JSON value (dict keys and list indices), the root excluded."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(path + (k,))
            out += _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append(path + (i,))
            out += _paths(v, path + (i,))
    return out


def _strings(value):
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(set(value), *(_strings(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value))
    return set()


def _get(root, path):
    for key in path:
        root = root[key]
    return root


@st.composite
def mutation(draw, manifest, arrays):
    """(description, edit(manifest, arrays))."""
    kind = draw(st.sampled_from(["value", "value", "container", "destination", "array",
                                 "register", "register", "element"]))
    if kind == "register":  # an integer register of an instruction: in range or not
        fields = [(i, p, j, k) for i, c in enumerate(manifest["cores"])
                  for p, ins in c["phases"].items() for j, x in enumerate(ins)
                  for k, v in x["args"].items() if isinstance(v, int) and not isinstance(v, bool)]
        i, p, j, k = draw(st.sampled_from(fields))
        new = draw(st.integers(-300, 300) | st.integers(-2 ** 33, 2 ** 33))

        def edit(m, a):
            m["cores"][i]["phases"][p][j]["args"][k] = new
        return f"cores[{i}] phase {p} op {j} {k} = {new}", edit
    if kind == "element":  # one element of an array set to any value of its dtype
        key = draw(st.sampled_from(sorted(arrays)))
        info = np.iinfo(arrays[key].dtype)
        index = draw(st.integers(0, arrays[key].size - 1))
        new = draw(st.integers(int(info.min), int(info.max)))

        def edit(m, a):
            a[key].reshape(-1)[index] = new
        return f"array {key}[{index}] = {new}", edit
    if kind == "array":
        key = draw(st.sampled_from(sorted(arrays)))
        how = draw(st.sampled_from(["reshape", "retype", "truncate", "extend", "extreme",
                                    "delete", "rename"]))
        dtype = draw(st.sampled_from([np.int8, np.uint8, np.int16, np.int32, np.int64,
                                      np.float32, np.bool_]))
        cut = draw(st.integers(0, 300))
        fill = draw(st.sampled_from(["min", "max"]))

        def edit(m, a):
            x = a[key]
            if how == "reshape":
                a[key] = np.ascontiguousarray(x.reshape(-1) if x.ndim > 1 else x.reshape(-1, 1))
            elif how == "retype":
                a[key] = x.astype(dtype)
            elif how == "truncate":
                a[key] = x[:cut % (len(x) + 1)]
            elif how == "extend":
                a[key] = np.concatenate([x, x[:1]])
            elif how == "extreme":
                info = np.iinfo(x.dtype)
                a[key] = np.full_like(x, info.min if fill == "min" else info.max)
            elif how == "delete":
                del a[key]
            else:
                a[key.replace(".", "_x.")] = a.pop(key)
        return f"array {key} {how} {dtype.__name__}", edit
    if kind == "destination":
        sends = [(i, p, j) for i, c in enumerate(manifest["cores"])
                 for p, ins in c["phases"].items() for j, x in enumerate(ins)
                 if x["op"] == "send" and x["args"]["to"]]
        i, p, j = draw(st.sampled_from(sends))
        n_to = len(manifest["cores"][i]["phases"][p][j]["args"]["to"])
        t = draw(st.integers(0, n_to - 1))
        new_core = draw(st.integers(-1, 17))
        names = sorted({b for c in manifest["cores"] for b in c["buffers"]})
        new_buffer = draw(st.sampled_from(names))

        def edit(m, a):
            to = m["cores"][i]["phases"][p][j]["args"]["to"][t]
            to["core"] = new_core
            to["buffer"] = new_buffer
        return f"send of cores[{i}] phase {p} to[{t}] -> core {new_core} {new_buffer}", edit
    paths = _paths(manifest)
    path = draw(st.sampled_from(paths))
    target = _get(manifest, path)
    if kind == "container" and isinstance(target, (list, dict)) and target:
        how = draw(st.sampled_from(["truncate", "extend", "delete_key", "add_key"]))
        cut = draw(st.integers(0, max(len(target) - 1, 0)))

        def edit(m, a):
            x = _get(m, path)
            if not x:  # an earlier edit of the same draw emptied it: nothing left to cut or copy
                return
            if isinstance(x, list):
                if how in ("truncate", "delete_key"):
                    del x[cut:]
                else:
                    x.append(copy.deepcopy(x[-1]))
            elif how in ("truncate", "delete_key"):
                del x[sorted(x)[cut % len(x)]]
            else:
                x["junk"] = 1
        return f"{path} {how} {cut}", edit
    near = []  # values next to the valid one: as likely as the extreme ones
    if isinstance(target, bool):
        near = [not target]
    elif isinstance(target, (int, float)) and math.isfinite(target):
        near = [target + 1, target - 1, -target, target * 2, target // 2, 0, 1]
    elif isinstance(target, str):
        near = sorted(_strings(manifest))
    far = EXTREMES + sorted(_strings(manifest))
    new = draw(st.sampled_from(near) | st.sampled_from(far) if near else st.sampled_from(far))

    def edit(m, a):
        parent = _get(m, path[:-1])
        parent[path[-1]] = copy.deepcopy(new)
    return f"{path} = {new!r}", edit


@pytest.fixture(scope="module")
def base(tiny_blob):
    program = from_bytes(tiny_blob)
    images = (np.random.default_rng(0).random((2, 4, 4)) < 0.5).astype(np.int64)
    return program, images


@pytest.fixture(scope="module")
def memory_limit():
    """Address space limited to what the process holds now plus 1 GiB, during the module."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as f:
        held = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = held + GIB
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    yield limit
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _run(program, images):
    from hnnbio.chip.run import emulate

    shape = tuple(program.manifest["model"]["image_shape"])
    result = emulate(program, images.reshape(2, -1)[:, :shape[0] * shape[1]].reshape(2, *shape)
                     if images[0].size >= shape[0] * shape[1] else
                     np.zeros((2, *shape), dtype=np.int64), seed=3, batch_size=2, cycles=1)
    assert result.n_samples == 2


@settings(max_examples=int(os.environ.get("HNNBIO_FUZZ_EXAMPLES", 400)), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_programs_are_refused_by_name_or_run(base, memory_limit, data):
    program, images = base
    edits = data.draw(st.lists(mutation(program.manifest, program.arrays), min_size=1,
                               max_size=2), label="mutations")
    manifest = copy.deepcopy(program.manifest)
    arrays = {k: v.copy() for k, v in program.arrays.items()}
    for _description, edit in edits:
        try:
            edit(manifest, arrays)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            event("not applicable (an earlier mutation removed what this one edits)")
            return
    blob = to_bytes(SimpleNamespace(manifest=manifest, arrays=arrays))
    try:
        loaded = from_bytes(blob)
    except ProgramError as exc:
        text = str(exc)
        assert "\n" not in text and MESSAGE.match(text), text
        event("refused at load")
        return
    try:
        _run(loaded, images)
    except HnnbioError as exc:  # refused by the emulator, by name
        assert "\n" not in str(exc), str(exc)
        event(f"refused by the emulator: {type(exc).__name__} {str(exc)[:60]}")
    else:
        event("loaded and ran")


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_byte_flips_and_truncations_are_refused(tiny_blob, data):
    blob = bytearray(tiny_blob)
    positions = data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=4,
                                   unique=True))
    for position in positions:  # distinct positions: two flips never cancel
        blob[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ProgramError):
        from_bytes(bytes(blob))
    cut = data.draw(st.integers(0, len(tiny_blob) - 1))
    with pytest.raises(ProgramError):
        from_bytes(tiny_blob[:cut])


def test_the_memory_guard_is_in_force(memory_limit):
    # reserving 2 GiB (never touched) fails under the limit: the guard would catch such a program
    with pytest.raises(MemoryError):
        np.empty(2 * GIB, dtype=np.uint8)
